"""The listening report (``--report``): an index page for the batch and one page per track.

``OUT/report.html`` is the index: a summary and one table, sortable by any column, with a row
per input (status, what was found, repetition confidence, scores against the true stems when
given, warnings), each linking to its page in ``OUT/report/``. A track's page has one player
for the mixture, both stems and the true stems (when given) that switches between them at
the same position (A/B), and a "stems remixed" mode whose balance control sets the
foreground's level against the background's while it plays; a light spectrogram of each stem
(:mod:`repet_cli.thumbnail`), the scores and the figure of ``--plot``.

Everything is linked relative to the pages, with no scripts, fonts or styles from elsewhere,
so the report opens from disk with no server and no network. The remix uses the audio
elements' own volume, not Web Audio: a page opened from disk cannot route its audio files
into Web Audio (browsers treat each file as another origin and feed it silence). No
timestamps: the same batch gives the same pages.
"""

from __future__ import annotations

import html
import os
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .files import replace_file

TRACKS = "report"  # the folder of the track pages, beside the index
#: How the status of each input reads in the report.
STATUS_TEXT = {"ok": "separated", "skipped": "kept", "failed": "failed"}
STATUS_NOTE = (
    "Status: separated by this run; kept: its stems were there already (this run did not "
    "replace them), and what was found comes from their record; failed: not separated (the "
    "error says why)."
)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1040px; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.35em; margin: 0.2em 0; } .found { margin: 0.2em 0 0.6em; }
.warning { color: #a40; } .error { color: #b00; }
table { border-collapse: collapse; } td, th { padding: 0.2em 0.6em; text-align: left; }
table.tracks th { cursor: pointer; background: #eee; position: sticky; top: 0; }
table.tracks tr:nth-child(even) td { background: #f7f7f7; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.player { border: 1px solid #ccc; border-radius: 6px; padding: 0.6em 0.8em; margin: 0.6em 0; }
.player button { margin: 0.15em 0.2em 0.15em 0; padding: 0.25em 0.7em; }
.player button[aria-pressed="true"] { background: #234; color: #fff; }
.player input[type=range] { vertical-align: middle; }
#seek { width: 60%; } figure { margin: 0.4em 0; } figcaption { font-size: 0.9em; color: #555; }
img { max-width: 100%; height: auto; display: block; }
"""

SORT_SCRIPT = """
document.querySelectorAll('table.tracks th').forEach((th, column) => {
  th.addEventListener('click', () => {
    const body = th.closest('table').tBodies[0];
    const rows = Array.from(body.rows);
    const up = th.dataset.order !== 'up';
    th.closest('tr').querySelectorAll('th').forEach(h => delete h.dataset.order);
    th.dataset.order = up ? 'up' : 'down';
    const key = row => {
      const cell = row.cells[column];
      const value = cell.dataset.sort ?? cell.textContent;
      const number = parseFloat(value);
      return Number.isNaN(number) ? value.toLowerCase() : number;
    };
    rows.sort((a, b) => {
      const x = key(a), y = key(b);
      const order = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0)
                                          : (typeof x === 'number' ? -1 : 1);
      return up ? order : -order;
    });
    rows.forEach(row => body.appendChild(row));
  });
});
"""

PLAYER_SCRIPT = """
(() => {
  const sources = {};
  document.querySelectorAll('audio[data-source]').forEach(a => { sources[a.dataset.source] = a; });
  const buttons = document.querySelectorAll('button[data-mode]');
  const play = document.getElementById('play'), seek = document.getElementById('seek');
  const clock = document.getElementById('clock'), balance = document.getElementById('balance');
  const level = document.getElementById('level');
  let mode = 'mixture', playing = false;
  const active = () => mode === 'mix' ? ['background', 'foreground'] : [mode];
  const lead = () => sources[active()[0]];
  const position = () => lead().currentTime;
  const gains = () => {
    const g = Math.pow(10, Number(balance.value) / 20);
    return g > 1 ? {background: 1 / g, foreground: 1} : {background: 1, foreground: g};
  };
  const apply = () => {
    const g = gains();
    for (const [name, a] of Object.entries(sources)) {
      a.volume = mode === 'mix' && name in g ? g[name] : 1;
    }
    level.textContent = `${balance.value} dB`;
  };
  // A switch while play() is pending pauses that element: its play() then rejects with an
  // AbortError, which is expected and not an error.
  const interrupted = e => { if (e.name !== 'AbortError') { throw e; } };
  const start = () => {
    const t = position();
    for (const name of active()) { sources[name].currentTime = t; }
    return Promise.all(active().map(name => sources[name].play().catch(interrupted)));
  };
  const stop = () => Object.values(sources).forEach(a => a.pause());
  const select = next => {
    if (!(next === 'mix' || next in sources) || next === mode) return;
    const t = position();
    stop();
    mode = next;
    for (const name of active()) { sources[name].currentTime = t; }
    buttons.forEach(b => b.setAttribute('aria-pressed', String(b.dataset.mode === mode)));
    apply();
    if (playing) start();
  };
  const show = () => {
    const a = lead(), t = a.currentTime, d = a.duration || 0;
    const fmt = s => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
    clock.textContent = `${fmt(t)} / ${fmt(d)}`;
    if (d) { seek.value = String(Math.round(1000 * t / d)); }
    if (mode === 'mix') {  // keep the two stems together
      const [bg, fg] = [sources.background, sources.foreground];
      if (Math.abs(bg.currentTime - fg.currentTime) > 0.05) { fg.currentTime = bg.currentTime; }
    }
  };
  buttons.forEach(b => b.addEventListener('click', () => select(b.dataset.mode)));
  play.addEventListener('click', () => {
    playing = !playing;
    play.textContent = playing ? 'Pause' : 'Play';
    if (playing) { start(); } else { stop(); }
  });
  seek.addEventListener('input', () => {
    const d = lead().duration || 0;
    for (const name of active()) { sources[name].currentTime = d * Number(seek.value) / 1000; }
  });
  balance.addEventListener('input', () => { select('mix'); apply(); });
  Object.values(sources).forEach(a => a.addEventListener('timeupdate', show));
  // The length shows as soon as the browser knows it, before anything plays.
  Object.values(sources).forEach(a => a.addEventListener('loadedmetadata', show));
  Object.values(sources).forEach(a => a.addEventListener('durationchange', show));
  Object.values(sources).forEach(a => a.addEventListener('ended', () => {
    if (active().includes(a.dataset.source)) {
      playing = false; play.textContent = 'Play';
    }
  }));
  apply();
  show();
  window.repetPlayer = {
    get mode() { return mode; }, get playing() { return playing; }, position, select,
    volumes: () => Object.fromEntries(Object.entries(sources).map(([n, a]) => [n, a.volume])),
    paused: () => Object.fromEntries(Object.entries(sources).map(([n, a]) => [n, a.paused])),
  };
})();
"""


def _link(path, folder: Path) -> str:
    """``path`` relative to ``folder``, as a URL path."""
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(folder))
    return html.escape(urllib.parse.quote(Path(relative).as_posix()), quote=True)


def _inside(path, folder: Path) -> bool:
    """True if ``path`` is in ``folder`` (at any depth)."""
    return Path(os.path.abspath(folder)) in Path(os.path.abspath(path)).parents


def _audio(name: str, path, folder: Path, *, fallback: bool) -> str:
    """The audio element of one source: linked relative to the page (which holds when the
    report is moved with the files), and for a file outside the report's folder also by its
    full path, which the browser tries when the first fails (the report moved alone)."""
    sources = [_link(path, folder)]
    if fallback:
        sources.append(html.escape(Path(os.path.abspath(path)).as_uri(), quote=True))
    inner = "".join(f'<source src="{s}" type="{_mime(path)}">' for s in sources)
    return (
        f'<audio data-source="{html.escape(name, quote=True)}" preload="metadata">{inner}</audio>'
    )


def _elsewhere_note(files: dict) -> str:
    """Where the page plays the files outside the report's folder from (the mixture, the
    true stems), and what that means for a copy of the report."""
    one = len(files) == 1
    paths = ", ".join(f"<code>{html.escape(os.path.abspath(p))}</code>" for p in files.values())
    return (
        f'<p class="note">The {" and ".join(files)} {"is" if one else "are"} not in the '
        f"report's folder: played from where {'it was' if one else 'they were'} when the "
        f"report was written ({paths}), by a path relative to this page, else by the full "
        "path (the report folder moved alone). A copy of the report on another computer "
        "plays the stems only.</p>"
    )


def page_names(jobs) -> list[str]:
    """The file names of the track pages (without ``.html``): each track's name made safe
    for a file name and a link (letters, digits, ``-``, ``_`` and inner dots; anything else
    becomes ``_``), unique within the batch (``song``, ``song-2``, ...; case ignored)."""
    import re

    taken: set[str] = set()
    names = []
    for job in jobs:
        base = re.sub(r"[^\w.-]+", "_", track_name(job)).strip("._")[:80] or "track"
        name, n = base, 1
        while name.casefold() in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name.casefold())
        names.append(name)
    return names


def _mime(path) -> str:
    return {
        "flac": "audio/flac",
        "ogg": "audio/ogg",
        "opus": "audio/ogg",
        "mp3": "audio/mpeg",
        "m4a": "audio/mp4",
        "mp4": "video/mp4",
    }.get(Path(path).suffix.lower().lstrip("."), "audio/wav")


def _page(title: str, body: list[str], script: str = "") -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        *body,
    ]
    if script:
        parts.append(f"<script>{script}</script>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def track_name(job) -> str:
    """How a track is called in the report (:func:`repet_cli.batch.track_name`)."""
    from .batch import track_name as name

    return name(job.source)


def confidence_note() -> str:
    """What the repetition confidence means, for the reader of the report."""
    from .separate import LOW_CONFIDENCE

    return (
        "Confidence: how clearly the input repeats at the period found, from 0 (no "
        "repetition found) to 1 (every period the same); for an input separated in segments, "
        "the lowest of them. With the default options real songs measured 0.04 to 0.87 and "
        f"a loop under a melody about 0.55; below {LOW_CONFIDENCE:g} the separation may be "
        "poor, and a warning says so."
    )


def _fmt(value, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def render_index(path, jobs, outcomes, *, options: str, pages: list[str]) -> str:
    """The index page at ``path``: a summary and the sortable table of tracks."""
    from .evaluate import average

    scored = [o.scores for o in outcomes if o.scores]
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ok", "skipped", "failed")}
    body = [
        "<h1>repet: separation report</h1>",
        f"<p>{len(jobs)} input{'s' if len(jobs) != 1 else ''}: {counts['ok']} separated, "
        f"{counts['skipped']} kept from an earlier run, {counts['failed']} failed. Options of "
        f"this run: <code>{html.escape(options)}</code></p>",
    ]
    if scored:
        mean = average(scored)
        body.append(
            f"<p>Mean over the {len(scored)} scored inputs: SDR background "
            f"{mean['background']['sdr']:.2f} dB, foreground {mean['foreground']['sdr']:.2f} "
            "dB.</p>"
        )
    heads = ["#", "track", "status", "found", "confidence (0-1)"]
    numeric = {"#", "confidence (0-1)", "bg SDR", "fg SDR", "bg SI-SDR", "fg SI-SDR", "warnings"}
    if scored:
        heads += ["bg SDR", "fg SDR", "bg SI-SDR", "fg SI-SDR"]
    heads.append("warnings")
    body.append('<p>Click a column\'s title to sort by it.</p><table class="tracks"><thead><tr>')
    tips = {"confidence (0-1)": confidence_note(), "status": STATUS_NOTE}
    body += [
        f"<th{' class=num' if h in numeric else ''}"
        + (f' title="{html.escape(tips[h], quote=True)}"' if h in tips else "")
        + f">{h}</th>"
        for h in heads
    ]
    body.append("</tr></thead><tbody>")
    for i, (job, outcome, page) in enumerate(zip(jobs, outcomes, pages, strict=True), start=1):
        confidences = [c for c in outcome.confidences if c is not None]
        cells = [
            f'<td class="num">{i}</td>',
            f'<td><a href="{html.escape(page, quote=True)}">'
            f"{html.escape(track_name(job))}</a></td>",
            f"<td>{STATUS_TEXT.get(outcome.status, outcome.status)}</td>",
            f"<td>{html.escape(outcome.found or outcome.error or '')}</td>",
            f'<td class="num">{_fmt(min(confidences) if confidences else None, 3)}</td>',
        ]
        if scored:
            s = outcome.scores or {}
            for stem, metric in (
                ("background", "sdr"),
                ("foreground", "sdr"),
                ("background", "si_sdr"),
                ("foreground", "si_sdr"),
            ):
                cells.append(f'<td class="num">{_fmt(s.get(stem, {}).get(metric))}</td>')
        tip = html.escape(" | ".join(outcome.warnings), quote=True)
        cells.append(f'<td class="num" title="{tip}">{len(outcome.warnings) or ""}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    body.append("</tbody></table>")
    body.append(f'<p class="note">{html.escape(confidence_note())} {STATUS_NOTE}</p>')
    return _page("repet: separation report", body, SORT_SCRIPT)


def render_track(page: Path, job, outcome, *, index: Path, truth: dict, pictures: dict) -> str:
    """A track's page at ``page``: the player, pictures, scores and figure."""
    folder = page.parent
    name = track_name(job)
    body = [
        f'<p><a href="{_link(index, folder)}">&larr; all tracks</a></p>',
        f"<h1>{html.escape(name)}</h1>",
        f"<p><code>{html.escape(str(job.source))}</code></p>",
    ]
    if outcome.status == "failed":
        body.append(f'<p class="error">{html.escape(outcome.error or "failed")}</p>')
        return _page(f"repet: {name}", body)
    found = outcome.found or "outputs existed (skipped)"
    confidences = [c for c in outcome.confidences if c is not None]
    if confidences:
        found += f"; repetition confidence {min(confidences):.3f} (0 to 1)"
    body.append(f'<p class="found">{html.escape(found)}</p>')
    if outcome.status == "skipped":
        body.append(
            "<p>Kept from an earlier run: these stems were there already, and this run did "
            "not replace them.</p>"
        )
    body += [f'<p class="warning">warning: {html.escape(w)}</p>' for w in outcome.warnings]
    sources = {"mixture": job.source, "background": job.background, "foreground": job.foreground}
    sources.update({f"true {stem}": path for stem, path in truth.items()})
    sources = {k: v for k, v in sources.items() if v is not None}
    elsewhere = [k for k, v in sources.items() if not _inside(v, index.parent)]
    modes = list(sources)
    if job.background is not None and job.foreground is not None:
        modes.insert(3, "mix")
    labels = {"mix": "stems remixed"}
    body.append('<div class="player">')
    body += [
        f'<button type="button" data-mode="{m}" aria-pressed="{str(m == "mixture").lower()}">'
        f"{labels.get(m, m)}</button>"
        for m in modes
    ]
    body += [
        '<br><button type="button" id="play">Play</button>',
        '<input id="seek" type="range" min="0" max="1000" value="0" aria-label="position">',
        '<span id="clock">0:00 / 0:00</span><br>',
        '<label>Stems remixed, foreground level against the background: <input id="balance" '
        'type="range" min="-40" max="12" step="1" value="0"></label> <output id="level">0 dB'
        "</output></div>",
    ]
    body += [_audio(k, v, folder, fallback=k in elsewhere) for k, v in sources.items()]
    if elsewhere:
        body.append(_elsewhere_note({k: sources[k] for k in elsewhere}))
    for stem, picture in pictures.items():
        body.append(
            f'<figure><img src="{_link(picture, folder)}" alt="spectrogram of the {stem}" '
            f'width="900" height="120"><figcaption>{stem}: spectrogram, 50 Hz to 16 kHz '
            "(log scale), both stems on one dB scale</figcaption></figure>"
        )
    if outcome.scores:
        body.append(_scores_table(outcome.scores, outcome.framewise))
    if outcome.figure:
        body.append(
            f'<p><img src="{_link(outcome.figure, folder)}" alt="figure of {html.escape(name)}">'
            "</p>"
        )
    body.append(
        "<p>Files: "
        + ", ".join(
            f'<a href="{_link(v, folder)}">{html.escape(k)}</a>' for k, v in sources.items()
        )
        + "</p>"
    )
    return _page(f"repet: {name}", body, PLAYER_SCRIPT)


METRICS = (("sdr", "SDR"), ("si_sdr", "SI-SDR"), ("sir", "SIR"), ("sar", "SAR"))


def _scores_table(scores: dict, framewise: dict | None = None) -> str:
    """The quality figures of one track against its true stems, in dB."""
    head = "".join(f'<th class="num">{label}</th>' for _, label in METRICS)
    extra = ""
    if framewise:
        extra = "".join(
            f'<th class="num">{m.upper()} (1-s median)</th>' for m in ("sdr", "isr", "sir", "sar")
        )
    rows = ""
    for stem in ("background", "foreground"):
        cells = "".join(f'<td class="num">{scores[stem][key]:.2f}</td>' for key, _ in METRICS)
        if framewise:
            cells += "".join(
                f'<td class="num">{_fmt(framewise[stem][m])}</td>'
                for m in ("sdr", "isr", "sir", "sar")
            )
        rows += f"<tr><td>{stem}</td>{cells}</tr>"
    return f'<table class="scores"><tr><th>dB</th>{head}{extra}</tr>{rows}</table>'


def _truth(job, references) -> dict:
    """The true stems of a job that a browser can play (a single file each), if any."""
    if references is None:
        return {}
    from .batch import references_of
    from .errors import RepetError

    try:
        files = references_of(job, Path(references))
    except RepetError:
        return {}
    return {stem: path for stem, path in files.items() if isinstance(path, os.PathLike)}


def _pictures(job, outcome, folder: Path, number: str) -> dict:
    from . import thumbnail

    if outcome.status == "failed":
        return {}
    stems = {s: p for s, p in (("background", job.background), ("foreground", job.foreground))}
    stems = {s: p for s, p in stems.items() if p is not None and os.path.exists(p)}
    targets = {s: folder / f"{number}-{s}.png" for s in stems}
    try:
        return thumbnail.draw(stems, targets)
    except Exception:  # noqa: BLE001 - the stems are written; a picture is extra
        return {}


def write_report(path, jobs, outcomes, *, options: str, references=None, threads: int = 2) -> Path:
    """Write the index at ``path`` and the track pages and pictures in ``report/`` beside it,
    each file atomically (a temporary file renamed into place); returns the index's path."""
    path = Path(path)
    folder = path.parent / TRACKS
    folder.mkdir(parents=True, exist_ok=True)
    numbers = page_names(jobs)
    pages = [folder / f"{n}.html" for n in numbers]

    def one(i: int) -> None:
        job, outcome = jobs[i], outcomes[i]
        pictures = _pictures(job, outcome, folder, numbers[i])
        text = render_track(
            pages[i], job, outcome, index=path, truth=_truth(job, references), pictures=pictures
        )
        replace_file(pages[i], text)

    with ThreadPoolExecutor(max(1, threads)) as pool:
        list(pool.map(one, range(len(jobs))))
    links = [f"{TRACKS}/{urllib.parse.quote(p.name)}" for p in pages]
    replace_file(path, render_index(path, jobs, outcomes, options=options, pages=links))
    return path
