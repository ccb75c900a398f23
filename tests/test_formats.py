"""What outputs can be: the bit rate and the sample format asked for, checked before any work."""

from __future__ import annotations

import pytest

from repet_cli import ParameterError
from repet_cli.formats import check_requested_subtype, requested_bitrate


def test_a_bit_rate_needs_a_lossy_format_and_is_read_in_bits_per_second():
    assert requested_bitrate(None, None) is None and requested_bitrate(None, "wav") is None
    assert requested_bitrate("192k", "mp3") == 192_000
    assert requested_bitrate(96_000, "opus") == 96_000
    for fmt in (None, "wav", "flac", "ogg"):
        with pytest.raises(ParameterError, match="`bitrate` is for `format` mp3, opus, m4a"):
            requested_bitrate("192k", fmt)
    with pytest.raises(ParameterError, match="did you mean 100k"):
        requested_bitrate("100", "m4a")


@pytest.mark.parametrize("subtype", ["PCM_16", "pcm_24", "FLOAT"])
def test_a_sample_format_wav_or_flac_hold_is_accepted(subtype):
    check_requested_subtype(subtype, None)  # either, by input
    check_requested_subtype(subtype, "wav")


@pytest.mark.parametrize(
    ("subtype", "fmt", "message"),
    [
        ("PCM_16", "mp3", "`subtype` is for wav and flac; mp3 has its codec (set `bitrate`)"),
        ("PCM_16", "ogg", "ogg has its codec"),
        ("FLOAT", "flac", "`subtype` FLOAT is not one of PCM_16, PCM_24, PCM_S8 (for flac)"),
        ("ULAW", None, "`subtype` ULAW is not one of DOUBLE, FLOAT, PCM_16"),
    ],
)
def test_a_sample_format_the_output_cannot_hold_is_refused(subtype, fmt, message):
    with pytest.raises(ParameterError) as info:
        check_requested_subtype(subtype, fmt)
    assert message in str(info.value)
