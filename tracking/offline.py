"""Offline propagation for files: forward and backward from every keyframe, then fusion.

Only one frame and one tracker state are held at a time; the backward pass keeps its masks
bit-packed (``np.packbits``: 1 bit per pixel), so memory is bounded by ``N * H * W / 8``
bytes of masks plus one frame, never by decoded frames or flows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

import numpy as np

from ._checks import check_frame, check_mask
from .backfill import backfill as fill_back
from .base import MaskTracker
from .confidence import TrackedFrame
from .errors import TrackingError
from .registry import DEFAULT_TRACKER, get_tracker

#: Default vote threshold of the two directions (see :func:`iter_track_frames`).
FUSION_THRESHOLD: float = 0.5


class FrameSequence(Protocol):
    """A random-access video: ``len(frames)`` and ``frames[i]`` (``H,W,3`` uint8 RGB)."""

    def __len__(self) -> int: ...  # noqa: D105

    def __getitem__(self, index: int) -> np.ndarray: ...  # noqa: D105


def _packed(mask: np.ndarray) -> np.ndarray:
    return np.packbits(mask, axis=None)


def _unpacked(bits: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return np.unpackbits(bits, count=shape[0] * shape[1]).reshape(shape).astype(bool)


def _check_keyframes(
    keyframes: Mapping[int, np.ndarray], n_frames: int, shape: tuple[int, int]
) -> dict[int, np.ndarray]:
    if not isinstance(keyframes, Mapping) or not keyframes:
        raise TrackingError("keyframes must be a non-empty mapping {frame index: mask}")
    out: dict[int, np.ndarray] = {}
    for key, mask in keyframes.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
            raise TrackingError(f"keyframes has a non-integer index {key!r}")
        index = int(key)
        if not 0 <= index < n_frames:
            raise TrackingError(
                f"keyframes has index {index} but frames has {n_frames} frames "
                f"(valid: 0..{n_frames - 1})"
            )
        out[index] = check_mask(mask, shape, name=f"keyframes[{index}]")
    return dict(sorted(out.items()))


def iter_track_frames(
    frames: FrameSequence,
    keyframes: Mapping[int, np.ndarray],
    tracker: MaskTracker | str = DEFAULT_TRACKER,
    fusion_threshold: float = FUSION_THRESHOLD,
    backfill: bool = True,
) -> Iterator[TrackedFrame]:
    """Propagate keyframe masks through a video, yielding each frame's mask and confidence.

    Each frame between two keyframes gets a mask tracked forward from the keyframe before it
    and one tracked backward from the keyframe after it. They are fused by a vote in which
    each direction weighs its confidence over its distance to its keyframe:
    ``w_f = c_f / d_f``, ``w_b = c_b / d_b``, and pixel ``p`` is object when
    ``(w_f * fwd[p] + w_b * bwd[p]) / (w_f + w_b) >= fusion_threshold``. So a keyframe wins
    around itself in both directions, and a direction that lost the object (confidence near
    0) gives way to the other. The fused confidence is the weighted mean of the two, lowered
    where the directions disagree (their IoU). Frames before the first keyframe are tracked
    backward only, frames after the last forward only; keyframes get their own mask and
    confidence 1. After the last keyframe, where the object was lost and found again, it is then
    tracked backward from where it was found through the frames it was missed in
    (:func:`tracking.backfill.backfill`; at most ``BACKFILL_REACH + BACKFILL_SETTLE`` masks are
    held back while that is pending). Before the last keyframe every frame has a backward
    pass from a keyframe already, in the fusion: a backfill there, from a tracked mask, put a
    worse mask in (DAVIS-style clips with a keyframe every 20 frames: the tennis player's
    worst frame 5.76 % of the frame masked far from him, 4.03 % without it).

    Args:
        frames: random-access video (``len`` and ``frames[i]`` -> ``H,W,3`` uint8 RGB).
        keyframes: ``{frame index: H,W bool mask}``, at least one, non-empty masks.
        tracker: a :class:`MaskTracker` or a tracker name.
        fusion_threshold: see above, in ``(0, 1]``.
        backfill: track a re-found object backward through the frames it was missed in.

    Yields:
        :class:`TrackedFrame` s for frames ``0..len(frames) - 1``, in order.

    Raises:
        TrackingError: no frames, keyframe index out of range, mask of the wrong size or
            empty, frames of different sizes.
    """
    n = len(frames)
    if n == 0:
        raise TrackingError("frames is empty")
    if not 0.0 < fusion_threshold <= 1.0:
        raise TrackingError(f"fusion_threshold must be in (0, 1], got {fusion_threshold}")
    tracker = get_tracker(tracker) if isinstance(tracker, str) else tracker
    first = check_frame(frames[0], "frames[0]")
    shape = (first.shape[0], first.shape[1])
    keys = _check_keyframes(keyframes, n, shape)
    fused = _iter_fused(frames, first, keys, tracker, fusion_threshold)
    if not backfill:
        yield from fused
        return
    # up to the last keyframe every frame has a backward pass from a keyframe already (the
    # fusion's); a backfill there, from a tracked mask, only puts a worse mask in
    last_key = max(keys)
    if last_key > 0:
        for item in fused:
            yield item
            if item.index == last_key:
                break

    def image(t: int) -> np.ndarray:
        return first if t == 0 else frames[t]

    for _, item, _ in fill_back(((item.index, item) for item in fused), tracker, image):
        yield item


def _iter_fused(
    frames: FrameSequence,
    first: np.ndarray,
    keys: dict[int, np.ndarray],
    tracker: MaskTracker,
    fusion_threshold: float,
) -> Iterator[TrackedFrame]:
    """Both directions from every keyframe, fused (see :func:`iter_track_frames`)."""
    n = len(frames)
    shape = (first.shape[0], first.shape[1])
    indices = list(keys)

    # 1. Backward pass (from the last frame down), masks kept packed.
    backward: dict[int, tuple[np.ndarray, float]] = {}
    state = None
    for t in range(indices[-1], -1, -1):
        frame = first if t == 0 else frames[t]
        if t in keys:
            state = tracker.init(frame, keys[t], index=t)
            continue
        assert state is not None
        mask, state = tracker.step(state, frame)
        backward[t] = (_packed(mask), float(getattr(state, "confidence", 1.0)))
    # 2. Forward pass, fused with the backward masks and yielded in order.
    state = None
    prev_key: int | None = None
    next_pos = 0
    for t in range(n):
        if t in keys:
            frame = first if t == 0 else frames[t]
            state = tracker.init(frame, keys[t], index=t)
            prev_key = t
            next_pos += 1
            yield TrackedFrame(t, keys[t].copy(), 1.0, keyframe=True)
            continue
        if state is None:  # before the first keyframe: backward only
            bits, conf = backward.pop(t)
            yield TrackedFrame(t, _unpacked(bits, shape), conf)
            continue
        frame = first if t == 0 else frames[t]
        fwd, state = tracker.step(state, frame)
        c_f = float(getattr(state, "confidence", 1.0))
        if next_pos >= len(indices):  # after the last keyframe: forward only
            yield TrackedFrame(t, fwd, c_f)
            continue
        assert prev_key is not None
        bits, c_b = backward.pop(t)
        bwd = _unpacked(bits, shape)
        yield _fuse(t, fwd, c_f, t - prev_key, bwd, c_b, indices[next_pos] - t, fusion_threshold)


def _fuse(
    t: int,
    fwd: np.ndarray,
    c_f: float,
    d_f: int,
    bwd: np.ndarray,
    c_b: float,
    d_b: int,
    threshold: float,
) -> TrackedFrame:
    """Confidence- and distance-weighted vote of the two directions (see above)."""
    w_f = max(c_f, 1e-3) / d_f
    w_b = max(c_b, 1e-3) / d_b
    a = w_f / (w_f + w_b)
    if a >= 1 - 1e-6 or not bwd.any() and c_b < 1e-3:
        mask = fwd
    elif a <= 1e-6:
        mask = bwd
    else:
        vote = a * fwd.astype(np.float32) + (1.0 - a) * bwd.astype(np.float32)
        mask = vote >= threshold
    union = np.count_nonzero(fwd | bwd)
    agree = np.count_nonzero(fwd & bwd) / union if union else 1.0
    conf = (a * c_f + (1 - a) * c_b) * (0.5 + 0.5 * agree)
    return TrackedFrame(t, mask, float(conf))


def iter_track(
    frames: FrameSequence,
    keyframes: Mapping[int, np.ndarray],
    tracker: MaskTracker | str = DEFAULT_TRACKER,
    fusion_threshold: float = FUSION_THRESHOLD,
) -> Iterator[np.ndarray]:
    """The masks of :func:`iter_track_frames` only (same arguments).

    Yields:
        ``H,W`` bool masks for frames ``0..len(frames) - 1`` (empty when the object left).

    Raises:
        TrackingError: see :func:`iter_track_frames`.
    """
    for item in iter_track_frames(frames, keyframes, tracker, fusion_threshold):
        yield item.mask


def track(
    frames: FrameSequence | Sequence[np.ndarray],
    keyframes: Mapping[int, np.ndarray],
    tracker: MaskTracker | str = DEFAULT_TRACKER,
    fusion_threshold: float = FUSION_THRESHOLD,
) -> list[np.ndarray]:
    """Offline tracking: the list version of :func:`iter_track` (same arguments).

    Args:
        frames: random-access video (``len`` and ``frames[i]`` -> ``H,W,3`` uint8 RGB).
        keyframes: ``{frame index: H,W bool mask}``.
        tracker: a :class:`MaskTracker` or a tracker name.
        fusion_threshold: weighted-vote threshold of the two directions.

    Returns:
        One ``H,W`` bool mask per frame.

    Raises:
        TrackingError: see :func:`iter_track`.
    """
    return list(iter_track(frames, keyframes, tracker, fusion_threshold))


__all__ = ["FUSION_THRESHOLD", "FrameSequence", "iter_track", "iter_track_frames", "track"]
