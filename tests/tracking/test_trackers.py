"""Streaming trackers: API, synthetic accuracy, state handling and bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from helpers import SynthClip, make_clip

import tracking
from tracking import DEFAULT_TRACKER, TrackingError, TrackState, available_trackers, get_tracker
from tracking.geometry import dilate_mask
from tracking.metrics import coverage, jaccard


def run_stream(name: str, clip: SynthClip, **kwargs: object) -> list[np.ndarray]:
    tracker = get_tracker(name, **kwargs)
    state = tracker.init(clip.frames[0], clip.masks[0])
    out = []
    for frame in clip.frames[1:]:
        mask, state = tracker.step(state, frame)
        assert mask.dtype == np.bool_ and mask.shape == frame.shape[:2]
        out.append(mask)
    return out


def scores(pred: list[np.ndarray], clip: SynthClip) -> tuple[float, float]:
    ious = [jaccard(p, g) for p, g in zip(pred, clip.masks[1:], strict=True)]
    covs = [coverage(dilate_mask(p, 4), g) for p, g in zip(pred, clip.masks[1:], strict=True)]
    return float(np.mean(ious)), float(np.min(covs))


def test_registry() -> None:
    names = available_trackers()
    assert {"static", "dis", "flow", "flow-fast"} <= set(names)
    assert DEFAULT_TRACKER in names
    assert DEFAULT_TRACKER == "flow"
    for name in names:
        assert get_tracker(name).name == name
    with pytest.raises(TrackingError, match="nope"):
        get_tracker("nope")
    with pytest.raises(TrackingError, match="bogus"):
        get_tracker("flow", bogus=1)
    assert issubclass(TrackingError, ValueError)
    assert tracking.MaskTracker is not None


def test_flow_tracks_panning_synthetic(synth_clip: SynthClip) -> None:
    iou, cov = scores(run_stream("flow", synth_clip), synth_clip)
    static_iou, static_cov = scores(run_stream("static", synth_clip), synth_clip)
    assert iou > 0.8
    assert cov > 0.97
    assert static_iou < iou - 0.3
    assert static_cov < cov


def test_dis_baseline_follows_at_first(synth_clip: SynthClip) -> None:
    # plain warping drifts on this clip (the object and the pan differ by 1 px/frame and
    # DIS smooths across the boundary), but it follows the first frames better than static
    short = SynthClip(synth_clip.frames[:4], synth_clip.masks[:4])
    dis_iou, _ = scores(run_stream("dis", short), short)
    static_iou, _ = scores(run_stream("static", short), short)
    assert dis_iou > 0.55
    assert dis_iou > static_iou


def test_flow_fast_object() -> None:
    clip = make_clip(n=12, velocity=(7.0, 2.0), start=(25.0, 30.0), seed=3)
    iou, cov = scores(run_stream("flow", clip), clip)
    assert iou > 0.7
    assert cov > 0.9


def test_state_is_not_modified_and_round_trips(synth_clip: SynthClip, tmp_path) -> None:
    tracker = get_tracker("flow")
    state = tracker.init(synth_clip.frames[0], synth_clip.masks[0])
    mask1, state1 = tracker.step(state, synth_clip.frames[1])
    again, _ = tracker.step(state, synth_clip.frames[1])  # the old state is still usable
    np.testing.assert_array_equal(mask1, again)
    assert state.index == 0 and state1.index == 1
    np.savez(tmp_path / "state.npz", **state1.to_arrays())
    with np.load(tmp_path / "state.npz") as arrays:
        restored = TrackState.from_arrays(arrays)
    assert restored.index == 1
    a, _ = tracker.step(state1, synth_clip.frames[2])
    b, _ = tracker.step(restored, synth_clip.frames[2])
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TrackingError, match="prev_gray"):
        TrackState.from_arrays({"index": np.array(0), "mask": mask1})


@pytest.mark.parametrize("name", ["static", "dis", "flow", "flow-fast"])
def test_bad_inputs(name: str, synth_clip: SynthClip) -> None:
    tracker = get_tracker(name)
    frame, mask = synth_clip.frames[0], synth_clip.masks[0]
    with pytest.raises(TrackingError, match="empty"):
        tracker.init(frame, np.zeros_like(mask))
    with pytest.raises(TrackingError, match="size"):
        tracker.init(frame, mask[:-1])
    with pytest.raises(TrackingError, match="uint8"):
        tracker.init(frame.astype(np.float32), mask)
    with pytest.raises(TrackingError, match="H,W,3"):
        tracker.init(frame[..., 0], mask)
    with pytest.raises(TrackingError, match="numpy"):
        tracker.init(frame.tolist(), mask)  # type: ignore[arg-type]
    state = tracker.init(frame, mask.astype(np.uint8) * 255)  # numeric masks: non-zero
    with pytest.raises(TrackingError, match="size"):
        tracker.step(state, frame[:-2])
    with pytest.raises(TrackingError, match="TrackState"):
        tracker.step("state", frame)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["flow", "flow-fast"])
def test_object_leaving_the_frame(name: str) -> None:
    clip = make_clip(n=20, velocity=(8.0, 0.0), start=(70.0, 40.0), pan=(1.0, 0.0), seed=5)
    assert not clip.masks[-1].any()
    pred = run_stream(name, clip)  # keeps stepping on empty masks without an error
    assert not pred[-1].any() and not pred[-2].any()
    leaving = [i for i in range(1, len(clip.masks)) if clip.masks[i].any()]
    covs = [coverage(dilate_mask(pred[i - 1], 4), clip.masks[i]) for i in leaving]
    assert np.mean(covs) > 0.8


def test_tiny_frames_and_objects() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)
    mask = np.zeros((12, 10), bool)
    mask[5, 5] = True
    for name in available_trackers():
        tracker = get_tracker(name)
        state = tracker.init(frame, mask)
        out, state = tracker.step(state, frame)
        assert out.shape == (12, 10)


def test_flow_config_checks() -> None:
    with pytest.raises(TrackingError, match="max_grow"):
        get_tracker("flow", max_grow=-1)
    with pytest.raises(TrackingError, match="area_budget"):
        get_tracker("flow", area_budget=0.5)
    with pytest.raises(TrackingError, match="adapt"):
        get_tracker("flow", adapt=2.0)
    with pytest.raises(TrackingError, match="color_bins"):  # a knob that became a constant
        get_tracker("flow", color_bins=8)
    tracker = get_tracker("flow", motion=False, match=False)
    clip = make_clip(n=4)
    state = tracker.init(clip.frames[0], clip.masks[0])
    for frame in clip.frames[1:]:
        mask, state = tracker.step(state, frame)
    assert jaccard(mask, clip.masks[-1]) > 0.6


def _blinking_clip() -> tuple[SynthClip, list[int]]:
    """An object that vanishes for a few frames (fully occluded) and comes back further on."""
    clip = make_clip(n=24, h=96, w=192, pan=(0.0, 0.0), velocity=(6.0, 0.0), start=(30.0, 48.0))
    plain = make_clip(n=24, h=96, w=192, pan=(0.0, 0.0), start=(-99.0, -99.0))
    frames = clip.frames.copy()
    masks = clip.masks.copy()
    hidden = list(range(6, 12))
    for t in hidden:  # the same background without the object
        frames[t] = np.where(clip.masks[t][..., None], plain.frames[t], frames[t])
        masks[t] = False
    return SynthClip(frames, masks), hidden


def test_flow_redetects_after_full_occlusion() -> None:
    clip, hidden = _blinking_clip()
    late = range(hidden[-1] + 4, len(clip.masks))
    pred = run_stream("flow", clip)
    covs = [coverage(dilate_mask(pred[t - 1], 4), clip.masks[t]) for t in late]
    ious = [jaccard(pred[t - 1], clip.masks[t]) for t in late]
    assert np.mean(covs) > 0.8 and np.mean(ious) > 0.5
    # without re-detection the mask dies while the object is hidden and never comes back
    pred_off = run_stream("flow", clip, redetect=False)
    assert np.mean([coverage(dilate_mask(pred_off[t - 1], 4), clip.masks[t]) for t in late]) < 0.5


def test_flow_redetect_ignores_an_absent_object() -> None:
    clip = make_clip(n=20, velocity=(8.0, 0.0), start=(70.0, 40.0), pan=(1.0, 0.0), seed=5)
    pred = run_stream("flow", clip)  # the object left: nothing on the background is taken for it
    assert not pred[-1].any() and not pred[-2].any()


def test_flow_finds_an_object_back_after_it_left_the_frame() -> None:
    """Out through the right border, out of sight for a while, then back the same way.

    Re-entry needs the keyframe's colours matched with its shape as the template's mask: the
    grey template with its background filled by its mean, used before, scored ~0.6 on the
    object fully back in and never passed the 0.7 re-entry bar (coverage 0 after re-entry).
    An object half in is found too, by matching the part of the template inside the frame
    along the border (before: nothing until it was fully in).
    """
    out = make_clip(n=20, velocity=(8.0, 0.0), start=(70.0, 40.0), pan=(0.0, 0.0), seed=5)
    gone = [i for i, m in enumerate(out.masks) if not m.any()]
    assert gone, "the object must leave the frame"
    back = out.frames[::-1][1:]
    clip = SynthClip(
        np.concatenate([out.frames, back]), np.concatenate([out.masks, out.masks[::-1][1:]])
    )
    pred = run_stream("flow", clip)
    n = len(out.frames)
    for t in range(n, len(clip.masks)):  # nothing while it is out
        if not clip.masks[t].any():
            assert not pred[t - 1].any(), t
    full = clip.masks[0].sum()
    half_in = [t for t in range(n, len(clip.masks)) if clip.masks[t].sum() >= 0.5 * full]
    assert half_in and clip.masks[half_in[0]].sum() < 0.9 * full, "it must come in gradually"
    # a lost object is searched for every second frame: it may be found a frame late
    found = half_in[1:]
    covs = [coverage(dilate_mask(pred[t - 1], 4), clip.masks[t]) for t in found]
    ious = [jaccard(pred[t - 1], clip.masks[t]) for t in found]
    assert min(covs) > 0.9 and np.mean(ious) > 0.6, (covs, ious)


def _decoy_exit_clip(n: int = 40) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A textured orange ellipse (160 x 80 px) going out through the right border at 20 px a
    frame (out in frames 15-24) and back the same way, over a still textured scene at
    640x360; at the left border, still, a copy of the object's right 96 px, as if it were
    coming in there."""
    rng = np.random.default_rng(7)
    h, w = 360, 640
    scene = np.repeat(cv2.GaussianBlur(rng.integers(0, 256, (h, w), np.uint8), (7, 7), 0)[..., None], 3, 2)
    texture = cv2.normalize(
        cv2.GaussianBlur(rng.random((h, w), np.float32), (0, 0), 4), None, 0, 255, cv2.NORM_MINMAX
    ).astype(np.uint8)

    def painted(rgb: np.ndarray, cx: int, cy: int) -> np.ndarray:
        shape = np.zeros((h, w), np.uint8)
        cv2.ellipse(shape, (cx, cy), (80, 40), 0, 0, 360, 1, -1)
        mask = shape > 0
        tex = np.roll(texture, (cy - 180, cx - 420), axis=(0, 1))[mask]
        rgb[mask] = np.stack([tex // 3 + 170, tex // 3 + 90, tex // 6], axis=1)
        return mask

    painted(scene, 16, 120)  # the decoy
    go = [420 + 20 * t for t in range(18)]
    xs = go + [go[-1]] * (n - 2 * len(go)) + go[::-1]
    frames, masks = [], []
    for cx in xs:
        rgb = scene.copy()
        masks.append(painted(rgb, cx, 240))
        frames.append(rgb)
    return frames, masks


def test_flow_looks_for_an_object_gone_out_only_where_it_went_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An object that went out through the right border is looked for coming back through
    that border only (tracking.flow_tracker._EXIT_SIDE): the still copy of its right part
    at the left border is never taken for it. Measured: nothing of the frame more than 20 px
    from the object in the mask, and the object found again once it is back in; with the
    search on every border the mask jumped to the copy as the object went out (3.2 % of the
    frame)."""
    import tracking.flow_tracker as ft

    frames, masks = _decoy_exit_clip()
    assert [t for t, m in enumerate(masks) if not m.any()] == list(range(15, 25))
    covs, coll = _coverages(frames, masks)
    assert coll == 0.0, coll
    assert min(covs[:13]) > 0.95 and min(covs[28:]) > 0.95, covs
    monkeypatch.setattr(ft, "_EXIT_SIDE", False)
    _, coll_off = _coverages(frames, masks)
    assert coll_off > 0.02, coll_off


def test_coarse_to_fine_search_finds_what_the_full_search_finds() -> None:
    """Re-detection's search (``_best_match``) against the plain masked correlation over the
    whole image: the same place and score, on textures with a pasted copy of the template
    and look-alike distractors."""
    from tracking.flow_tracker import _best_match, _masked_scores

    rng = np.random.default_rng(7)
    for trial in range(6):
        image = cv2.GaussianBlur(rng.integers(0, 256, (150, 260, 3)).astype(np.uint8), (0, 0), 2.0)
        th, tw = 40, 56
        template = cv2.GaussianBlur(rng.integers(0, 256, (th, tw, 3)).astype(np.uint8), (0, 0), 1.5)
        weight = np.zeros((th, tw), np.uint8)
        cv2.ellipse(weight, (tw // 2, th // 2), (tw // 2 - 2, th // 2 - 2), 0, 0, 360, 1, -1)
        x, y = int(rng.integers(0, 260 - tw)), int(rng.integers(0, 150 - th))
        noisy = np.clip(template.astype(np.int16) + rng.integers(-12, 13, template.shape), 0, 255).astype(np.uint8)
        region = image[y : y + th, x : x + tw]
        region[weight > 0] = noisy[weight > 0]
        for _ in range(2):  # dimmer copies elsewhere
            dx, dy = int(rng.integers(0, 260 - tw)), int(rng.integers(0, 150 - th))
            region = image[dy : dy + th, dx : dx + tw]
            region[weight > 0] = (0.6 * template[weight > 0] + 0.4 * region[weight > 0]).astype(np.uint8)
        img, tmpl, w = image.astype(np.float32), template.astype(np.float32), weight.astype(np.float32)
        _, full, _, loc = cv2.minMaxLoc(_masked_scores(img, tmpl, w))
        best, where = _best_match(img, tmpl, w)
        assert where == tuple(loc) and abs(best - full) < 1e-5, (trial, where, loc, best, full)


def test_coarse_to_fine_search_refines_only_the_close_peaks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A coarse peak far below the best one is not refined; two equal candidates both are,
    and the better one is returned."""
    import tracking.flow_tracker as ft

    rng = np.random.default_rng(3)
    th, tw = 40, 56
    template = cv2.GaussianBlur(rng.integers(0, 256, (th, tw, 3)).astype(np.uint8), (0, 0), 1.5)
    weight = np.ones((th, tw), np.float32)
    refined: list[tuple[int, int]] = []
    full_search = ft._full_search

    def counting(image: np.ndarray, tmpl: np.ndarray, w: np.ndarray) -> tuple[float, tuple[int, int]]:
        refined.append(image.shape[:2])
        return full_search(image, tmpl, w)

    monkeypatch.setattr(ft, "_full_search", counting)
    image = cv2.GaussianBlur(rng.integers(0, 256, (150, 260, 3)).astype(np.uint8), (0, 0), 2.0)
    image[20 : 20 + th, 30 : 30 + tw] = template
    best, where = ft._best_match(image.astype(np.float32), template.astype(np.float32), weight)
    assert where == (30, 20) and best > 0.99
    assert len(refined) == 1  # the other peaks are background: far below
    refined.clear()
    noisy = np.clip(template.astype(np.int16) + rng.integers(-6, 7, template.shape), 0, 255)
    image[90 : 90 + th, 180 : 180 + tw] = noisy.astype(np.uint8)  # a near-copy
    best, where = ft._best_match(image.astype(np.float32), template.astype(np.float32), weight)
    assert where == (30, 20) and best > 0.99
    assert len(refined) == 2


def test_motion_evidence_and_medians_keep_their_definitions() -> None:
    """The per-pixel motion evidence and the median flows (computed on split planes with
    ``cv2.magnitude`` for speed) equal their plain numpy definitions: +1 where a pixel moves
    like the object's model, -1 like the background's, 0 where the models agree."""
    import tracking.flow_tracker as ft

    rng = np.random.default_rng(5)
    h, w = 60, 80
    obj = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, -1.0], [0, 0, 1]])  # a shift of (3, -1)
    bg = np.array([[1.02, 0.01, -2.0], [-0.01, 1.02, 0.5], [0, 0, 1]])  # a zoom and a pan
    new_origin, old_origin = (10, 5), (12, 4)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)

    def model_flow(m: np.ndarray, origin_new: tuple[int, int]) -> np.ndarray:
        gx, gy = xs + origin_new[0], ys + origin_new[1]
        u = m[0, 0] * gx + m[0, 1] * gy + m[0, 2] - old_origin[0] - xs
        v = m[1, 0] * gx + m[1, 1] * gy + m[1, 2] - old_origin[1] - ys
        return np.stack([u, v], -1)

    f_obj, f_bg = model_flow(obj, (0, 0)), model_flow(bg, new_origin)
    flow = np.where((xs < 40)[..., None], f_obj, f_bg) + rng.normal(0, 0.2, (h, w, 2))
    flow = flow.astype(np.float32)
    planes = cv2.split(flow)
    got = ft._motion_evidence(planes, obj, bg, new_origin, old_origin)
    assert got is not None
    sep = np.linalg.norm(f_obj - f_bg, axis=2)
    want = np.clip((np.linalg.norm(flow - f_bg, axis=2) - np.linalg.norm(flow - f_obj, axis=2))
                   / np.maximum(sep, 0.5), -1, 1)
    want[sep < ft._MOTION_MIN_SEP] = 0
    assert np.abs(got - want).max() < 1e-4
    assert got[:, :30].mean() > 0.8 and got[:, 50:].mean() < -0.8  # the two halves told apart
    # the two models agreeing everywhere: nothing to tell
    assert ft._motion_evidence(planes, obj, obj, (0, 0), old_origin) is None
    where = rng.random((h, w)) < 0.3
    assert np.allclose(ft._median_flow(planes, where), np.median(flow[where], axis=0))


