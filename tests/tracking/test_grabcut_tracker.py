"""The GrabCut-refined flow tracker (``"flow-grabcut"``) on synthetic clips."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from helpers import SynthClip, make_clip

from tracking import TrackingError, TrackState, available_trackers, get_tracker
from tracking.geometry import dilate_mask
from tracking.grabcut_tracker import GrabCutConfig, GrabCutFlowTracker
from tracking.metrics import coverage, jaccard


def _run(name: str, clip: SynthClip, first: np.ndarray, **kwargs: object) -> list[np.ndarray]:
    tracker = get_tracker(name, **kwargs)
    state = tracker.init(clip.frames[0], first)
    out = []
    for frame in clip.frames[1:]:
        mask, state = tracker.step(state, frame)
        assert mask.dtype == np.bool_ and mask.shape == frame.shape[:2]
        out.append(mask)
    return out


def _ious(pred: list[np.ndarray], clip: SynthClip) -> list[float]:
    return [jaccard(p, g) for p, g in zip(pred, clip.masks[1:], strict=True)]


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def test_registered_and_configurable() -> None:
    assert "flow-grabcut" in available_trackers()
    tracker = get_tracker("flow-grabcut", model="freeze", side=96, max_grow=3)
    assert isinstance(tracker, GrabCutFlowTracker)
    assert tracker.grabcut.model == "freeze" and tracker.grabcut.side == 96
    assert tracker.config.max_grow == 3
    for bad, match in (
        ({"model": "nope"}, "model"),
        ({"output": "nope"}, "output"),
        ({"side": 4}, "side"),
        ({"iterations": 0}, "iterations"),
        ({"band": -1.0}, "band"),
        ({"bogus": 1}, "bogus"),
    ):
        with pytest.raises(TrackingError, match=match):
            get_tracker("flow-grabcut", **bad)
    assert GrabCutConfig().feedback is False


def test_tracks_the_synthetic_clip(synth_clip: SynthClip) -> None:
    pred = _run("flow-grabcut", synth_clip, synth_clip.masks[0])
    covs = [coverage(dilate_mask(p, 4), g) for p, g in zip(pred, synth_clip.masks[1:], strict=True)]
    assert np.mean(_ious(pred, synth_clip)) > 0.9
    assert min(covs) > 0.99


def test_a_too_small_first_mask_grows_back_to_the_object(synth_clip: SynthClip) -> None:
    # the first mask misses a 4 px rim; plain flow keeps most of that error, GrabCut (whose
    # probable band reaches past the mask) gives the rim back on the first frame
    small = cv2.erode(synth_clip.masks[0].astype(np.uint8), _disk(4)) > 0
    plain = _ious(_run("flow", synth_clip, small), synth_clip)
    refined = _ious(_run("flow-grabcut", synth_clip, small), synth_clip)
    assert refined[0] > 0.9 and np.mean(refined) > 0.9
    assert np.mean(plain) < 0.8
    assert np.mean(refined) > np.mean(plain) + 0.15


@pytest.mark.parametrize("model", ["fg", "freeze", "adapt", "relearn"])
def test_a_too_large_first_mask_is_pulled_back_with_feedback(
    synth_clip: SynthClip, model: str
) -> None:
    # the first mask holds a 6 px rim of background: plain flow keeps part of it (the rim
    # that moves with the pan loses to the motion evidence, the rest is trusted as the
    # keyframe's), GrabCut fed back into the state pulls the mask back to the object
    big = cv2.dilate(synth_clip.masks[0].astype(np.uint8), _disk(6)) > 0
    plain = _ious(_run("flow", synth_clip, big), synth_clip)
    refined = _ious(
        _run("flow-grabcut", synth_clip, big, feedback=True, output="refined", model=model),
        synth_clip,
    )
    assert np.mean(plain[-5:]) < 0.85
    assert np.mean(refined[-5:]) > 0.9
    assert np.mean(refined[-5:]) > np.mean(plain[-5:]) + 0.1
    # the default (output only, no feedback) cannot undo it: the union keeps the rim
    union = _ious(_run("flow-grabcut", synth_clip, big), synth_clip)
    assert np.mean(union[-5:]) < 0.85


def test_accept_gate_keeps_the_flow_state(synth_clip: SynthClip) -> None:
    big = cv2.dilate(synth_clip.masks[0].astype(np.uint8), _disk(6)) > 0
    # a refinement that changes the mask by more than 1 % is not fed back
    gated = _ious(
        _run("flow-grabcut", synth_clip, big, feedback=True, output="refined", accept=0.01),
        synth_clip,
    )
    fed = _ious(_run("flow-grabcut", synth_clip, big, feedback=True, output="refined"), synth_clip)
    assert np.mean(fed[-5:]) > np.mean(gated[-5:]) + 0.03


def test_state_round_trips_with_the_models(synth_clip: SynthClip, tmp_path) -> None:
    tracker = get_tracker("flow-grabcut", model="freeze", feedback=True)
    state = tracker.init(synth_clip.frames[0], synth_clip.masks[0])
    assert state.extras["gc_fgd"].shape == (1, 65) and state.extras["gc_bgd"].shape == (1, 65)
    fgd = state.extras["gc_fgd"].copy()
    mask1, state1 = tracker.step(state, synth_clip.frames[1])
    again, _ = tracker.step(state, synth_clip.frames[1])
    np.testing.assert_array_equal(mask1, again)
    np.testing.assert_array_equal(state.extras["gc_fgd"], fgd)  # models are not modified
    np.savez(tmp_path / "state.npz", **state1.to_arrays())
    with np.load(tmp_path / "state.npz") as arrays:
        restored = TrackState.from_arrays(arrays)
    a, _ = tracker.step(state1, synth_clip.frames[2])
    b, _ = tracker.step(restored, synth_clip.frames[2])
    np.testing.assert_array_equal(a, b)


def test_object_leaving_and_tiny_objects() -> None:
    clip = make_clip(n=20, velocity=(8.0, 0.0), start=(70.0, 40.0), pan=(1.0, 0.0), seed=5)
    pred = _run("flow-grabcut", clip, clip.masks[0])
    assert not pred[-1].any() and not pred[-2].any()
    tiny = make_clip(n=4, radii=(3, 2), seed=2)  # below min_area: flow's mask as it is
    a = _run("flow-grabcut", tiny, tiny.masks[0])
    b = _run("flow", tiny, tiny.masks[0])
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
