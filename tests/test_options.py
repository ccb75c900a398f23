"""The command line's options: the groups a command gets them in, and how its messages name
the library's parameters."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from repet_cli import RepetParams
from repet_cli.batch.request import Extras, Inputs, Outputs, Running
from repet_cli.options import (
    BATCH_GROUPS,
    BATCH_OPTIONS,
    Shown,
    _option_name,
    batch_options,
    input_options,
    option_names,
    output_options,
    params_from,
    separation_options,
)


def test_library_names_become_the_options_that_set_them():
    assert option_names("`min_period` and `skip_existing`") == "--min-period and --skip-existing"
    assert option_names("no `inputs`: give `files_from`") == "no INPUT: give --files-from"
    assert option_names("`out='-'` writes one stem") == "-o - writes one stem"
    assert option_names("; `verbose` shows the traceback") == "; -v shows the traceback"
    assert option_names("`out` and `json`") == "--out and --json"
    assert option_names("`something_else` and `n_fft`") == "`something_else` and --n-fft"


def test_every_batch_option_arrives_in_exactly_one_group():
    grouped = [name for _, _, names in BATCH_GROUPS for name in names]
    assert sorted(grouped) == sorted(_option_name(o) for o in BATCH_OPTIONS)


def test_a_command_gets_its_options_in_groups():
    got = {}

    @click.command()
    @click.argument("inputs", nargs=-1)
    @input_options
    @output_options
    @separation_options
    @batch_options
    def command(**groups):
        got.update(groups)

    args = ["a.wav", "b.wav", "--stream", "1", "--format", "flac", "--mask", "soft"]
    args += ["--no-phase", "-j", "2", "--skip-existing", "--json", "--plot", "-q"]
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 0, result.output
    assert set(got) == {"inputs", "outputs", "params", "running", "extras", "shown"}
    assert got["inputs"] == Inputs(names=("a.wav", "b.wav"), stream=1)
    assert got["outputs"] == Outputs(format="flac")
    assert got["params"] == RepetParams(mask="soft", phase="none")
    assert got["running"] == Running(jobs=2, skip_existing=True)
    assert got["extras"] == Extras(json=True, plot=True)
    assert got["shown"] == Shown(quiet=True)


def test_separation_options_are_parameters_or_a_usage_error():
    assert params_from(phase=None, no_phase=True).phase == "none"
    assert params_from(phase=None).phase == "mixture"
    with pytest.raises(click.UsageError, match="--no-phase contradicts --phase mixture"):
        params_from(phase="mixture", no_phase=True)
    with pytest.raises(click.UsageError, match="--threshold applies to the binary mask"):
        params_from(threshold=0.3)
