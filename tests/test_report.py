"""The listening report: an index of the batch and a page per track, driven in a real browser.

The browser tests need Debian's chromium and chromium-driver (`.ci/run` installs them) and
selenium (the dev extra); where one is missing they skip, saying which.
"""

from __future__ import annotations

import builtins
import html.parser
import json
import shutil
import time
import urllib.parse
from pathlib import Path

import pytest

import synth
from helpers import invoke

SR = 16000
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


class Links(html.parser.HTMLParser):
    """The files a page refers to (audio: the first source of each player), the full paths it
    falls back to (``file:`` URIs), and anything it would fetch from elsewhere."""

    def __init__(self):
        super().__init__()
        self.audio, self.images, self.pages, self.external = [], [], [], []
        self.fallbacks = []
        self._player = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        target = attrs.get("src") or attrs.get("href")
        if target and target.startswith("file:///"):
            self.fallbacks.append(target)
        elif target and ("//" in target or target.startswith("/")):
            self.external.append(target)
        if tag == "audio":
            self._player = attrs.get("data-source")
        elif tag == "source" and self._player is not None:
            self.audio.append(urllib.parse.unquote(target))
            self._player = None
        elif tag == "img":
            self.images.append(target)
        elif tag == "a" and target and target.endswith(".html"):
            self.pages.append(target)
        elif tag == "link" or (tag == "script" and "src" in attrs):
            self.external.append(tag)


def parse(page: Path) -> Links:
    links = Links()
    links.feed(page.read_text(encoding="utf-8"))
    return links


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Three separated tracks with true stems, and their report."""
    root = tmp_path_factory.mktemp("report")
    songs = []
    for name, period, seconds in (("first", 1.5, 8.0), ("second", 1.2, 6.0), ("third", 1.0, 5.0)):
        background = synth.loop(period=period, sr=SR, duration=seconds, channels=2)
        mixture, foreground = synth.mix(
            background, synth.melody(sr=SR, duration=seconds, channels=2), ratio_db=-3
        )
        folder = root / "in" / name
        folder.mkdir(parents=True)
        import soundfile as sf

        sf.write(folder / "mixture.wav", mixture.T, SR, subtype="FLOAT")
        sf.write(folder / "accompaniment.wav", background.T, SR, subtype="FLOAT")
        sf.write(folder / "vocals.wav", foreground.T, SR, subtype="FLOAT")
        songs.append(folder / "mixture.wav")
    out = root / "out"
    args = ["separate", *map(str, songs), "-o", str(out), "--filename", "{parent}/{stem}.{ext}"]
    result = invoke([*args, "--references", str(root / "in"), "--report"])
    assert result.exit_code == 0, result.output
    return out, args + ["--references", str(root / "in"), "--report"]


def test_the_index_links_a_page_per_track_and_nothing_from_elsewhere(batch):
    out, _ = batch
    index = parse(out / "report.html")
    assert index.external == []
    assert len(index.pages) == 3
    for page in index.pages:
        track = parse(out / page)
        assert track.external == []
        assert len(track.audio) == 5  # mixture, both stems, both true stems
        assert len(track.images) == 2  # a spectrogram of each stem
        for target in track.audio + track.images:
            assert ((out / page).parent / target).resolve().is_file(), target


def test_the_same_batch_gives_the_same_pages(batch):
    out, args = batch
    pages = sorted(out.rglob("*.html")) + sorted(out.rglob("*.png"))
    before = {p: p.read_bytes() for p in pages}
    assert invoke([*args, "--overwrite"]).exit_code == 0
    assert {p: p.read_bytes() for p in pages} == before


def test_the_report_needs_no_matplotlib(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    song = synth.write_song(tmp_path / "song.wav", sr=SR, seconds=5.0)
    result = invoke(["separate", str(song), "-o", str(tmp_path / "out"), "--report"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "report" / "song.html").is_file()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("no headless browser: install Debian's chromium and chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (dev extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver, script: str, timeout: float = 60.0):
    """Poll a script until it returns something true (an event in the page, not a delay)."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script)
        if value:
            return value
        assert time.monotonic() < deadline, f"never true: {script}"
        time.sleep(0.05)


def errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_the_index_sorts_by_a_column_in_the_browser(batch, browser):
    from selenium.webdriver.common.by import By

    out, _ = batch
    browser.get((out / "report.html").as_uri())
    header = next(h for h in browser.find_elements(By.TAG_NAME, "th") if h.text == "fg SDR")
    column = [h.text for h in browser.find_elements(By.TAG_NAME, "th")].index("fg SDR")

    def values():
        rows = browser.find_elements(By.CSS_SELECTOR, "table.tracks tbody tr")
        return [float(r.find_elements(By.TAG_NAME, "td")[column].text) for r in rows]

    header.click()
    assert values() == sorted(values())
    header.click()
    assert values() == sorted(values(), reverse=True)
    assert errors(browser) == []


