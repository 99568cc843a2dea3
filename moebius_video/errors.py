"""The package's exceptions.

Every error raised on purpose by moebius-video derives from :class:`MoebiusError` and also
from the closest built-in, so callers can catch either (``except OSError`` still works for a
file that cannot be opened). The CLI prints ``str(error)`` on one line and exits non-zero.
"""

from __future__ import annotations


class MoebiusError(Exception):
    """Base class of every error raised on purpose by moebius-video."""


class InvalidArgumentError(MoebiusError, ValueError):
    """An argument has a value that cannot be used (named in the message)."""


class InvalidMaskError(MoebiusError, ValueError):
    """A mask is missing, empty where it must not be, of the wrong size or unreadable."""


class VideoOpenError(MoebiusError, OSError):
    """An input cannot be opened as a video or a folder of frames."""


class VideoDecodeError(MoebiusError, RuntimeError):
    """An input opened but yielded no decodable video frame."""


class OutputError(MoebiusError, OSError):
    """An output cannot be written (unwritable place, same path as the input...)."""


class CheckpointError(MoebiusError, RuntimeError):
    """A checkpoint does not match the model it is loaded into (names the keys)."""


__all__ = [
    "CheckpointError",
    "InvalidArgumentError",
    "InvalidMaskError",
    "MoebiusError",
    "OutputError",
    "VideoDecodeError",
    "VideoOpenError",
]
