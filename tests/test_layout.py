"""The package's layout: every module imports, the audio I/O modules import each other one way
only, and each audio library is talked to from modules whose names say so.

Imports are read from the source (every ``import`` statement, those inside functions too: a
lazy import is still an arrow), so a cycle is found before it bites at run time.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import repet_cli

PACKAGE = Path(repet_cli.__file__).resolve().parent

#: The modules that read and write files' bytes, and what they share.
AUDIO_IO = (
    "files",
    "formats",
    "io",
    "soundfile_io",
    "pyav_probe",
    "pyav_decode",
    "pyav_encode",
    "pyav_remux",
    "media",
)


def modules() -> dict[str, Path]:
    """Every module of the package by its dotted name inside it ("io", "algorithms.base")."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name or "__init__"] = path
    return found


def imports(path: Path) -> tuple[set[str], set[str]]:
    """(modules of the package, top-level names of other packages) that a file imports
    anywhere in it."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    here = list(parts[:-1]) if parts[-1] == "__init__" else list(parts[:-1])
    known = modules()
    inside, outside = set(), set()

    def add(dotted: list[str], names: list[str]) -> None:
        base = ".".join(dotted)
        if base in known:
            inside.add(base)
        for name in names:
            candidate = f"{base}.{name}" if base else name
            if candidate in known:
                inside.add(candidate)

    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top, *rest = alias.name.split(".")
                if top == "repet_cli":
                    add(rest, [])
                else:
                    outside.add(top)
        elif isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                add(base + (node.module.split(".") if node.module else []), names)
            elif node.module and node.module.split(".")[0] == "repet_cli":
                add(node.module.split(".")[1:], names)
            elif node.module:
                outside.add(node.module.split(".")[0])
    return inside, outside


def graph(names) -> dict[str, set[str]]:
    known = modules()
    return {name: imports(known[name])[0] & set(names) for name in names}


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of a graph (its modules, the first repeated at the end), or None."""
    state: dict[str, str] = {}
    trail: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        trail.append(node)
        for after in sorted(edges.get(node, ())):
            if state.get(after) == "open":
                return trail[trail.index(after) :] + [after]
            if after not in state and (found := visit(after)):
                return found
        state[node] = "done"
        trail.pop()
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


@pytest.mark.parametrize("name", sorted(modules()))
def test_every_module_imports(name):
    importlib.import_module("repet_cli" if name == "__init__" else f"repet_cli.{name}")


def test_the_audio_io_modules_form_no_cycle():
    assert set(AUDIO_IO) <= set(modules())
    assert cycle(graph(AUDIO_IO)) is None, " -> ".join(cycle(graph(AUDIO_IO)))


def test_the_cycle_check_sees_lazy_imports_and_cycles():
    """The check above could pass by seeing nothing: it must see io's import of pyav_decode,
    made inside a function, and find a cycle where there is one."""
    assert "pyav_decode" in graph(AUDIO_IO)["io"]
    assert "io" in graph(AUDIO_IO)["pyav_remux"]
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_soundfile_is_talked_to_by_one_module():
    talkers = {name for name, path in modules().items() if "soundfile" in imports(path)[1]}
    assert talkers == {"soundfile_io"}


def test_pyav_is_talked_to_only_by_the_pyav_modules():
    talkers = {name for name, path in modules().items() if "av" in imports(path)[1]}
    assert talkers == {"pyav_probe", "pyav_decode", "pyav_encode", "pyav_remux"}


@pytest.mark.parametrize("name", AUDIO_IO + tuple(n for n in modules() if n.startswith("batch")))
def test_an_audio_io_or_batch_module_does_one_job(name):
    """A module past ~600 lines is doing two jobs (the house style)."""
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= 600, f"repet_cli/{name}.py has {lines} lines: split it by job"


def test_the_whole_package_imports_one_way():
    """Arrows point down, from the command to the arrays (the house style), everywhere."""
    found = cycle(graph(list(modules())))
    assert found is None, " -> ".join(found)
