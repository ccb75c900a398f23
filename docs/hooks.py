"""MkDocs hooks: the site shows the README's figure of the bundled sample without a copy of it.

``sample_audio/loop_and_melody.png`` (drawn by ``make figures``) is added to the site as
``assets/loop_and_melody.png``, so the page that shows it and strict mode's link check see it.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
FIGURES = {"assets/loop_and_melody.png": ROOT / "sample_audio" / "loop_and_melody.png"}


def on_files(files, config):
    for uri, source in FIGURES.items():
        files.append(File.generated(config, uri, abs_src_path=str(source)))
    return files
