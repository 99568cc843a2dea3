"""Doubtful frame ranges, and offline fusion that respects confidence and keyframes."""

from __future__ import annotations

import numpy as np
from helpers import make_clip

from tracking import doubtful_ranges, format_ranges, iter_track_frames
from tracking.metrics import jaccard
from tracking.offline import _fuse


def test_doubtful_ranges_group_and_suggest() -> None:
    conf = [1.0] * 5 + [0.3, 0.1, 0.35] + [0.9] * 2 + [0.2] + [1.0] * 3 + [0.0] * 45
    ranges = doubtful_ranges(conf, offset=100)
    assert [(r.start, r.end) for r in ranges] == [(105, 110), (114, 158)]
    assert ranges[0].min_confidence == 0.1 and ranges[0].keyframes == (106,)
    assert len(ranges[1].keyframes) == 3  # one per 20 doubtful frames
    assert all(r.start <= k <= r.end for r in ranges for k in r.keyframes)
    assert ranges[1].to_dict()["suggested_keyframes"] == list(ranges[1].keyframes)
    assert doubtful_ranges([1.0, 0.9]) == []
    assert "no doubtful frames" in format_ranges([])
    assert "add a keyframe at 106" in format_ranges(ranges)


def test_fusion_gives_way_to_the_confident_and_near_direction() -> None:
    fwd = np.zeros((10, 10), bool)
    fwd[:5] = True
    bwd = np.zeros((10, 10), bool)
    bwd[5:] = True
    # equally far, the forward direction lost the object: the backward mask wins
    assert np.array_equal(_fuse(5, fwd, 0.0, 5, bwd, 1.0, 5, 0.5).mask, bwd)
    # equally sure, one frame from the backward keyframe: the backward mask wins
    assert np.array_equal(_fuse(5, fwd, 1.0, 9, bwd, 1.0, 1, 0.5).mask, bwd)
    # they disagree completely: the fused confidence is lower than either
    assert _fuse(5, fwd, 1.0, 5, bwd, 1.0, 5, 0.5).confidence <= 0.5


def test_a_keyframe_fixes_the_frames_around_it_in_both_directions() -> None:
    clip = make_clip(n=24, velocity=(3.0, 1.0), seed=2)
    frames = list(clip.frames)
    first_only = list(iter_track_frames(frames, {0: clip.masks[0]}, "flow"))
    wrong = np.zeros_like(clip.masks[0])
    wrong[:20, :20] = True  # a bad first mask, corrected at frame 12
    keyed = list(iter_track_frames(frames, {0: wrong, 12: clip.masks[12]}, "flow"))
    assert keyed[12].keyframe and keyed[12].confidence == 1.0
    for t in (9, 10, 11, 13, 14, 15):
        assert jaccard(keyed[t].mask, clip.masks[t]) > 0.75, t
    assert len(first_only) == 24 and all(0.0 <= f.confidence <= 1.0 for f in first_only)
