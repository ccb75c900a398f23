"""A listening report: one self-contained HTML page for a batch (``--report``).

Every track with what was found, its figure and players for the mixture and both stems, all
linked relative to the page, so it opens from disk in a browser with no server and no network:
no scripts, fonts or styles from elsewhere. No timestamps, so the same batch gives the same page.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1040px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-bottom: 0.3em; }
section { border-top: 1px solid #ccc; padding: 0.8em 0; }
.found { margin: 0.2em 0 0.6em; } .warning { color: #a40; } .error { color: #b00; }
table { border-collapse: collapse; } td { padding: 0.15em 0.8em 0.15em 0; vertical-align: middle; }
audio { width: 420px; } img { max-width: 100%; border: 1px solid #ddd; }
.scores { margin: 0.6em 0; } .scores td, .scores th { text-align: right; padding: 0.1em 0.7em; }
"""


def _link(path, folder: Path) -> str:
    """``path`` relative to the report's folder, as a URL path."""
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(folder))
    return html.escape(Path(relative).as_posix(), quote=True)


def _mime(path) -> str:
    return {"flac": "audio/flac", "ogg": "audio/ogg", "mp3": "audio/mpeg"}.get(
        Path(path).suffix.lower().lstrip("."), "audio/wav"
    )


def render(path, jobs, outcomes, *, options: str) -> str:
    """The HTML of the report that will be written at ``path``.

    ``jobs`` and ``outcomes`` are the command's plan and results, in the same order.
    """
    folder = Path(path).parent
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>repet: separation report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>repet: separation report</h1>",
        f"<p>{len(jobs)} input{'s' if len(jobs) != 1 else ''}; options: "
        f"<code>{html.escape(options)}</code></p>",
    ]
    scored = [o.scores for o in outcomes if o.scores]
    if scored:
        from .evaluate import average

        parts.append(f"<p>Mean over the {len(scored)} scored inputs:</p>")
        parts.append(_scores_table(average(scored)))
    for job, outcome in zip(jobs, outcomes, strict=True):
        parts.append(f"<section><h2>{html.escape(str(job.source))}</h2>")
        if outcome.status == "failed":
            parts.append(f'<p class="error">{html.escape(outcome.error or "failed")}</p></section>')
            continue
        found = outcome.found or "outputs existed (skipped)"
        parts.append(f'<p class="found">{html.escape(found)}</p>')
        for warning in outcome.warnings:
            parts.append(f'<p class="warning">warning: {html.escape(warning)}</p>')
        parts.append("<table>")
        for label, audio in (
            ("mixture", job.source),
            ("background", job.background),
            ("foreground", job.foreground),
        ):
            src, name = _link(audio, folder), html.escape(Path(audio).name)
            parts.append(
                f'<tr><td>{label}</td><td><audio controls preload="none">'
                f'<source src="{src}" type="{_mime(audio)}"></audio></td>'
                f'<td><a href="{src}">{name}</a></td></tr>'
            )
        parts.append("</table>")
        if outcome.scores:
            parts.append(_scores_table(outcome.scores))
        if outcome.figure:
            parts.append(
                f'<p><img src="{_link(outcome.figure, folder)}" '
                f'alt="figure of {html.escape(str(job.source))}" width="1000" height="1300"></p>'
            )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


METRICS = (("sdr", "SDR"), ("si_sdr", "SI-SDR"), ("sir", "SIR"), ("sar", "SAR"))


def _scores_table(scores: dict) -> str:
    """The quality figures of one track against its true stems, in dB."""
    head = "".join(f"<th>{label}</th>" for _, label in METRICS)
    rows = "".join(
        f"<tr><td>{stem}</td>"
        + "".join(f"<td>{scores[stem][key]:.2f}</td>" for key, _ in METRICS)
        + "</tr>"
        for stem in ("background", "foreground")
    )
    return f'<table class="scores"><tr><th>dB</th>{head}</tr>{rows}</table>'


def write_report(path, jobs, outcomes, *, options: str) -> Path:
    """Write the report atomically (a temporary file renamed into place); returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_text(render(path, jobs, outcomes, options=options), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
