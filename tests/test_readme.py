"""The README's library section is code a newcomer copies: it must run, and say what is true."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import repet_cli
import synth
from repet_cli import RepetParams

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    """The README's ```python code blocks, in order."""
    return re.findall(r"^```python\n(.*?)^```$", README.read_text(), flags=re.M | re.S)


def test_the_readme_has_python_examples():
    assert len(python_blocks()) >= 3


@pytest.mark.parametrize("number", range(len(python_blocks())))
def test_readme_python_examples_run(number, tmp_path, monkeypatch):
    """Each example runs as written, in a folder holding the files it names (synthesized songs,
    each a loop under a melody)."""
    code = python_blocks()[number]
    for name in sorted(set(re.findall(r'"([\w.-]+\.(?:wav|flac))"', code))):
        if not any(name.startswith(out) for out in ("background", "foreground", "bg", "fg")):
            synth.write_song(tmp_path / name, sr=8000, seconds=6.0, period=1.5)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"README.md python block {number + 1}", "exec"), {"__name__": "readme"})


def test_readme_first_library_example_uses_the_defaults():
    """The first example is what people copy: it shows the defaults, not another mask."""
    tree = ast.parse(python_blocks()[0])
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "RepetParams"
    ]
    assert calls
    for call in calls:
        given = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        assert RepetParams(**given) == RepetParams(), f"not the defaults: {given}"


def test_readme_error_classes_are_importable():
    """Every error class the README lists can be imported from the package."""
    text = " ".join(README.read_text().split())
    listed = re.search(r"Errors are subclasses of `repet_cli.RepetError` \(([^)]*)\)", text)
    assert listed is not None
    names = re.findall(r"`(\w+)`", listed.group(1))
    assert "EvaluationError" in names and "MissingDependencyError" in names
    for name in names:
        assert issubclass(getattr(repet_cli, name), repet_cli.RepetError), name
        assert name in repet_cli.__all__
