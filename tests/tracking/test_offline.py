"""Offline propagation: keyframes in both directions, fusion, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import SynthClip, make_clip

from tracking import TrackingError, get_tracker
from tracking.geometry import dilate_mask
from tracking.metrics import coverage, jaccard
from tracking.offline import iter_track, track


class CountingFrames:
    """A random-access video that records which frames were decoded."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = frames
        self.reads: list[int] = []

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> np.ndarray:
        self.reads.append(index)
        return self.frames[index]


def test_two_keyframes_fused(synth_clip: SynthClip) -> None:
    n = len(synth_clip.frames)
    video = CountingFrames(synth_clip.frames)
    keys = {0: synth_clip.masks[0], n - 1: synth_clip.masks[n - 1]}
    masks = track(video, keys, tracker="flow")
    assert len(masks) == n
    np.testing.assert_array_equal(masks[0], synth_clip.masks[0])
    np.testing.assert_array_equal(masks[-1], synth_clip.masks[-1])
    ious = [jaccard(m, g) for m, g in zip(masks, synth_clip.masks, strict=True)]
    covs = [coverage(dilate_mask(m, 4), g) for m, g in zip(masks, synth_clip.masks, strict=True)]
    assert min(ious) > 0.75
    assert min(covs) > 0.97
    assert len(video.reads) <= 2 * n + 1  # each direction decodes each frame once


def test_fusion_beats_one_direction() -> None:
    clip = make_clip(n=16, velocity=(4.0, 1.5), seed=7)
    keys = {0: clip.masks[0], 15: clip.masks[15]}
    static = get_tracker("static")
    fused = track(clip.frames, keys, tracker=static)
    forward = track(clip.frames, {0: clip.masks[0]}, tracker=static)
    iou_f = np.mean([jaccard(m, g) for m, g in zip(fused, clip.masks, strict=True)])
    iou_1 = np.mean([jaccard(m, g) for m, g in zip(forward, clip.masks, strict=True)])
    assert iou_f > iou_1


def test_keyframe_in_the_middle_tracks_backward(synth_clip: SynthClip) -> None:
    masks = list(iter_track(synth_clip.frames, {8: synth_clip.masks[8]}))
    assert len(masks) == len(synth_clip.frames)
    ious = [jaccard(m, g) for m, g in zip(masks, synth_clip.masks, strict=True)]
    assert ious[8] == 1.0
    assert min(ious) > 0.7


def test_object_leaves_and_comes_back_with_keyframe() -> None:
    # same background (same seed, size and pan); the object exits right, then comes back
    out = make_clip(n=24, velocity=(8.0, 0.0), start=(60.0, 40.0), pan=(1.0, 0.0), seed=2)
    back = make_clip(n=24, velocity=(-6.0, 0.0), start=(232.0, 40.0), pan=(1.0, 0.0), seed=2)
    frames = np.concatenate([out.frames[:14], back.frames[14:]])
    truth = np.concatenate([out.masks[:14], back.masks[14:]])
    assert not truth[12].any() and not truth[14].any() and truth[16].any()
    masks = track(frames, {0: truth[0], 23: truth[23]}, tracker="flow")
    assert not masks[12].any() and not masks[13].any()  # gone: empty, no error
    assert jaccard(masks[6], truth[6]) > 0.7
    assert jaccard(masks[20], truth[20]) > 0.7  # back, from the next keyframe


def test_single_frame_video(synth_clip: SynthClip) -> None:
    out = track(synth_clip.frames[:1], {0: synth_clip.masks[0]})
    assert len(out) == 1
    np.testing.assert_array_equal(out[0], synth_clip.masks[0])


def test_offline_bad_inputs(synth_clip: SynthClip) -> None:
    frames, masks = synth_clip.frames, synth_clip.masks
    with pytest.raises(TrackingError, match="index 16"):
        track(frames, {16: masks[0]})
    with pytest.raises(TrackingError, match="index -1"):
        track(frames, {-1: masks[0]})
    with pytest.raises(TrackingError, match="non-integer"):
        track(frames, {"0": masks[0]})  # type: ignore[dict-item]
    with pytest.raises(TrackingError, match="non-empty mapping"):
        track(frames, {})
    with pytest.raises(TrackingError, match=r"keyframes\[3\] is empty"):
        track(frames, {0: masks[0], 3: np.zeros_like(masks[0])})
    with pytest.raises(TrackingError, match=r"keyframes\[0\] has size"):
        track(frames, {0: masks[0][:, :-1]})
    with pytest.raises(TrackingError, match="frames is empty"):
        track(frames[:0], {0: masks[0]})
    with pytest.raises(TrackingError, match="fusion_threshold"):
        track(frames, {0: masks[0]}, fusion_threshold=0.0)
    mixed = [frames[0], frames[1][:-1]]
    with pytest.raises(TrackingError, match="size"):
        track(mixed, {0: masks[0]})
