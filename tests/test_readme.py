"""The README and the documentation are what a newcomer copies: their commands and code must
run, and print what they say they print."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import repet_cli
import synth
from repet_cli import RepetParams

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: The pages whose Python code is run here: the README, then the documentation's.
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
SAMPLE = ROOT / "sample_audio" / "loop_and_melody.wav"


def python_blocks(pages=PAGES) -> list[str]:
    """The ```python code blocks of ``pages``, in order."""
    return [
        block
        for page in pages
        for block in re.findall(r"^```python\n(.*?)^```$", page.read_text(), flags=re.M | re.S)
    ]


def test_the_readme_and_the_docs_have_python_examples():
    assert len(python_blocks([README])) >= 1
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
    exec(compile(code, f"python block {number + 1}", "exec"), {"__name__": "readme"})


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
    """Every error class the library's page lists can be imported from the package."""
    text = " ".join((ROOT / "docs" / "library.md").read_text().split())
    listed = re.search(r"Errors are subclasses of `repet_cli.RepetError` \(([^)]*)\)", text)
    assert listed is not None
    names = re.findall(r"`(\w+)`", listed.group(1))
    assert "EvaluationError" in names and "MissingDependencyError" in names
    for name in names:
        assert issubclass(getattr(repet_cli, name), repet_cli.RepetError), name
        assert name in repet_cli.__all__


# --- the README's commands, run on the bundled sample ------------------------------------


def section(title: str) -> str:
    """The README's section ``## title``, up to the next one."""
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else None]


def shell_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.M | re.S)


def sessions(block: str) -> list[tuple[str, list[str]]]:
    """``$ command`` lines of a console block, each with the lines it printed."""
    found: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            found.append((line[2:], []))
        else:
            found[-1][1].append(line)
    return found


def shim(folder: Path) -> dict[str, str]:
    """An environment whose ``repet`` is this checkout's, run by this Python."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    script = bin_dir / "repet"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m repet_cli "$@"\n')
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def usage_folder(folder: Path) -> Path:
    """What the README's usage runs in: the bundled sample as song.wav, as song.mp3, under a
    picture as talk.mp4, and twice in music/ (one in a subfolder)."""
    from fractions import Fraction

    import av

    from repet_cli import load_audio
    from repet_cli.pyav_encode import MediaWriter
    from repet_cli.pyav_remux import replace_audio

    work = folder / "work"
    (work / "music" / "live").mkdir(parents=True)
    for target in ("song.wav", "music/a.wav", "music/live/b.wav"):
        shutil.copyfile(SAMPLE, work / target)
    y, sr, _ = load_audio(SAMPLE)
    with MediaWriter(work / "song.mp3", sr=sr, channels=y.shape[0], bitrate="128k") as mp3:
        mp3.write(y)
    picture = folder / "picture.mp4"
    seconds, fps = 16, 2
    with av.open(str(picture), "w") as out:
        video = out.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        for i in range(seconds * fps):
            frame = av.VideoFrame.from_ndarray(
                np.full((48, 64, 3), (i * 23) % 256, np.uint8), format="rgb24"
            )
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    replace_audio(picture, work / "song.wav", work / "talk.mp4")
    return work


#: What changes from run to run in what the commands print: the seconds `repet compare` took.
_TIMED = re.compile(r"^((?:repet|repet-sim|adaptive|2dft) .*\s)\d+\.\d\d$")


def comparable(lines: list[str]) -> list[str]:
    return [_TIMED.sub(r"\1<seconds>", line.rstrip()) for line in lines]


def test_the_readme_usage_prints_what_it_shows(tmp_path):
    """Every command of the README's usage, in order, on the bundled sample: it succeeds and
    prints exactly the lines shown under it (but the seconds `repet compare` measures)."""
    pytest.importorskip("av")
    blocks = shell_blocks(section("Usage"), "console")
    commands = [pair for block in blocks for pair in sessions(block)]
    assert len(commands) >= 10
    text = " ".join(command for command, _ in commands)
    assert "--stems vocals" in text and "--stems karaoke" in text
    env = shim(tmp_path)
    work = usage_folder(tmp_path)
    for command, shown in commands:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert done.returncode == 0, f"$ {command}\n{done.stdout}"
        assert comparable(done.stdout.splitlines()) == comparable(shown), f"$ {command}"


def test_the_readme_quick_start_prints_what_it_shows(tmp_path):
    """The two set-up commands are `make demo` and `make test`; `make demo`'s recipe, run on
    the bundled sample (with this environment instead of a new one), prints what the README
    shows, and CI runs exactly the README's test command."""
    text = section("Quick start")
    setup = [line.split("#")[0].strip() for line in shell_blocks(text, "sh")[0].splitlines()]
    assert setup == ["make demo", "make test"]
    shown = shell_blocks(text.split("`make demo` prints")[1], "")[0].splitlines()
    env = shim(tmp_path)
    shutil.copytree(ROOT / "sample_audio", tmp_path / "sample_audio")
    done = subprocess.run(
        ["make", "-s", "-f", str(ROOT / "Makefile"), "-o", ".venv/.installed", "demo"]
        + [f"BIN={tmp_path / 'bin'}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert done.returncode == 0, done.stdout
    assert done.stdout.splitlines() == shown
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip()]
    assert ci[-1].strip() == "make test"
