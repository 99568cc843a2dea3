"""Tracker speed (``bench tracking``): frames per second of ``step`` at given sizes.

Frames are prepared before timing (decoded from a clip folder and resized, or generated: a
textured object moving over a panning textured background), so only tracking is timed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from moebius_video.bench.common import format_table, object_frames
from moebius_video.errors import InvalidArgumentError
from tracking import available_trackers, get_tracker
from tracking.data import load_clip


@dataclass(frozen=True)
class TrackerSpeed:
    """Speed of one tracker at one size.

    Attributes:
        tracker: tracker name.
        width: frame width.
        height: frame height.
        frames: number of timed steps.
        fps: frames per second of ``step``.
        ms_per_frame: milliseconds per ``step``.
    """

    tracker: str
    width: int
    height: int
    frames: int
    fps: float
    ms_per_frame: float

    @property
    def size(self) -> str:
        """``"WxH"``."""
        return f"{self.width}x{self.height}"


def clip_frames(folder: str | Path, n: int, width: int, height: int
                ) -> tuple[list[np.ndarray], np.ndarray]:
    """The first ``n`` frames of a clip folder (``frames/`` + ``masks/``) resized to
    ``width x height``, and the first frame's mask."""
    clip = load_clip(folder, max_frames=n)
    frames = [cv2.resize(clip.frames[i], (width, height), interpolation=cv2.INTER_AREA)
              for i in range(len(clip.frames))]
    first = clip.mask(0).astype(np.uint8)
    return frames, cv2.resize(first, (width, height), interpolation=cv2.INTER_NEAREST) > 0


def measure_trackers(
    trackers: list[str],
    sizes: list[tuple[int, int]],
    n_frames: int = 60,
    clip: str | Path | None = None,
    warmup: int = 3,
) -> list[TrackerSpeed]:
    """Time ``step`` of each tracker at each size.

    Args:
        trackers: tracker names.
        sizes: ``(width, height)`` pairs.
        n_frames: frames per run (timed: ``n_frames - 1 - warmup`` steps).
        clip: a clip folder to take frames from (default: synthetic frames).
        warmup: untimed steps first.

    Returns:
        One :class:`TrackerSpeed` per tracker and size.

    Raises:
        InvalidArgumentError: unknown tracker or too few frames.
    """
    for name in trackers:
        if name not in available_trackers():
            raise InvalidArgumentError(f"tracker must be one of {available_trackers()}, got {name!r}")
    results = []
    for width, height in sizes:
        if clip is None:
            frames, mask = object_frames(n_frames, width, height)
        else:
            frames, mask = clip_frames(clip, n_frames, width, height)
        if len(frames) < warmup + 2:
            raise InvalidArgumentError(f"n_frames must be at least {warmup + 2}, got {len(frames)}")
        for name in trackers:
            tracker = get_tracker(name)
            state = tracker.init(frames[0], mask)
            for frame in frames[1 : 1 + warmup]:
                _, state = tracker.step(state, frame)
            timed = frames[1 + warmup :]
            start = time.perf_counter()
            for frame in timed:
                _, state = tracker.step(state, frame)
            elapsed = max(time.perf_counter() - start, 1e-9)
            n = len(timed)
            results.append(TrackerSpeed(name, width, height, n, n / elapsed, 1e3 * elapsed / n))
    return results


def format_rows(results: list[TrackerSpeed]) -> str:
    """A text table of tracker speeds."""
    return format_table(results, [("tracker", "tracker", "s"), ("size", "size", "s"),
                                  ("frames", "frames", "d"), ("frames/s", "fps", ".1f"),
                                  ("ms/frame", "ms_per_frame", ".2f")])


__all__ = ["TrackerSpeed", "clip_frames", "format_rows", "measure_trackers"]
