import builtins
import html.parser
import shutil
import subprocess

import pytest

import synth
from helpers import invoke

pytest.importorskip("matplotlib", reason="figures need the plot extra (matplotlib)")

SR = 16000


def png_pixels(path):
    import matplotlib.image

    return matplotlib.image.imread(path)


@pytest.mark.parametrize("channels", [1, 2])
def test_plot_draws_a_readable_figure_beside_the_stems(tmp_path, channels):
    song = synth.write_song(tmp_path / "song.wav", sr=SR, seconds=8.0, channels=channels)
    result = invoke(["separate", str(song), "-o", str(tmp_path / "out"), "--plot"])
    assert result.exit_code == 0, result.output
    figure = tmp_path / "out" / "song" / "repet.png"
    pixels = png_pixels(figure)
    assert pixels.shape[:2] == (1300, 1000)
    assert pixels[..., :3].std() > 0.1  # not blank


def test_the_same_input_draws_the_same_figure(tmp_path):
    song = synth.write_song(tmp_path / "song.wav", sr=SR, seconds=8.0)
    for out in ("a", "b"):
        invoke(["separate", str(song), "-o", str(tmp_path / out), "--plot"])
    first = (tmp_path / "a" / "song" / "repet.png").read_bytes()
    assert first == (tmp_path / "b" / "song" / "repet.png").read_bytes()


def test_analyze_plot_draws_without_separating(tmp_path):
    song = synth.write_song(tmp_path / "song.wav", sr=SR, seconds=8.0)
    result = invoke(["analyze", str(song), "-o", str(tmp_path / "out"), "--plot"])
    assert result.exit_code == 0, result.output
    assert png_pixels(tmp_path / "out" / "song" / "repet.png")[..., :3].std() > 0.1
    assert not (tmp_path / "out" / "song" / "background.wav").exists()


def test_plot_without_matplotlib_fails_up_front_with_the_hint(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    song = synth.write_song(tmp_path / "song.wav", sr=SR, seconds=8.0)
    for command in (["separate", "--plot"], ["separate", "--report"], ["analyze", "--plot"]):
        result = invoke([*command, str(song), "-o", str(tmp_path / "out")])
        assert result.exit_code == 2
        assert "pip install 'repet[plot]'" in result.stderr
        assert not (tmp_path / "out").exists()  # before any work


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.audio, self.images, self.links, self.external = [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        target = attrs.get("src") or attrs.get("href")
        if target and ("//" in target or target.startswith("/")):
            self.external.append(target)
        if tag == "source":
            self.audio.append(target)
        elif tag == "img":
            self.images.append(target)
        elif tag in ("script", "link"):
            self.external.append(tag)


def test_report_links_every_stem_and_figure_relative_to_itself(tmp_path):
    songs = [
        synth.write_song(tmp_path / "in" / f"{name}.wav", sr=SR, seconds=8.0, period=p)
        for name, p in (("first", 1.5), ("second", 1.2))
    ]
    out = tmp_path / "out"
    result = invoke(["separate", *map(str, songs), "-o", str(out), "--report"])
    assert result.exit_code == 0, result.output
    report = out / "report.html"
    parser = Links()
    parser.feed(report.read_text(encoding="utf-8"))
    assert parser.external == []  # opens from disk: nothing from elsewhere
    assert len(parser.audio) == 3 * len(songs)  # mixture, background, foreground per track
    assert len(parser.images) == len(songs)
    for target in parser.audio + parser.images:
        assert (report.parent / target).resolve().is_file(), target
    again = invoke(["separate", *map(str, songs), "-o", str(out), "--report", "--overwrite"])
    assert again.exit_code == 0 and report.read_text(encoding="utf-8") == report.read_text(
        encoding="utf-8"
    )


BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(BROWSER is None, reason="no headless browser (Debian's chromium) here")
def test_the_report_renders_in_a_headless_browser(tmp_path):
    song = synth.write_song(tmp_path / "song.wav", sr=SR, seconds=8.0)
    out = tmp_path / "out"
    invoke(["separate", str(song), "-o", str(out), "--report"])
    shot = tmp_path / "shot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    flags += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
    flags += [f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}"]
    flags += ["--window-size=1100,1500", (out / "report.html").as_uri()]
    subprocess.run([BROWSER, *flags], capture_output=True, timeout=120, check=False)
    assert png_pixels(shot)[..., :3].std() > 0.05


def test_the_beat_spectrum_panel_spans_the_whole_period_search(tmp_path):
    from repet_cli.plot import beat_range, panels_from_files

    song = synth.write_song(tmp_path / "song.wav", sr=SR, seconds=60.0, period=2.0)
    panels = panels_from_files(song, period=2.0)
    assert panels.search == pytest.approx((0.8, 16.0), abs=0.02)  # 60 s: a third is 20 s
    assert beat_range(panels) == pytest.approx(16.0, abs=0.02)  # not 4 periods (8 s)
