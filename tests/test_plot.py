import builtins

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
    for command in (["separate", "--plot"], ["analyze", "--plot"]):
        result = invoke([*command, str(song), "-o", str(tmp_path / "out")])
        assert result.exit_code == 2
        assert "pip install 'repet[plot]'" in result.stderr
        assert not (tmp_path / "out").exists()  # before any work


def test_the_beat_spectrum_panel_spans_the_whole_period_search(tmp_path):
    from repet_cli.plot import beat_range, panels_from_files

    song = synth.write_song(tmp_path / "song.wav", sr=SR, seconds=60.0, period=2.0)
    panels = panels_from_files(song, period=2.0)
    assert panels.search == pytest.approx((0.8, 16.0), abs=0.02)  # 60 s: a third is 20 s
    assert beat_range(panels) == pytest.approx(16.0, abs=0.02)  # not 4 periods (8 s)
