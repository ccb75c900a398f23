"""Where the PyAV code was before it was split by job; kept so that existing imports work.

``repet_cli.media`` held decoding, encoding and a video's sound replaced in one module. They
now live in the modules that talk to PyAV, one job each:

- :mod:`repet_cli.pyav_probe`: :func:`probe`, :class:`MediaInfo`, :func:`lossy_bitrate`;
- :mod:`repet_cli.pyav_decode`: :func:`decode_to_wav`;
- :mod:`repet_cli.pyav_encode`: :class:`MediaWriter`, :func:`encoder_rate`;
- :mod:`repet_cli.pyav_remux`: :func:`replace_audio`;

and the bit-rate rules in :mod:`repet_cli.formats` (:func:`parse_bitrate`,
:func:`default_bitrate`). New code imports from those; nothing in the package imports this
module. Importing it imports no PyAV.
"""

from __future__ import annotations

from .formats import (
    BITRATE_RANGES,
    DEFAULT_BITRATES,
    MAX_CHANNELS,
    default_bitrate,
    parse_bitrate,
)
from .pyav_decode import decode_to_wav
from .pyav_encode import OPUS_RATE, WRITABLE, MediaWriter, encoder_rate
from .pyav_probe import (
    LOSSY_CODECS,
    AudioStreamInfo,
    MediaInfo,
    friendly_name,
    lossy_bitrate,
    probe,
)
from .pyav_remux import replace_audio

__all__ = [
    "BITRATE_RANGES",
    "DEFAULT_BITRATES",
    "LOSSY_CODECS",
    "MAX_CHANNELS",
    "OPUS_RATE",
    "WRITABLE",
    "AudioStreamInfo",
    "MediaInfo",
    "MediaWriter",
    "decode_to_wav",
    "default_bitrate",
    "encoder_rate",
    "friendly_name",
    "lossy_bitrate",
    "parse_bitrate",
    "probe",
    "replace_audio",
]
