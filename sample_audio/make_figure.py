"""Draw the README's figure of the bundled sample: sample_audio/loop_and_melody.png.

Separates the sample with the default options into a temporary folder and draws its figure
(the one `repet separate --plot` draws) at a smaller size. Run by `make figures`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from repet_cli import RepetParams
from repet_cli.plot import draw, panels_from_files
from repet_cli.segments import separate_file

HERE = Path(__file__).resolve().parent
SAMPLE = HERE / "loop_and_melody.wav"
FIGURE = HERE / "loop_and_melody.png"
DPI = 50  # 500 x 650 pixels


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        stems = Path(folder) / "background.wav", Path(folder) / "foreground.wav"
        reports, _, _ = separate_file(SAMPLE, *stems, params=RepetParams())
        period = reports[0].period
        panels = panels_from_files(
            SAMPLE,
            *stems,
            period=period,
            title=f"{SAMPLE.name}: period {period:.3f} s (detected), repet defaults",
        )
        draw(panels, FIGURE, dpi=DPI)
    print(f"wrote {FIGURE.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