def test_a_track_page_plays_switches_at_the_same_place_and_remixes(batch, browser):
    from selenium.webdriver.common.by import By

    out, _ = batch
    browser.get((out / "report" / "first.html").as_uri())
    player = "window.repetPlayer"
    wait_for(browser, f"return {player} !== undefined")
    browser.find_element(By.ID, "play").click()
    wait_for(browser, f"return {player}.position() > 0.4")  # the mixture plays
    browser.find_element(By.CSS_SELECTOR, "button[data-mode=foreground]").click()
    mode, at, paused, mixture_at = browser.execute_script(
        f"return [{player}.mode, {player}.position(), {player}.paused(), "
        "document.querySelector('audio[data-source=mixture]').currentTime]"
    )
    assert mode == "foreground"
    assert abs(at - mixture_at) < 0.25  # A/B: the foreground takes over where the mixture was
    assert not paused["foreground"] and paused["mixture"] and paused["background"]
    browser.find_element(By.CSS_SELECTOR, "button[data-mode='true foreground']").click()
    assert browser.execute_script(f"return {player}.mode") == "true foreground"

    browser.execute_script(
        "const b = document.getElementById('balance'); b.value = '-12';"
        "b.dispatchEvent(new Event('input'));"
    )
    mode, volumes = browser.execute_script(f"return [{player}.mode, {player}.volumes()]")
    assert mode == "mix"
    assert volumes["background"] == 1
    assert volumes["foreground"] == pytest.approx(10 ** (-12 / 20), rel=1e-3)
    assert browser.find_element(By.ID, "level").text == "-12 dB"
    start = browser.execute_script(f"return {player}.position()")
    wait_for(browser, f"return {player}.position() > {start + 0.3}")  # the remix plays on
    # The two stems stay together: on a loaded machine one element can run ahead for a moment,
    # and the player puts it back at its next time update (every 250 ms or so).
    wait_for(
        browser,
        "const [bg, fg] = ['background', 'foreground'].map("
        "n => document.querySelector(`audio[data-source=${n}]`));"
        "return !bg.paused && !fg.paused && Math.abs(bg.currentTime - fg.currentTime) < 0.1",
    )
    browser.find_element(By.ID, "play").click()
    assert all(browser.execute_script(f"return Object.values({player}.paused())"))
    assert errors(browser) == []


def rows(index: Path) -> list[list[str]]:
    """The cells of the index's table of tracks, as text."""
    import re

    text = index.read_text(encoding="utf-8")
    body = text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<td.*?</td>", row)]
        for row in re.findall(r"<tr>.*?</tr>", body)
    ]


def test_a_rerun_that_makes_nothing_new_keeps_what_the_report_says(tmp_path):
    songs = [
        synth.write_song(tmp_path / f"{name}.wav", sr=SR, seconds=5.0, period=period)
        for name, period in (("one", 1.2), ("two", 1.0))
    ]
    out = tmp_path / "out"
    args = ["separate", *songs, "-o", out, "--report"]
    assert invoke(args).exit_code == 0
    first = rows(out / "report.html")
    found = [(r[1], r[3], r[4]) for r in first]  # track, found, confidence
    assert all(f.startswith("period") and c for _, f, c in found), first
    pages = {p.name: parse(p) for p in (out / "report").glob("*.html")}
    for extra in ([], ["--skip-existing"]):
        again = invoke([*args, *extra])
        assert again.exit_code == (0 if extra else 1)  # without: refused as existing
        now = rows(out / "report.html")
        assert [(r[1], r[3], r[4]) for r in now] == found, now
        assert [r[2] for r in now] == ["kept", "kept"]
        for name, links in pages.items():
            page = parse(out / "report" / name)
            assert (page.audio, page.images) == (links.audio, links.images), name
        text = (out / "report" / "one.html").read_text(encoding="utf-8")
        assert "Kept from an earlier run" in text and 'class="error"' not in text


def test_track_pages_are_named_after_their_tracks_made_safe_and_unique(tmp_path):
    songs = [
        synth.write_song(tmp_path / folder / "my song #1 (live).wav", sr=SR, seconds=5.0)
        for folder in ("a", "b")
    ]
    out = tmp_path / "out"
    args = ["separate", *songs, "-o", out, "--filename", "{parent}/{stem}.{ext}", "--report"]
    assert invoke(args).exit_code == 0
    pages = sorted(p.name for p in (out / "report").glob("*.html"))
    assert pages == ["my_song_1_live-2.html", "my_song_1_live.html"]
    index = parse(out / "report.html")
    assert sorted(index.pages) == [f"report/{p}" for p in pages]
    for page in index.pages:
        track = parse(out / page)
        assert len(track.audio) == 3 and len(track.images) == 2
        for target in track.audio + track.images:  # '#' and spaces are escaped in links
            assert ((out / page).parent / target).resolve().is_file(), target


def test_the_index_says_what_the_confidence_and_status_mean(batch):
    out, _ = batch
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "confidence (0-1)</th>" in text
    note = html.unescape(text.split('<p class="note">', 1)[1].split("</p>", 1)[0])
    assert "how clearly the input repeats at the period found, from 0" in note
    assert "below 0.02 the separation may be poor" in note
    assert "kept: its stems were there already" in note


def test_a_track_page_shows_the_length_before_anything_plays(batch, browser):
    out, _ = batch
    browser.get((out / "report" / "first.html").as_uri())
    clock = "document.getElementById('clock').textContent"
    assert wait_for(browser, f"return {clock} === '0:00 / 0:08'", timeout=20)
    assert browser.execute_script("return window.repetPlayer.playing") is False
    assert errors(browser) == []


def test_a_report_folder_moved_elsewhere_still_plays_the_mixture(batch, browser, tmp_path):
    out, _ = batch
    moved = tmp_path / "elsewhere" / "report-copy"
    shutil.copytree(out, moved)
    page = moved / "report" / "first.html"
    text = page.read_text(encoding="utf-8")
    assert "The mixture and true background and true foreground are not in the report" in text
    assert len(parse(page).fallbacks) == 3  # the mixture and both true stems, by full path
    browser.get(page.as_uri())
    state = (
        "const a = document.querySelector(`audio[data-source='${name}']`);"
        "return (a.readyState >= 1 || a.networkState === 3) && [a.readyState, a.duration];"
    )
    for name in ("mixture", "background", "true foreground"):
        ready, duration = wait_for(browser, f"const name = {json.dumps(name)}; {state}")
        assert ready >= 1 and duration == pytest.approx(8.0, abs=0.01), name