def test_flow_stays_confident_while_a_well_tracked_object_goes_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reference shape is kept on a canvas larger than the frame: the part carried out
    through the border is not expected in view. Measured on this clip: confidence 1.0 at
    55 % and 28 % in view (coverage 1.0); with the shape clipped at the border (no canvas),
    0.0 from 55 % on, so a well-tracked exit was reported doubtful."""
    import tracking.flow_tracker as ft

    clip = make_clip(n=12, velocity=(8.0, 0.0), start=(70.0, 40.0), pan=(1.0, 0.0), seed=5)
    full = int(clip.masks[0].sum())

    def going_out() -> list[tuple[float, float]]:
        tracker = get_tracker("flow")
        state = tracker.init(clip.frames[0], clip.masks[0])
        rows = []
        for t in range(1, 12):
            mask, state = tracker.step(state, clip.frames[t])
            share = clip.masks[t].sum() / full
            if 0.25 <= share <= 0.6:
                assert coverage(mask, clip.masks[t]) > 0.95
                rows.append((share, state.confidence))
        return rows

    rows = going_out()
    assert len(rows) >= 2 and min(c for _, c in rows) >= 0.5, rows
    monkeypatch.setattr(ft, "_REF_PAD", 0.0)  # clipped at the border, as before
    assert max(c for _, c in going_out()) < 0.4


def test_static_scene_tells_the_background_left_behind_from_the_object() -> None:
    """Over a few frames, the background the object left is explained by the background's
    motion and not by the object's; the object is the other way round; a parked object
    (both motions alike) is not told at all."""
    import tracking.flow_tracker as ft

    rng = np.random.default_rng(3)
    h, w = 80, 120
    scene = cv2.GaussianBlur(rng.integers(0, 256, (h, w), np.uint8), (3, 3), 0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (30, 30), np.uint8), (3, 3), 0)
    step = 2  # the object moves 2 px right a frame; the camera is still

    def frame(t: int) -> np.ndarray:
        out = scene.copy()
        out[25:55, 20 + step * t : 50 + step * t] = texture
        return out

    still = np.eye(3)
    n = 6
    moved = np.array([[1.0, 0, -step * n], [0, 1.0, 0], [0, 0, 1]])  # frame n -> frame 0
    static = ft._static_scene(frame(0), still, moved, frame(n), (0, 0))
    assert static is not None and static.shape == (h, w)
    obj_x0 = 20 + step * n
    left = static[30:50, 4:16]  # scene in both frames, left of the object
    inside = static[30:50, obj_x0 + 4 : obj_x0 + 26]  # the object now
    assert left.mean() > 0.9, left.mean()
    assert not inside.any()
    # a region given by its origin in the frame: the same answer there
    part = ft._static_scene(frame(0), still, moved, frame(n)[20:60, 0:70], (0, 20))
    assert part is not None and np.array_equal(part, static[20:60, 0:70])
    # the object's motion is the background's (a parked car): nothing to tell
    assert ft._static_scene(scene, still, still, scene, (0, 0)) is None


def test_static_scene_keeps_two_past_frames_with_their_composed_motions() -> None:
    """The past frame compared with is between half a span and a span old, and its models
    are the product of every frame's since; a jump (no step on the frame before) restarts."""
    import tracking.flow_tracker as ft

    span = ft._STATIC_SPAN
    extras: dict[str, np.ndarray] = {}
    shift = np.array([[1.0, 0, -1.0], [0, 1.0, 0.5], [0, 0, 1]])  # each frame onto the one before
    grays = [np.full((4, 4), t, np.uint8) for t in range(4 * span)]
    ages = []
    grow = np.diag([1.01, 1.01, 1.0])  # the raw fit: a small scale change too
    for t in range(1, 4 * span):
        past = ft._past_frames(extras, t - 1, np.eye(3), shift, shift @ grow)
        if past:
            gray, bg, obj, age, raw = past[0]
            assert int(gray[0, 0]) == t - age  # the frame that many back
            np.testing.assert_allclose(obj, np.linalg.matrix_power(shift, age))
            np.testing.assert_allclose(raw, np.linalg.matrix_power(shift @ grow, age))
            np.testing.assert_allclose(bg, np.eye(3))
            ages.append(age)
        ft._keep_past(extras, past, grays[t], t)
    assert min(ages[span:]) >= span // 2 and max(ages) == span
    assert len([k for k in extras if k.endswith("_gray")]) <= 2
    assert ft._past_frames(extras, 2 * span, np.eye(3), shift, shift) == []  # not the frame before


