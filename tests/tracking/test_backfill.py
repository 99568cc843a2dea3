"""Backfill: a re-found object is tracked backward through the frames it was missed in."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from helpers import make_clip

from tracking import TrackedFrame, TrackingError, backfill, get_tracker
from tracking.base import TrackState
from tracking.baselines import StaticTracker
from tracking.evaluate_pasted import frame_scores
from tracking.offline import iter_track_frames

H, W = 40, 60


def _mask(x0: int, x1: int, y0: int = 10, y1: int = 20) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    return mask


EMPTY = np.zeros((H, W), bool)
IMAGE = np.zeros((H, W, 3), np.uint8)


def _run(items: list[TrackedFrame], tracker=None, **kwargs) -> list[TrackedFrame]:  # type: ignore[no-untyped-def]
    out = list(backfill(((t.index, t) for t in items), tracker or StaticTracker(),
                        lambda _: IMAGE, **kwargs))
    assert [p for p, _, _ in out] == [t.index for t in items]  # every frame, in order
    assert all(item.index == p for p, item, _ in out)
    return [item for _, item, _ in out]


def test_gap_frames_take_the_re_found_mask_tracked_backward() -> None:
    a, b = _mask(10, 20), _mask(30, 40)
    items = [TrackedFrame(0, a, 1.0, keyframe=True), TrackedFrame(1, a, 0.9),
             TrackedFrame(2, EMPTY, 0.0), TrackedFrame(3, EMPTY, 0.0),
             TrackedFrame(4, b, 0.8), TrackedFrame(5, b, 0.9)]
    out = _run(items)
    # the static tracker carries the re-found mask unchanged: the gap gets it
    for t in (2, 3):
        np.testing.assert_array_equal(out[t].mask, b)
        assert out[t].confidence == 1.0
    for t in (0, 1, 4, 5):  # frames before the gap and after the re-find are untouched
        assert out[t] is items[t]


def test_no_re_find_keeps_the_gap_empty() -> None:
    a = _mask(10, 20)
    items = [TrackedFrame(0, a, 1.0, keyframe=True)] + [
        TrackedFrame(t, EMPTY, 0.0) for t in range(1, 6)]
    out = _run(items)
    assert all(not out[t].mask.any() for t in range(1, 6))


def test_starts_from_the_first_confident_re_found_mask_and_unites_the_unsure_ones() -> None:
    a, unsure, sure = _mask(10, 20), _mask(30, 34), _mask(36, 46)
    # 0.45: found again (not doubtful), not yet settled
    items = [TrackedFrame(0, a, 1.0, keyframe=True), TrackedFrame(1, EMPTY, 0.0),
             TrackedFrame(2, unsure, 0.45), TrackedFrame(3, sure, 0.9), TrackedFrame(4, sure, 0.9)]
    out = _run(items)
    np.testing.assert_array_equal(out[1].mask, sure)  # from frame 3, not from frame 2
    np.testing.assert_array_equal(out[2].mask, unsure | sure)  # unsure re-find: both
    assert out[2].confidence == 0.45  # as unsure as the tracker said
    assert out[3] is items[3]


def test_never_settled_starts_from_the_most_confident() -> None:
    a, m1, m2 = _mask(10, 20), _mask(30, 34), _mask(40, 44)
    items = [TrackedFrame(0, a, 1.0, keyframe=True), TrackedFrame(1, EMPTY, 0.0),
             TrackedFrame(2, m1, 0.42), TrackedFrame(3, m2, 0.48), TrackedFrame(4, m1, 0.45)]
    out = _run(items, settle=2)
    np.testing.assert_array_equal(out[1].mask, m2)


def test_a_doubtful_frame_takes_a_surer_backward_mask_instead_of_its_own() -> None:
    """What an unsure tracker held of an object going behind something (a doubtful mask)
    is a gap frame too: a settled, surer backward mask replaces it (not their union, which
    took in the occluder from both sides), the frame still reported doubtful; an unsure
    backward mask leaves it as it was."""
    a, held_part, sure = _mask(10, 20), _mask(22, 26), _mask(30, 40)
    items = [TrackedFrame(0, a, 1.0, keyframe=True), TrackedFrame(1, held_part, 0.2),
             TrackedFrame(2, EMPTY, 0.0), TrackedFrame(3, sure, 0.9)]
    out = _run(items)
    for t in (1, 2):
        np.testing.assert_array_equal(out[t].mask, sure)
    assert out[2].confidence == 1.0  # an empty frame takes the backward confidence
    assert out[1].confidence == 0.2  # a doubtful one stays as doubtful as it was said
    out = _run(items, tracker=_UnsureStatic())
    assert out[1] is items[1]  # the backward mask (0.1) is no surer
    assert not out[2].mask.any()  # doubtful and away from the border: not taken


def test_a_backward_pass_far_from_what_the_forward_pass_held_is_dropped_whole() -> None:
    """Where the forward pass still held something in the gap, a backward mask far from it
    (more than 1.5 object sizes between centroids) went astray on the way: the pass gives
    nothing, not even the empty frames it reached first. Near it, the pass is taken."""
    a, sure = _mask(10, 20), _mask(44, 54)  # re-found: 10 x 10 px, centroid x 48.5
    for held_at, taken in (((2, 6), False), ((36, 40), True)):  # centroid 5.5 px / 37.5 px
        held_part = _mask(*held_at)
        items = [TrackedFrame(0, a, 1.0, keyframe=True), TrackedFrame(1, held_part, 0.2),
                 TrackedFrame(2, EMPTY, 0.0), TrackedFrame(3, sure, 0.9)]
        out = _run(items)
        assert out[2].mask.any() == taken
        if taken:
            np.testing.assert_array_equal(out[1].mask, sure)
        else:
            assert out[1] is items[1] and out[2] is items[2]


def test_reach_bounds_the_held_frames_and_what_is_filled() -> None:
    a, b = _mask(10, 20), _mask(30, 40)
    items = [TrackedFrame(0, a, 1.0, keyframe=True)] + [
        TrackedFrame(t, EMPTY, 0.0) for t in range(1, 11)] + [TrackedFrame(11, b, 0.9)]
    pulled: list[int] = []

    def source():  # type: ignore[no-untyped-def]
        for item in items:
            pulled.append(item.index)
            yield item.index, item

    out = []
    for index, item, _ in backfill(source(), StaticTracker(), lambda _: IMAGE, reach=4):
        # at most reach gap frames (plus the current one) are held back
        assert pulled[-1] - index <= 4
        out.append(item)
    assert [t for t in range(1, 11) if out[t].mask.any()] == [7, 8, 9, 10]
    # max_bytes lowers the reach: two frames of IMAGE's size
    out = _run(items, reach=30, max_bytes=2 * IMAGE.nbytes)
    assert [t for t in range(1, 11) if out[t].mask.any()] == [9, 10]


def test_nothing_is_held_while_the_tracker_is_sure_of_the_object() -> None:
    a = _mask(10, 20)
    pulled: list[int] = []

    def source(low: float):  # type: ignore[no-untyped-def]
        for t in range(6):
            pulled.append(t)
            yield t, TrackedFrame(t, a, low if t % 2 else 1.0)

    for index, _, seconds in backfill(source(0.45), StaticTracker(), lambda _: IMAGE):
        assert pulled[-1] == index
        assert seconds == 0.0
    # a doubtful frame is held until the tracker is sure again
    pulled.clear()
    lags = [pulled[-1] - index for index, _, _ in backfill(source(0.3), StaticTracker(), lambda _: IMAGE)]
    assert max(lags) == 1


class _UnsureStatic(StaticTracker):
    """The static tracker, doubtful of every mask it carries."""

    def _step(self, state: TrackState, frame: np.ndarray) -> tuple[np.ndarray, TrackState]:
        mask, new = super()._step(state, frame)
        return mask, replace(new, confidence=0.1)


def test_a_doubtful_backward_mask_is_taken_only_at_the_border() -> None:
    a, inside, border = _mask(10, 20), _mask(30, 40), _mask(50, 60)
    for found, taken in ((inside, False), (border, True)):
        items = [TrackedFrame(0, a, 1.0, keyframe=True), TrackedFrame(1, EMPTY, 0.0),
                 TrackedFrame(2, found, 0.9)]
        out = _run(items, tracker=_UnsureStatic())
        assert out[1].mask.any() == taken
        if taken:
            assert out[1].confidence == pytest.approx(0.1)  # doubtful, and said so


class _Sure(StaticTracker):
    """The static tracker, its confidence after each step read from a script."""

    def __init__(self, script: list[float]) -> None:
        super().__init__()
        self.script = list(script)

    def _step(self, state: TrackState, frame: np.ndarray) -> tuple[np.ndarray, TrackState]:
        mask, new = super()._step(state, frame)
        return mask, replace(new, confidence=self.script.pop(0))


def test_once_a_backward_mask_is_not_taken_no_later_one_is() -> None:
    a, b = _mask(10, 20), _mask(30, 40)
    items = [TrackedFrame(0, a, 1.0, keyframe=True)] + [
        TrackedFrame(t, EMPTY, 0.0) for t in (1, 2, 3)] + [TrackedFrame(4, b, 0.9)]
    # backward: frame 3 sure, frame 2 doubtful (not taken), frame 1 over the threshold again
    out = _run(items, tracker=_Sure([0.9, 0.2, 0.45]))
    np.testing.assert_array_equal(out[3].mask, b)
    assert not out[2].mask.any()
    assert not out[1].mask.any()  # the chain from the re-found mask was broken at frame 2
    # unbroken, the same confidence is taken
    out = _run(items, tracker=_Sure([0.9, 0.45, 0.45]))
    assert out[2].mask.any() and out[1].mask.any()
    assert out[1].confidence == pytest.approx(0.45)


def test_the_backward_pass_stops_at_a_keyframe() -> None:
    a, k, b = _mask(10, 20), _mask(20, 26), _mask(30, 40)
    items = [TrackedFrame(0, a, 1.0, keyframe=True), TrackedFrame(1, EMPTY, 0.0),
             TrackedFrame(2, k, 1.0, keyframe=True), TrackedFrame(3, EMPTY, 0.0),
             TrackedFrame(4, b, 0.9)]
    out = _run(items)
    np.testing.assert_array_equal(out[3].mask, b)
    assert out[2] is items[2]
    # the keyframe ended the first gap (from it, backward); the pass from frame 4 stopped there
    np.testing.assert_array_equal(out[1].mask, k)


def test_bad_arguments() -> None:
    with pytest.raises(TrackingError, match="reach"):
        list(backfill([], StaticTracker(), lambda _: IMAGE, reach=0))
    with pytest.raises(TrackingError, match="settle"):
        list(backfill([], StaticTracker(), lambda _: IMAGE, settle=-1))


def test_flow_tracker_covers_a_re_entry_it_found_late() -> None:
    """A real clip: the object leaves on the right and comes back in; only the first mask.

    The forward tracker finds it again once much of it is in (frame 24, 350 of ~700 px); the
    backward pass covers frames 20-23 (70-275 px in), and the mask reaches nowhere far from
    the object that it did not already reach. (Found a frame sooner, at 23, the backward
    pass also takes 19 px on the border at frame 18, where the object is about to come in:
    measured from where the object is, in the frame or not.)
    """
    out = make_clip(n=30, velocity=(8.0, 0.0), start=(60.0, 40.0), pan=(1.0, 0.0), seed=2)
    back = make_clip(n=30, velocity=(-3.0, 0.0), start=(200.0, 40.0), pan=(1.0, 0.0), seed=2)
    frames = np.concatenate([out.frames[:14], back.frames[14:]])
    truth = np.concatenate([out.masks[:14], back.masks[14:]])
    tracker = get_tracker("flow")
    plain = list(iter_track_frames(frames, {0: truth[0]}, tracker, backfill=False))
    filled = list(iter_track_frames(frames, {0: truth[0]}, tracker))

    def covered(items: list[TrackedFrame]) -> list[int]:
        return [t for t in range(1, 30) if truth[t].any()
                and frame_scores(items[t].mask, truth[t], 4)[0] >= 0.5]

    def far(mask: np.ndarray, t: int) -> int:
        """Mask pixels more than 20 px from the object, wherever it is (out of the frame too:
        a mask on the border the object is about to come in through is not far from it)."""
        cx, cy = (60.0 + 8.0 * t, 40.0) if t < 14 else (200.0 - 3.0 * t, 40.0)
        h, w = mask.shape
        yy, xx = np.mgrid[0:h, 0:w]
        dx = np.maximum(np.abs(xx - cx) - 18.0, 0.0)  # to the ellipse's box: a bound
        dy = np.maximum(np.abs(yy - cy) - 13.0, 0.0)
        return int(np.count_nonzero(mask & (np.hypot(dx, dy) > 20.0)))

    missed = [t for t in range(14, 30) if truth[t].any() and t not in covered(plain)]
    assert missed, "the forward tracker should miss the first frames of the re-entry"
    gained = set(covered(filled)) - set(covered(plain))
    assert len(gained) >= 2, (missed, sorted(gained))
    assert set(covered(plain)) <= set(covered(filled))
    for t in range(1, 30):  # nothing far from the object that the forward pass did not have
        assert far(filled[t].mask, t) <= far(plain[t].mask, t), t
        assert far(filled[t].mask, t) == 0 or t not in gained


def test_remove_file_mode_backfills_a_re_entry(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The mask source of ``remove``/``track`` (a first mask, tracked) backfills too, keeps
    frames in order and holds none back while the object is tracked."""
    from fractions import Fraction

    from moebius_video.engine.pipeline import MaskInput, MaskSource
    from moebius_video.io.frames import Frame, VideoInfo

    out = make_clip(n=30, velocity=(8.0, 0.0), start=(60.0, 40.0), pan=(1.0, 0.0), seed=2)
    back = make_clip(n=30, velocity=(-3.0, 0.0), start=(200.0, 40.0), pan=(1.0, 0.0), seed=2)
    frames = np.concatenate([out.frames[:14], back.frames[14:]])
    truth = np.concatenate([out.masks[:14], back.masks[14:]])
    h, w = truth.shape[1:]
    info = VideoInfo(tmp_path / "in.mp4", w, h, 30, Fraction(25), Fraction(1, 25))
    confidence: list[float] = []
    source = MaskSource(MaskInput(mask=truth[0]), info, tracker="flow", confidence=confidence)
    pulled: list[int] = []

    def decoded():  # type: ignore[no-untyped-def]
        for t in range(30):
            pulled.append(t)
            yield Frame(t, frames[t])

    masks = []
    for frame, mask, seconds in source(decoded()):
        assert frame.index == len(masks)
        assert seconds >= 0.0
        if frame.index < 10:
            assert pulled[-1] == frame.index  # tracked: nothing held back
        masks.append(mask)
        assert len(confidence) == len(masks)
    assert len(masks) == 30
    cover = [frame_scores(masks[t], truth[t], 4)[0] for t in range(20, 24)]
    assert min(cover) >= 0.5, cover


