"""The warm-start study (:mod:`moebius_video.eval.warmstart`) on a tiny random pipeline."""

from __future__ import annotations

import math

import pytest
from helpers import make_tiny_sample_pipeline

from moebius_video.eval.warmstart import WarmBenchConfig, measure_warm_start, synthetic_clip
from moebius_video.model import MoebiusInpaintingPipeline

W, H = 64, 48


@pytest.fixture(scope="module")
def pipe() -> MoebiusInpaintingPipeline:
    return make_tiny_sample_pipeline()


def test_bench_runs_on_tiny_synthetic_frames(pipe):
    clip = synthetic_clip(4, (W, H), hole=0.08, dilate=2)
    result = measure_warm_start(pipe, clip, WarmBenchConfig(strength=0.5))
    assert [s.method for s in result.scores] == ["cold-N", "cold-k", "warm", "warm-temporal"]
    assert (result.num_inference_steps, result.warm_steps) == (4, 2)
    steps = {s.method: s.steps_per_frame for s in result.scores}
    assert steps == {"cold-N": 4.0, "cold-k": 2.0, "warm": 2.5, "warm-temporal": 2.5}
    for s in result.scores:
        for value in (s.ms_per_frame, s.flicker, s.psnr_hole, s.ms_ratio, s.flicker_ratio):
            assert math.isfinite(value)
    assert result.scores[0].ms_ratio == 1.0
    assert result.to_dict()["scores"][2]["warm_frames"] == 3
