"""repet: split a song into its repeating background and non-repeating foreground (REPET).

Library use, without the command line::

    from repet_cli import load_audio, separate, RepetParams

    y, sr, info = load_audio("song.wav")
    result = separate(y, sr=sr, params=RepetParams(mask="soft"))
    result.background, result.foreground, result.period

    # A file of any length to two files, segment by segment, both or neither:
    separate_file("set.flac", "background.flac", "foreground.flac")

    # A batch, as the command runs it (repet_cli.batch: plan, run, outcomes):
    from repet_cli import batch
    for outcome in batch.run(batch.plan(["a.wav", "b.wav"], "stems"), settings=batch.Settings()):
        print(outcome.source, outcome.status)

Only numpy is imported here; librosa and scipy load on first use, so ``repet --help`` stays
instant.
"""

from __future__ import annotations

from ._version import __version__
from .errors import (
    AudioReadError,
    AudioWriteError,
    EvaluationError,
    InputTooShortError,
    MissingDependencyError,
    OutputExistsError,
    ParameterError,
    RepetError,
)
from .formats import AudioInfo, output_subtype
from .io import load_audio, write_audio, write_audio_files
from .params import RepetParams
from .segments import separate_file
from .separate import Separation, separate

__all__ = [
    "__version__",
    "AudioInfo",
    "AudioReadError",
    "AudioWriteError",
    "EvaluationError",
    "InputTooShortError",
    "MissingDependencyError",
    "OutputExistsError",
    "ParameterError",
    "RepetError",
    "RepetParams",
    "Separation",
    "load_audio",
    "output_subtype",
    "separate",
    "separate_file",
    "write_audio",
    "write_audio_files",
]