class _Scripted(StaticTracker):
    """Reads the frame index from pixel (0, 0) and answers from a script keyed by the index
    of the frame it was started on: ``{start: {frame: (mask, confidence)}}``."""

    def __init__(self, script: dict[int, dict[int, tuple[np.ndarray, float]]]) -> None:
        self.script = script

    def _step(self, state: TrackState, frame: np.ndarray) -> tuple[np.ndarray, TrackState]:
        mask, conf = self.script[state.anchor_index][int(frame[0, 0, 0])]
        return mask.copy(), replace(state, index=state.index + 1, mask=mask, confidence=conf)


def test_no_backfill_between_keyframes() -> None:
    # frames 1-7 lie between keyframes 0 and 8: the fusion already has a backward pass from a
    # keyframe there. Forward, the object is lost at 3-4 and found again at 5; backward from 8
    # the tracker is unsure (0.3) but right. A backfill from frame 5 (a tracked mask, sure of
    # itself and wrong) must not replace frames 3-4; after the last keyframe it still runs.
    right, wrong, far = _mask(10, 20), _mask(40, 50), _mask(30, 40)
    fwd = {t: (right, 0.9) for t in (1, 2, 5, 6, 7)} | {3: (EMPTY, 0.0), 4: (EMPTY, 0.0)}
    from_8 = {t: (right, 0.3) for t in range(1, 8)}  # backward
    from_8 |= {9: (right, 0.9), 10: (EMPTY, 0.0), 11: (far, 0.9), 12: (far, 0.9)}  # forward
    script = {0: fwd, 8: from_8, 5: {t: (wrong, 0.9) for t in range(1, 5)},
              11: {t: (far, 0.9) for t in range(0, 11)}}
    frames = [np.full((H, W, 3), t, np.uint8) for t in range(13)]
    keys = {0: right, 8: right}
    plain = list(iter_track_frames(frames, keys, _Scripted(script), backfill=False))
    filled = list(iter_track_frames(frames, keys, _Scripted(script)))
    for t in range(9):
        np.testing.assert_array_equal(filled[t].mask, plain[t].mask)
    assert plain[3].mask.any() and not (plain[3].mask & wrong).any()
    # after the last keyframe: the gap at 10 takes the re-found mask tracked back from 11
    assert not plain[10].mask.any()
    np.testing.assert_array_equal(filled[10].mask, far)
