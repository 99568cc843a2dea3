"""Exceptions of the tracking package.

``tracking`` is importable on its own, so it does not share moebius_video's hierarchy; its
single error subclasses :class:`ValueError` so that callers can catch either.
"""

from __future__ import annotations


class TrackingError(ValueError):
    """Bad input to a tracker: empty first mask, size mismatch, keyframe out of range...

    The message is one line and names the argument and its value.
    """


__all__ = ["TrackingError"]
