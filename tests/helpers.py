"""What the command-line tests share: running `repet` in-process and looking for leftovers."""

from __future__ import annotations

from click.testing import CliRunner, Result

from repet_cli.cli import cli


def invoke(args) -> Result:
    """Run ``repet ARGS`` in this process and return click's result.

    A command that lets an exception escape (what a user would see as a traceback) fails the
    test here, whatever the test goes on to check: click's runner would otherwise catch it
    silently into ``result.exception``.
    """
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(
            f"repet {' '.join(map(str, args))} crashed with {result.exception!r}"
        ) from result.exception
    assert "Traceback" not in result.stderr
    return result


def run(*args) -> Result:
    """``invoke(args)`` for arguments given one by one."""
    return invoke(args)


def leftovers(folder):
    """Temporary files left anywhere under ``folder``."""
    return [p for p in folder.rglob("*") if ".part" in p.name]


def recorded(items):
    """``(taken, stream)``: a generator over ``items`` and the list of those it has given so far
    (to see how far an executor has read a stream of jobs)."""
    taken = []

    def stream():
        for item in items:
            taken.append(item)
            yield item

    return taken, stream()
