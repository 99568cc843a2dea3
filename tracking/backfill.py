"""Backfill: once a lost object is found again, track it backward through the frames it missed.

A tracker that lost its object (it left the frame, or went behind something) finds it again
only once much of it is back: the flow tracker's re-detection needs about half of the
object's keyframe appearance in view. The frames in between, the object coming back in
through the border or out from behind the occluder, had an empty mask, or a doubtful one
(what an unsure tracker held of the part still in view), so the object was left in the
output there, whole or in part. Going backward in time those frames are an exit, which a
tracker follows well: so, in file mode, where nothing is shown as it comes, the object is
tracked backward from where it was found again, through the frames it missed.

How (:func:`backfill`, in frame order):

1. Frames pass through while the mask is not empty and not doubtful
   (:data:`~tracking.confidence.DOUBTFUL_BELOW`; keyframes never are). From the first
   empty or doubtful mask on they are held: the gap.
2. A mask after the gap that is neither is the object found again (or sure of again). Up to
   ``settle`` more frames are held, until the tracker is confident of it (:data:`SETTLED`);
   the most confident re-found mask (the confident one, or the last one) is the start of the
   backward pass.
3. A new tracker state starts there and steps backward through the held frames. An empty gap
   frame takes the backward mask, with its confidence, where that mask is not doubtful or
   touches the frame's border (an object coming in: going backward, an exit, which is
   followed well and cannot spread far). A doubtful backward mask away from the border is
   not taken: going backward into an occluder, an unsure tracker holds its mask where the
   object was, beside it (measured on a pasted clip: 1.37 % of the frame on the bird behind
   the object). Once a backward mask was not taken (or was empty), no later one is, but at
   the border: the chain from the re-found mask is broken, and an unsure tracker's
   confidence wanders back over 0.4 while its mask sits beside the object (pasted, a tree
   going behind the strip over ``judo``: 1.48 % of the frame). A doubtful gap frame takes
   the backward mask instead of its own only where that one is settled and surer, and
   keeps its own (doubtful) confidence: the backward pass saw only one side of what went
   on. Their union took in the occluder twice over (pasted, Jupiter behind the strip:
   1.47 % of the frame). A re-found frame the tracker was not yet confident of takes the
   union of both masks. The pass stops at the first keyframe, after two empty backward
   masks (the object is out again, going backward), or at the gap's start.
4. Where the forward pass still held a mask in the gap (a doubtful one) and the backward mask
   is far from it (centroids more than :data:`_REACH_SIZES` object sizes apart), the pass
   went astray on the way: nothing it gave the gap is taken, not even the empty frames it
   filled before (the re-found frames keep the union they were given on the way in).
   Pasted, a thin stethoscope wobbling over the panning ``bmx-trees``: re-found, then
   tracked backward, its mask slid off onto the scene with the camera (confidence rising to
   1.0 as it did) and took 2.0-2.4 % of the frame in eleven frames, where the forward pass
   had held the object's last visible part 110-200 px away.

Bounds: at most ``reach`` gap frames are held (older ones are released as they were: beyond
any backward pass) plus ``settle``, and never more than ``max_bytes`` of frame images; nothing
is held, and nothing delayed, while the tracker is sure of the object. Live sources cannot
wait for the object to come back, so the live engine does not use this.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from .base import MaskTracker
from .confidence import DOUBTFUL_BELOW, TrackedFrame
from .errors import TrackingError

#: How many frames back from a re-found object the backward pass may go.
BACKFILL_REACH: int = 30
#: How many frames after the re-find to wait for a confident mask to start from.
BACKFILL_SETTLE: int = 8
#: The most frame-image bytes held at once (``reach`` is lowered to fit: 15 frames of 1080p).
BACKFILL_BYTES: int = 96 << 20
#: The confidence at which a re-found mask is settled (the flow tracker's own "confident").
SETTLED: float = 0.5
#: Where the forward pass held a (doubtful) mask in the gap, the backward mask's centroid must
#: be within this many object sizes (square root of the re-found mask's area) of that mask's,
#: else the pass gives the gap nothing (see the module doc).
_REACH_SIZES: float = 1.5


def _apart(a: np.ndarray, b: np.ndarray) -> float:
    """The distance (px) between the centroids of two non-empty masks."""
    ya, xa = np.nonzero(a)
    yb, xb = np.nonzero(b)
    return float(np.hypot(xa.mean() - xb.mean(), ya.mean() - yb.mean()))


def _on_border(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())

P = TypeVar("P")


@dataclass
class _Held(Generic[P]):
    payload: P
    item: TrackedFrame
    seconds: float = 0.0


def _empty(item: TrackedFrame) -> bool:
    return not bool(item.mask.any())


def _missed(item: TrackedFrame) -> bool:
    """A gap frame: the object missed there, wholly (an empty mask) or maybe in part (a
    doubtful one)."""
    return _empty(item) or (not item.keyframe and item.confidence < DOUBTFUL_BELOW)


def _settled(item: TrackedFrame) -> bool:
    return item.keyframe or (not _empty(item) and item.confidence >= SETTLED)


def _start(held: list[_Held[P]], found: int) -> int:
    """The held position the backward pass starts from: the first settled re-found mask,
    else the most confident non-empty one."""
    for k in range(found, len(held)):
        if _settled(held[k].item):
            return k
    best, conf = found, -1.0
    for k in range(found, len(held)):
        item = held[k].item
        if not _empty(item) and item.confidence > conf:
            best, conf = k, item.confidence
    return best


def _backward(
    held: list[_Held[P]],
    start: int,
    found: int,
    tracker: MaskTracker,
    image: Callable[[P], np.ndarray],
) -> None:
    """Track from ``held[start]`` backward through ``held[:start]``, in place."""
    entry = held[start]
    t0 = time.perf_counter()
    try:
        state = tracker.init(image(entry.payload), entry.item.mask, index=entry.item.index)
    except TrackingError:  # a mask the tracker cannot start from (too small): keep the gap
        return
    entry.seconds += time.perf_counter() - t0
    reach = _REACH_SIZES * np.sqrt(max(int(np.count_nonzero(entry.item.mask)), 1))
    empties = 0
    broken = False
    taken: dict[int, TrackedFrame] = {}  # gap frames: held until the pass is known to connect
    for k in range(start - 1, -1, -1):
        entry = held[k]
        if entry.item.keyframe:
            break
        t0 = time.perf_counter()
        mask, state = tracker.step(state, image(entry.payload))
        entry.seconds += time.perf_counter() - t0
        if not mask.any():
            empties += 1
            broken = True
            if empties >= 2:
                break
            continue
        empties = 0
        item = entry.item
        if k < found:  # the gap: the backward mask, with its own confidence
            conf = float(getattr(state, "confidence", 1.0))
            if not _empty(item) and _apart(mask, item.mask) > reach:
                # where the forward pass still had something, the backward pass is far from
                # it: it went astray on the way (it follows the scene, not the object)
                taken.clear()
                break
            if _empty(item):
                if (conf >= DOUBTFUL_BELOW and not broken) or _on_border(mask):
                    taken[k] = TrackedFrame(item.index, mask, conf)
                else:
                    broken = True
            elif conf >= SETTLED and conf > item.confidence:
                # doubtful: the surer mask, but the doubt the forward pass had stays said
                # (the backward pass sees one side of what went on: with the occluder
                # between, its mask may hold only the part coming out)
                taken[k] = TrackedFrame(item.index, mask, item.confidence)
        elif item.confidence < SETTLED:  # re-found, not yet sure: both
            entry.item = TrackedFrame(item.index, item.mask | mask, item.confidence)
    for k, item in taken.items():
        held[k].item = item


def backfill(
    items: Iterable[tuple[P, TrackedFrame]],
    tracker: MaskTracker,
    image: Callable[[P], np.ndarray],
    *,
    reach: int = BACKFILL_REACH,
    settle: int = BACKFILL_SETTLE,
    max_bytes: int = BACKFILL_BYTES,
) -> Iterator[tuple[P, TrackedFrame, float]]:
    """Fill the frames a tracker missed before it found its object again (see module doc).

    Args:
        items: ``(payload, tracked frame)`` in frame order, as a tracker made them.
        tracker: the tracker that steps backward (a new state; it may be the one that made
            ``items``, whose states are separate).
        image: the ``H,W,3`` uint8 RGB frame of a payload (called for held frames only).
        reach: the most gap frames held, and so tracked backward.
        settle: the most frames held after a re-find, waiting for a confident mask.
        max_bytes: the most bytes of frame images held; ``reach`` is lowered to fit.

    Yields:
        ``(payload, tracked frame, seconds)`` for every item, in order: the tracked frame
        replaced where the backward pass filled it, and the seconds the backward pass spent
        on that frame (0 for frames it did not touch).

    Raises:
        TrackingError: ``reach`` < 1 or ``settle`` < 0.
    """
    if reach < 1:
        raise TrackingError(f"reach must be >= 1, got {reach}")
    if settle < 0:
        raise TrackingError(f"settle must be >= 0, got {settle}")
    held: deque[_Held[P]] = deque()
    found: int | None = None  # held position of the re-find
    seen = False  # a sure object mask went by: a missed frame after it starts a gap
    limit: int | None = None
    for payload, item in items:
        missed = _missed(item)
        if not held:
            if not (missed and seen):
                seen = seen or not missed
                yield payload, item, 0.0
                continue
            if limit is None:  # frames of one video are one size
                limit = max(1, min(reach, max_bytes // max(image(payload).nbytes, 1)))
        held.append(_Held(payload, item))
        if found is None:
            if not missed:
                found = len(held) - 1
            else:
                assert limit is not None
                while len(held) > limit:  # beyond any backward pass: as it was
                    old = held.popleft()
                    yield old.payload, old.item, old.seconds
                continue
        if not (missed or _settled(item) or len(held) - 1 - found >= settle):
            continue
        # resolve: backward from the re-found mask; a new missed frame starts the next gap
        tail = held.pop() if missed else None
        frames = list(held)
        _backward(frames, _start(frames, found), found, tracker, image)
        held.clear()
        found = None
        for entry in frames:
            yield entry.payload, entry.item, entry.seconds
        if tail is not None:
            held.append(tail)
    if held:
        frames = list(held)
        if found is not None:
            _backward(frames, _start(frames, found), found, tracker, image)
        for entry in frames:
            yield entry.payload, entry.item, entry.seconds


__all__ = ["BACKFILL_BYTES", "BACKFILL_REACH", "BACKFILL_SETTLE", "SETTLED", "backfill"]
