"""How a command's help lays out its options: by section, in a fixed order (click lists them
all in one), and which look-alikes "did you mean" offers for an unknown option."""

from __future__ import annotations

import click

#: The sections of a command's help, in order, and the options in each; the algorithm-specific
#: options get a section per algorithm after "Separation", the rest go to "Other options".
SECTIONS = (
    ("Input", ("files_from", "null", "ext", "stream")),
    (
        "Output",
        ("out", "filename", "out_format", "bitrate", "subtype", "stems", "video", "overwrite"),
    ),
    (
        "Separation",
        (
            "algorithm",
            "mask",
            "foreground_gain",
            "voice_gate",
            "voice_model",
            "threshold",
            "phase",
            "no_phase",
            "high_pass",
            "high_pass_ramp",
            "n_fft",
            "hop",
            "segment",
        ),
    ),
    ("Batches", ("jobs", "skip_existing", "fail_fast", "retries", "shard", "ledger")),
    ("Batches on Dask", ("cluster", "scheduler", "scheduler_file")),
    ("Scoring against true stems", ("references", "framewise", "dataset")),
    ("What is shown", ("plot", "report", "as_json", "quiet", "verbose")),
)

#: Unknown options are offered only look-alikes at least this similar (click offers more).
SUGGESTION_SIMILARITY = 0.75


class Sectioned(click.Command):
    """A command whose help lists its options by section (:data:`SECTIONS`), and whose
    "did you mean" offers only options that look alike."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from .algorithms import option_owners

        placed = {name: title for title, names in SECTIONS for name in names}
        for option, owners in option_owners().items():
            placed.setdefault(option, f"With --algorithm {' or '.join(owners)}")
        rows: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            if not isinstance(param, click.Option):
                continue
            record = param.get_help_record(ctx)
            if record is not None:
                rows.setdefault(placed.get(param.name, "Other options"), []).append(record)
        order = [title for title, _ in SECTIONS[:3]]
        order += sorted(t for t in rows if t.startswith("With --algorithm"))
        order += [title for title, _ in SECTIONS[3:]] + ["Other options"]
        for title in order:
            if rows.get(title):
                with formatter.section(title):
                    formatter.write_dl(rows[title])

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        import difflib

        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            exc.possibilities = [
                p
                for p in exc.possibilities or []
                if difflib.SequenceMatcher(None, exc.option_name, p).ratio()
                >= SUGGESTION_SIMILARITY
            ]
            raise