def test_scale_since_tells_the_scale_and_rotation_the_per_frame_fits_left_out() -> None:
    """A textured object that grew by 10 % (or turned by 6 degrees) since the past frame,
    which its motion model did not take: the pixels tell it; an unchanged object and a
    flat one tell nothing."""
    import tracking.flow_tracker as ft

    rng = np.random.default_rng(7)
    h, w = 120, 160
    old = cv2.GaussianBlur(rng.integers(0, 256, (h, w), np.uint8), (5, 5), 0)
    centre = np.array([80.0, 60.0])
    core = np.zeros((h, w), np.uint8)
    cv2.circle(core, (80, 60), 35, 1, -1)
    core = core > 0

    def now(model: np.ndarray) -> np.ndarray:  # model: new -> old
        return cv2.warpAffine(old, model[:2], (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)

    grown = ft._about(centre, 1 / 1.1)  # 10 % larger now
    found = ft._scale_since(old, np.eye(3), now(grown), core, (0, 0))
    assert found is not None
    _, log_s, angle = found
    assert abs(log_s - np.log(1 / 1.1)) < 0.02, log_s
    assert abs(angle) < np.deg2rad(1.0)
    turned = ft._about(centre, 1.0, np.deg2rad(6.0))
    found = ft._scale_since(old, np.eye(3), now(turned), core, (0, 0))
    assert found is not None
    _, log_s, angle = found
    assert abs(log_s) < 0.02 and abs(angle - np.deg2rad(6.0)) < np.deg2rad(1.5), (log_s, angle)
    # the same part of a region whose origin is given: the same answer
    region = now(grown)[10:110, 20:150]
    found = ft._scale_since(old, np.eye(3), region, core[10:110, 20:150], (20, 10))
    assert found is not None and abs(found[1] - np.log(1 / 1.1)) < 0.02
    # what the model carried already, or nothing to tell it by: nothing
    assert ft._scale_since(old, grown, now(grown), core, (0, 0)) is None
    flat = np.full((h, w), 90, np.uint8)
    assert ft._scale_since(flat, np.eye(3), flat, core, (0, 0)) is None


def test_the_keyframe_is_registered_on_the_frame_with_its_turn_and_size() -> None:
    """The keyframe (a textured, irregular object) found on a frame where it turned by 9
    degrees, grew by 8 % and moved, from a carried model that knows only the move (a few
    px off): the map is the true one within half a pixel over the object. On a frame where
    the object is not, or a flat one, nothing is registered."""
    import tracking.flow_tracker as ft

    rng = np.random.default_rng(3)
    h, w = 160, 220
    scene = cv2.GaussianBlur(rng.integers(0, 256, (h, w), np.uint8), (7, 7), 0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (h, w), np.uint8), (3, 3), 0)
    shape = np.zeros((h, w), np.uint8)
    cv2.ellipse(shape, (100, 80), (40, 24), 20, 0, 360, 1, -1)
    cv2.rectangle(shape, (60, 70), (80, 110), 1, -1)  # not a symmetric blob
    key = np.where(shape > 0, texture, scene)
    x0, y0, x1, y1 = 55, 50, 145, 115  # the keyframe's box
    truth = ft._shift(110, 86) @ ft._about(np.zeros(2), 1.08, np.deg2rad(9.0)) @ ft._shift(-100, -80)
    moved = cv2.warpAffine(texture, truth[:2], (w, h))
    inside = cv2.warpAffine(shape * np.uint8(255), truth[:2], (w, h)) >= 128
    now = np.where(inside, moved, scene)
    extras = {
        "anchor_shape": shape[y0:y1, x0:x1].copy(),
        "anchor_gray": key[y0:y1, x0:x1].copy(),
        "anchor_at": np.array([x0, y0], np.int64),
        "anchor_centre": ft._centre(shape[y0:y1, x0:x1] > 0) + (x0, y0),
        "anchor_model": np.linalg.inv(ft._shift(13, 4)),  # new -> keyframe: the move, 3 px off
    }
    found = ft._key_registered(now, extras)
    assert found is not None
    to_frame, corr = found
    assert corr > 0.95, corr
    ys, xs = np.nonzero(extras["anchor_shape"])
    pts = np.stack([xs, ys, np.ones_like(xs)]).astype(np.float64)
    err = np.hypot(*((to_frame - truth @ ft._shift(x0, y0)) @ pts)[:2])
    assert err.max() < 0.5, err.max()
    # the object there but its pixels changed (noise of 60 levels: it registers, at a
    # correlation of 0.76, under _ANCHOR_CORR), the object not there (the scene alone), or
    # nothing to register on: nothing
    noisy = np.clip(moved + rng.normal(0, 60, moved.shape), 0, 255).astype(np.uint8)
    assert ft._key_registered(np.where(inside, noisy, scene), extras) is None
    assert ft._key_registered(scene, extras) is None
    assert ft._key_registered(np.full((h, w), 90, np.uint8), extras) is None


