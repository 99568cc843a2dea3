"""Regressions of the ``flow`` tracker on the package's demo scene (``moebius_video.synthetic``).

Split mask
----------

The object of the demo scene uncovers background it hid on the keyframe (colours neither
colour model has seen). Before the fix, photo-inconsistent pixels of such a colour on the
trailing side were a tie the mask kept: a blob of ~1800 px stuck to the panning background
and was carried for ~50 frames while the object moved on (with ``novel_logit=0`` it is back:
up to ~1850 px far from the object).

Fast, grey-textureless object
-----------------------------
A 40-frame demo scene moves the object ~2.3 times faster, and its two stripe colours have
almost the same grey level (113 and 115): the template matching and the flow, which ran on
grey, saw a flat blob; the mask lagged and leaked over ~24000 px of background (mean J 0.47).
The tracker now matches and computes the flow on the colours' main axis for such objects.

Issue 13 (motion-carried shape, growth budgets)
-----------------------------------------------
The tracker that cannot run away is bounded here by the issue's promise (under 1 % of the
frame wrongly masked; measured here at > 7 px, stricter than the issue's 20 px) rather than
by the previous tracker's figures, which it does not match on this scene: far pixels up to
1446 (0.63 % of the frame; before: <= 100), worst-frame coverage 0.92 (before: >= 0.98); on
the fast scene far up to 5 px, mean IoU 0.87 (before: >= 0.9), mean coverage 0.88 (before:
>= 0.98). The striped object's flow is ambiguous along its stripes, so its motion model lags
a little: a known weakness.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tracking import TrackState, get_tracker

synthetic = pytest.importorskip("moebius_video.synthetic")

FRAMES = 40  # of the default 90-frame scene: the leak starts near frame 8


def _far_pixels(
    frames: int = FRAMES, num_frames: int = 90, **overrides: object
) -> tuple[list[int], list[float], list[float]]:
    """Per frame: tracked pixels far (> 7 px) from the true object, coverage and IoU."""
    scene = synthetic.SyntheticScene(synthetic.SceneConfig(num_frames=num_frames))
    tracker = get_tracker("flow", **overrides)
    first = scene.frame(0)
    state = tracker.init(first.image, first.mask)
    far, cover, iou = [], [], []
    kernel = np.ones((15, 15), np.uint8)
    for index in range(1, frames):
        frame = scene.frame(index)
        mask, state = tracker.step(state, frame.image)
        near = cv2.dilate(frame.mask.astype(np.uint8), kernel) > 0
        far.append(int(np.count_nonzero(mask & ~near)))
        inter = np.count_nonzero(mask & frame.mask)
        cover.append(inter / np.count_nonzero(frame.mask))
        iou.append(inter / np.count_nonzero(mask | frame.mask))
    return far, cover, iou


def test_demo_scene_mask_does_not_stick_to_uncovered_background() -> None:
    far, cover, _ = _far_pixels()
    assert max(far) <= 0.01 * 640 * 360, far
    assert min(cover) >= 0.85, cover


def test_demo_scene_is_covered_to_its_last_frame() -> None:
    """``moebius-video demo``'s clip, all 90 frames (issue 13's regression).

    The stripes make the flow ambiguous: the motion model's scale wandered by 2-6 % on single
    frames and the expected area compounded it (x1.4 by frame 40), so the area term and the
    RANSAC inlier share (low on stripes and on any deforming object) drove the confidence to
    0 and the mask was emptied from frame 54 (mean coverage 0.68, min 0). Measured after that
    fix: mean 0.907, min 0.745: the confidence stayed under the doubtful bar, so the mask
    was held and shrank while re-detection found the keyframe's appearance right there
    (match 0.86-0.98). A close match overlapping the held mask now restarts from the
    keyframe's shape there: mean 0.990, min 0.917. What is still weak: the object rotates,
    so a re-detection places the keyframe's unrotated shape.
    """
    far, cover, _ = _far_pixels(frames=90)
    assert max(far) <= 0.01 * 640 * 360, far
    assert np.mean(cover) >= 0.95 and min(cover) >= 0.85, cover


def test_demo_clip_as_encoded_is_covered(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The demo clip as ``moebius-video demo`` writes it (H.264), decoded: what users track.

    Compression moves the stripes' colours from frame to frame, so the colour term is lower
    than on the raw frames. Before: mean coverage 0.870, worst frame 0.578; two faults:
    the held mask (above), and a re-detected object dropped a frame later because the count
    of frames without evidence was not reset when it was found (an empty frame, coverage
    0). After: mean 0.951, worst 0.796 (x264's output varies a little from run to run).
    Since the tracker lets go of the scene an object leaves behind (told against a frame 4-8
    back): mean 0.975, worst 0.912. Told on every side of the object, not only the side it
    moved away from, the stripes, which run along its motion, looked like the scene at its
    leading edge: a crescent of the ellipse left out in frames 78-82, mean 0.946, worst
    0.752.
    """
    av = pytest.importorskip("av")
    scene = synthetic.SyntheticScene(synthetic.SceneConfig())
    path = tmp_path / "demo.mp4"
    synthetic.write_scene_clip(path, scene, audio=False)
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == len(scene)
    tracker = get_tracker("flow")
    state = tracker.init(frames[0], scene.frame(0).mask)
    far, cover = [], []
    kernel = np.ones((41, 41), np.uint8)  # the 20 px
    for index in range(1, len(frames)):
        mask, state = tracker.step(state, frames[index])
        true = scene.frame(index).mask
        far.append(int(np.count_nonzero(mask & ~(cv2.dilate(true.view(np.uint8), kernel) > 0))))
        cover.append(np.count_nonzero(mask & true) / np.count_nonzero(true))
    assert max(far) <= 0.01 * true.size, far
    assert np.mean(cover) >= 0.95 and min(cover) >= 0.85, cover


def test_fast_demo_scene_with_grey_textureless_object() -> None:
    scene = synthetic.SyntheticScene(synthetic.SceneConfig(num_frames=40))
    first = scene.frame(0)
    state = get_tracker("flow").init(first.image, first.mask)
    assert "projection" in state.extras  # the object is flat in grey
    far, cover, iou = _far_pixels(frames=40, num_frames=40)
    assert max(far) <= 0.01 * 640 * 360, far
    assert float(np.mean(iou)) >= 0.8, iou
    assert float(np.mean(cover)) >= 0.85


def test_textured_object_keeps_grey() -> None:
    scene = synthetic.SyntheticScene(synthetic.SceneConfig())
    first = scene.frame(0)
    state = get_tracker("flow").init(first.image, first.mask)
    assert "projection" not in state.extras


def test_projection_survives_the_state_round_trip() -> None:
    scene = synthetic.SyntheticScene(synthetic.SceneConfig(num_frames=40))
    tracker = get_tracker("flow")
    first = scene.frame(0)
    state = tracker.init(first.image, first.mask)
    restored = TrackState.from_arrays(state.to_arrays())
    a, _ = tracker.step(state, scene.frame(1).image)
    b, _ = tracker.step(restored, scene.frame(1).image)
    assert np.array_equal(a, b)
