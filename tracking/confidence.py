"""Per-frame confidence of a tracked mask, and the doubtful frame ranges it implies.

A tracker sets :attr:`tracking.TrackState.confidence` on every step; offline tracking
(:func:`tracking.iter_track_frames`) yields it with each mask as a :class:`TrackedFrame`.
Frames whose confidence is below :data:`DOUBTFUL_BELOW` are doubtful: :func:`doubtful_ranges`
groups them into ranges and suggests where a keyframe (a corrected mask) would help most.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: A frame whose confidence is below this is doubtful.
DOUBTFUL_BELOW: float = 0.4

#: One keyframe is suggested per this many doubtful frames (a keyframe fixes the frames
#: around it in both directions).
KEYFRAME_SPACING: int = 20


@dataclass(frozen=True)
class TrackedFrame:
    """One frame of a tracked video.

    Attributes:
        index: frame index (from 0 at the first tracked frame).
        mask: ``H,W`` bool mask (True = object).
        confidence: in ``[0, 1]``; 1 on keyframes.
        keyframe: whether the mask was given, not tracked.
    """

    index: int
    mask: np.ndarray
    confidence: float
    keyframe: bool = False


@dataclass(frozen=True)
class DoubtfulRange:
    """Consecutive doubtful frames.

    Attributes:
        start: first doubtful frame.
        end: last doubtful frame (inclusive).
        min_confidence: the lowest confidence in the range.
        keyframes: suggested frames to correct (the least confident frame of every
            :data:`KEYFRAME_SPACING` frames of the range).
    """

    start: int
    end: int
    min_confidence: float
    keyframes: tuple[int, ...]

    @property
    def frames(self) -> int:
        """Number of frames in the range."""
        return self.end - self.start + 1

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "start": self.start,
            "end": self.end,
            "frames": self.frames,
            "min_confidence": round(self.min_confidence, 3),
            "suggested_keyframes": list(self.keyframes),
        }


def doubtful_ranges(
    confidences: Sequence[float],
    threshold: float = DOUBTFUL_BELOW,
    *,
    offset: int = 0,
    merge_gap: int = 2,
) -> list[DoubtfulRange]:
    """Group the doubtful frames into ranges and suggest keyframes in each.

    Args:
        confidences: one confidence per frame, in order.
        threshold: a frame below this is doubtful.
        offset: index of the first confidence (e.g. ``--start``), added to every index.
        merge_gap: ranges separated by at most this many confident frames are merged.

    Returns:
        The ranges, in order.
    """
    conf = np.asarray(list(confidences), np.float64)
    bad = np.flatnonzero(conf < threshold)
    if bad.size == 0:
        return []
    groups: list[list[int]] = [[int(bad[0])]]
    for i in bad[1:]:
        if int(i) - groups[-1][-1] <= merge_gap + 1:
            groups[-1].append(int(i))
        else:
            groups.append([int(i)])
    out = []
    for group in groups:
        start, end = group[0], group[-1]
        keys = []
        for k in range(start, end + 1, KEYFRAME_SPACING):
            chunk = conf[k : min(end + 1, k + KEYFRAME_SPACING)]
            keys.append(k + int(np.argmin(chunk)) + offset)
        out.append(
            DoubtfulRange(
                start + offset, end + offset, float(conf[start : end + 1].min()), tuple(keys)
            )
        )
    return out


def format_ranges(ranges: Sequence[DoubtfulRange]) -> str:
    """A one-paragraph summary for a terminal.

    Args:
        ranges: what :func:`doubtful_ranges` returned.

    Returns:
        The text (``"no doubtful frames"`` when there is none).
    """
    if not ranges:
        return "tracking confidence: no doubtful frames"
    total = sum(r.frames for r in ranges)
    frames = "frame" if total == 1 else "frames"
    where = "1 range" if len(ranges) == 1 else f"{len(ranges)} ranges"
    lines = [f"tracking confidence: {total} doubtful {frames} in {where}"]
    for r in ranges:
        span = f"frame {r.start}" if r.start == r.end else f"frames {r.start}-{r.end}"
        keys = ", ".join(str(k) for k in r.keyframes)
        lines.append(
            f"  {span} (lowest confidence {r.min_confidence:.2f}): add a keyframe at {keys}"
        )
    return "\n".join(lines)


__all__ = [
    "DOUBTFUL_BELOW",
    "KEYFRAME_SPACING",
    "DoubtfulRange",
    "TrackedFrame",
    "doubtful_ranges",
    "format_ranges",
]