def _scaling_clip(rate: float, n: int = 30) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A textured disc growing or shrinking by ``rate`` a frame (under the per-frame fit's
    threshold), moving right over a textured background panning left."""
    rng = np.random.default_rng(1)
    h, w = 120, 160
    scene = cv2.GaussianBlur(rng.integers(0, 256, (h, w + n), np.uint8), (5, 5), 0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (200, 200), np.uint8), (5, 5), 0)
    frames, masks = [], []
    for t in range(n):
        s = rate**t
        cx, cy = 50 + 1.5 * t, 60.0
        frame = scene[:, t : t + w].copy()
        obj = cv2.warpAffine(texture, np.array([[s, 0, cx - 100 * s], [0, s, cy - 100 * s]]), (w, h))
        disc = np.zeros((h, w), np.uint8)
        cv2.circle(disc, (round(cx), round(cy)), round(18 * s), 1, -1)
        mask = disc > 0
        frame[mask] = obj[mask]
        frames.append(np.repeat(frame[..., None], 3, axis=2))
        masks.append(mask)
    return frames, masks


def test_flow_follows_a_slow_growth() -> None:
    """2.5 % a frame is under what a single frame's fit takes (_MIN_SCALE_STEP), but adds
    up to x2 in area over the clip: the change told against a frame 4-8 back keeps the mask
    on the whole object, and takes nothing of the scene. Without it the mask kept the
    keyframe's size (coverage 0.48 at the end). A shrinking object is not followed as well:
    see :data:`tracking.flow_tracker._SCALE_FIT`."""
    import tracking.flow_tracker as ft

    frames, masks = _scaling_clip(1.025)

    def run() -> tuple[float, float]:
        covs, coll = _coverages(frames, masks)
        return min(covs), coll

    cov, coll = run()
    assert cov > 0.95 and coll < 0.005, (cov, coll)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ft, "_SCALE_MIN", 0.0)  # the rule off
        patch.setattr(ft, "_SURE_FIT", 2.0)  # and the per-frame fit's (which takes 2.5 %)
        cov_off, _ = run()
    assert cov_off < 0.7, cov_off


def _handle_clip(
    n: int = 24, stretch: float = 0.0, swing: float = 0.0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A textured red disc with a straight handle 2 px wide (a spade, a lollipop) moving right
    over a textured background panning left, at 640x360: the handle is under one pixel
    wide at the flow tracker's working resolution. ``stretch``: the disc (not the handle)
    is squashed vertically by this fraction a frame, so that its shape no longer matches
    the keyframe's; ``swing``: the handle turns about where it meets the disc by this many
    degrees a frame (the disc does not)."""
    rng = np.random.default_rng(3)
    h, w = 360, 640
    scene = cv2.GaussianBlur(rng.integers(0, 256, (h, w + 2 * n), np.uint8), (7, 7), 0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (h, w), np.uint8), (5, 5), 0)
    frames, masks = [], []
    for t in range(n):
        cx, cy = 200 + 3 * t, 200
        frame = scene[:, 2 * t : 2 * t + w].copy()
        shape = np.zeros((h, w), np.uint8)
        ry = max(8, round(40 * (1 - stretch * t)))
        cv2.ellipse(shape, (cx, cy), (40, ry), 0, 0, 360, 1, -1)
        # the handle, 2 px wide, from the disc's top
        turn = np.deg2rad(swing * t)
        tip = (round(cx + 70 * np.sin(turn)), round(cy - ry - 70 * np.cos(turn)))
        cv2.line(shape, (cx, cy), tip, 1, 2)
        mask = shape > 0
        rgb = np.repeat(frame[..., None], 3, axis=2)
        tex = np.roll(texture, 3 * t, axis=1)[mask]
        rgb[mask] = np.stack([tex // 2 + 120, tex // 3, tex // 3], axis=1)  # a red object
        frames.append(rgb)
        masks.append(mask)
    return frames, masks


def _handle_scores(frames: list[np.ndarray], masks: list[np.ndarray]) -> tuple[float, float]:
    """The least coverage of the handle (the part above the disc) over the clip, and the
    worst collateral (20 px away from the object)."""
    from tracking.metrics import collateral

    tracker = get_tracker("flow")
    state = tracker.init(frames[0], masks[0])
    covs, colls = [], []
    for frame, truth in zip(frames[1:], masks[1:], strict=True):
        mask, state = tracker.step(state, frame)
        handle = truth.copy()
        handle[155:] = False
        covs.append(coverage(dilate_mask(mask, 2), handle))
        colls.append(collateral(dilate_mask(mask, 4), truth))
    return min(covs), max(colls)


def test_flow_keeps_a_thin_handle_the_working_resolution_cannot_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The keyframe's parts too thin for the working resolution are carried at full
    resolution by the object's motion, re-registered on its body every frame
    (tracking.flow_tracker._DETAIL). Measured: the handle's coverage 1.0 on every frame;
    without the rule its coverage falls to 0 within a frame (the working mask has no
    handle)."""
    import tracking.flow_tracker as ft

    frames, masks = _handle_clip()
    cov, coll = _handle_scores(frames, masks)
    assert cov > 0.9 and coll < 0.001, (cov, coll)
    monkeypatch.setattr(ft, "_DETAIL", False)
    cov_off, _ = _handle_scores(frames, masks)
    assert cov_off < 0.5, cov_off


def test_flow_does_not_carry_thin_parts_onto_a_body_that_changed_shape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A body squashed frame after frame no longer matches the keyframe's shape carried
    rigidly: its thin parts are not added there (a deforming object's thin parts are not
    where a rigid carry would put them)."""
    import tracking.flow_tracker as ft

    frames, masks = _handle_clip(stretch=0.03)

    def above() -> list[int]:
        tracker = get_tracker("flow")
        state = tracker.init(frames[0], masks[0])
        out = []
        for frame in frames[1:]:
            mask, state = tracker.step(state, frame)
            out.append(int(np.count_nonzero(mask[:155])))
        return out

    on = above()
    monkeypatch.setattr(ft, "_DETAIL", False)
    off = above()
    gained = [a - b for a, b in zip(on, off, strict=True)]
    # at first it is the keyframe's shape: the handle is added (measured 59 px at frame 1)
    assert gained[0] > 40, gained
    assert max(gained[-5:]) <= 0, gained  # measured 0 once the disc is 20-30 % flatter


def test_flow_does_not_carry_a_thin_part_that_moved_on_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The disc moves rigidly but its handle swings (4 degrees a frame): carried with the
    disc, the handle would cut through the scene beside the real one. It is added only
    where the frame shows its keyframe colour, standing out from the scene around it."""
    import tracking.flow_tracker as ft

    frames, masks = _handle_clip(swing=4.0)

    def astray() -> int:
        tracker = get_tracker("flow")
        state = tracker.init(frames[0], masks[0])
        worst = 0
        for frame, truth in zip(frames[1:], masks[1:], strict=True):
            mask, state = tracker.step(state, frame)
            worst = max(worst, int(np.count_nonzero(mask & ~dilate_mask(truth, 3))))
        return worst

    assert astray() < 20  # measured 0 px more than 3 px from the object
    monkeypatch.setattr(ft, "_DETAIL_TOL", 255)
    monkeypatch.setattr(ft, "_DETAIL_STAND", -1)  # the colour rules off
    assert astray() > 60  # measured: up to 270 px of carried handle astray


def _bar_clip(n: int = 36) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A textured orange ellipse (160 x 80 px) moving right 5 px a frame behind a static
    grey-blue bar 40 px wide, over a textured background panning left, at 640x360; the
    masks are what is visible of it. From frame 13 to 32 it shows on both sides of the bar."""
    rng = np.random.default_rng(5)
    h, w = 360, 640
    scene = cv2.GaussianBlur(rng.integers(0, 256, (h, w + 2 * n), np.uint8), (7, 7), 0)
    # the object's texture smooth enough to keep its colours at the working resolution
    texture = cv2.normalize(
        cv2.GaussianBlur(rng.random((h, w), np.float32), (0, 0), 4), None, 0, 255,
        cv2.NORM_MINMAX,
    ).astype(np.uint8)
    frames, masks = [], []
    for t in range(n):
        cx, cy = 170 + 5 * t, 190
        rgb = np.repeat(scene[:, 2 * t : 2 * t + w, None], 3, axis=2)
        shape = np.zeros((h, w), np.uint8)
        cv2.ellipse(shape, (cx, cy), (80, 40), 0, 0, 360, 1, -1)
        mask = shape > 0
        tex = np.roll(texture, 5 * t, axis=1)[mask]
        rgb[mask] = np.stack([tex // 3 + 170, tex // 3 + 90, tex // 6], axis=1)
        rgb[:, 300:340] = (70, 80, 110)  # the bar, in front
        mask[:, 300:340] = False
        frames.append(rgb)
        masks.append(mask)
    return frames, masks


def _coverages(frames: list[np.ndarray], masks: list[np.ndarray]) -> tuple[list[float], float]:
    """Coverage of what is visible on each frame, and the worst collateral."""
    from tracking.metrics import collateral

    tracker = get_tracker("flow")
    state = tracker.init(frames[0], masks[0])
    covs, colls = [], []
    for frame, truth in zip(frames[1:], masks[1:], strict=True):
        mask, state = tracker.step(state, frame)
        covs.append(coverage(dilate_mask(mask, 4), truth))
        colls.append(collateral(dilate_mask(mask, 4), truth))
    return covs, max(colls)


def test_flow_keeps_both_sides_of_an_object_passing_behind_a_bar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An object passing behind a bar shows on both sides of it: the keyframe carried by
    the object's motion finds the side coming out, and the mask holds both
    (tracking.flow_tracker._BEYOND). Measured: coverage at least 0.90 on every frame, the
    mask never more than 20 px off the object; without the rule the side coming out is
    missed until it is most of the object (coverage 0.33 at worst)."""
    import tracking.flow_tracker as ft

    frames, masks = _bar_clip()
    covs, coll = _coverages(frames, masks)
    assert min(covs) > 0.85 and coll < 0.001, (min(covs), coll)
    monkeypatch.setattr(ft, "_BEYOND", False)
    covs_off, _ = _coverages(frames, masks)
    assert min(covs_off) < 0.5, min(covs_off)
