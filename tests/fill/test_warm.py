"""Latent warm start: step counts, cold/warm decisions, untouched background, convergence."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import make_tiny_sample_pipeline

from moebius_video.bench.common import panning_frames
from moebius_video.errors import InvalidArgumentError, InvalidMaskError
from moebius_video.fill import MoebiusFiller, available_fillers, get_filler
from moebius_video.fill.warm import WarmStartConfig, WarmStartFiller, warm_schedule
from moebius_video.model import MoebiusInpaintingPipeline
from moebius_video.model.sampling import get_timesteps

W, H = 64, 48


@pytest.fixture(scope="module")
def pipe() -> MoebiusInpaintingPipeline:
    return make_tiny_sample_pipeline()


class CallCounter:
    """Counts network evaluations with a forward hook."""

    def __init__(self, pipeline: MoebiusInpaintingPipeline) -> None:
        self.calls = 0
        self._handle = pipeline.network.register_forward_hook(self._hook)

    def _hook(self, *_: object) -> None:
        self.calls += 1

    def take(self) -> int:
        n, self.calls = self.calls, 0
        return n

    def close(self) -> None:
        self._handle.remove()


def _hole(cx: int = 32, cy: int = 24) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[cy - 8 : cy + 8, cx - 10 : cx + 10] = True
    return m


def _panning(n: int) -> list[np.ndarray]:
    return panning_frames(n, W, H)


@pytest.mark.parametrize(("steps", "strength"), [(4, 0.5), (4, 0.3), (7, 3 / 7), (10, 0.25), (3, 0.01)])
def test_warm_schedule_runs_ceil_steps(pipe, steps, strength):
    k, s = warm_schedule(steps, strength)
    assert k == math.ceil(strength * steps - 1e-9)
    assert len(get_timesteps(pipe.scheduler, steps, s)) == k


def test_warm_schedule_full_schedule_is_pure_noise():
    assert warm_schedule(4, 0.9) == (4, 1.0)
    with pytest.raises(InvalidArgumentError, match="strength"):
        warm_schedule(4, 1.0)


def test_bad_settings(pipe):
    for bad in ({"strength": 0.0}, {"strength": 1.0}, {"init": "flow"}, {"flow_size": 8},
                {"min_hole_overlap": 2.0}, {"num_inference_steps": 0}):
        with pytest.raises(InvalidArgumentError):
            WarmStartConfig(**bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="unknown warm-start setting"):
        WarmStartFiller(pipe, strenght=0.4)
    filler = WarmStartFiller(pipe)
    frame = _panning(1)[0]
    with pytest.raises(InvalidMaskError):
        filler.fill(frame, _hole().astype(np.uint8))
    with pytest.raises(InvalidArgumentError):
        filler.fill(frame.astype(np.float32), _hole())


@pytest.mark.parametrize("init", ["warped", "temporal"])
def test_cold_then_exact_warm_steps_and_untouched_background(pipe, init):
    filler = WarmStartFiller(pipe, strength=0.3, init=init)  # N = 4 (model default): k = 2
    assert filler.num_inference_steps == 4 and filler.warm_steps == 2
    counter = CallCounter(pipe)
    try:
        for t, frame in enumerate(_panning(4)):
            mask = _hole(30 + t, 24)
            res = filler.fill(frame, mask)
            assert counter.take() == (4 if t == 0 else 2)
            assert filler.stats.last_steps == (4 if t == 0 else 2)
            assert filler.stats.last_cold == (t == 0)
            assert np.array_equal(res.image[~mask], frame[~mask])
            assert res.spatial_pixels == int(mask.sum())
    finally:
        counter.close()
    stats = filler.stats
    assert (stats.frames, stats.cold_frames, stats.warm_frames, stats.total_steps) == (4, 1, 3, 10)
    assert stats.cold_reasons == {"start": 1}


def test_reset_size_change_and_empty_mask(pipe):
    filler = WarmStartFiller(pipe)
    frame = _panning(1)[0]
    filler.fill(frame, _hole())
    filler.fill(frame, _hole())
    assert not filler.stats.last_cold
    filler.reset()
    filler.fill(frame, _hole())
    assert filler.stats.last_cold
    empty = filler.fill(frame, np.zeros((H, W), bool))
    assert np.array_equal(empty.image, frame) and filler.stats.last_steps == 0
    # A hole where the previous frame had none (a new object): no overlap, cold.
    filler.fill(frame, _hole())
    assert filler.stats.last_cold
    big = np.ascontiguousarray(np.concatenate([frame, frame], axis=1))
    filler.fill(big, np.concatenate([_hole(), _hole()], axis=1))
    assert filler.stats.last_cold
    assert filler.stats.cold_reasons == {"start": 2, "hole-jump": 1, "size": 1}


def test_scene_cut_is_cold(pipe):
    filler = WarmStartFiller(pipe)
    a = _panning(1)[0]
    b = np.ascontiguousarray(255 - a[::-1])  # unrelated content
    filler.fill(a, _hole())
    filler.fill(b, _hole())
    assert filler.stats.last_cold
    assert set(filler.stats.cold_reasons) - {"start"} <= {"cut", "flow-error", "no-motion"}
    assert filler.stats.cold_frames == 2


def test_static_video_converges_and_flickers_less_than_cold(pipe):
    frame = _panning(1)[0]
    mask = _hole()
    warm = WarmStartFiller(pipe, strength=0.5)
    outs = [warm.fill(frame, mask).image.astype(np.float64) for _ in range(6)]
    warm_diffs = [np.abs(outs[i] - outs[i - 1])[mask].mean() for i in range(1, len(outs))]
    cold_outs = [
        MoebiusFiller(pipe, seed=seed).fill(frame, mask).image.astype(np.float64) for seed in range(6)
    ]
    cold_diffs = [np.abs(cold_outs[i] - cold_outs[i - 1])[mask].mean() for i in range(1, 6)]
    assert np.mean(warm_diffs[1:]) < 0.5 * np.mean(cold_diffs)
    assert warm_diffs[-1] < 0.2 * warm_diffs[0]  # converging to a fixed point


def test_registry_builds_it(pipe, monkeypatch):
    assert "moebius-warm" in available_fillers()
    monkeypatch.setattr(MoebiusFiller, "from_pretrained", classmethod(lambda cls, *a, **k: cls(pipe)))
    filler = get_filler("moebius-warm", strength=0.25, init="temporal")
    assert isinstance(filler, WarmStartFiller) and filler.name == "moebius-warm"
    assert filler.config.strength == 0.25 and filler.config.init == "temporal"
    assert filler.warm_steps == 1


def _ring_distance(image: np.ndarray, hole: np.ndarray, ring: np.ndarray) -> float:
    """Largest channel difference between the hole's mean colour and its surroundings'."""
    return float(np.abs(image[hole].mean(0) - image[ring].mean(0)).max())


def _excess_over_cold(
    pipeline, frames: int, **warm_settings
) -> tuple[list[float], list[float], WarmStartFiller]:
    """Per frame of the generated demo-size clip: the warm hole's distance to its ring minus
    the cold's, and the warm hole's mean error against the true background minus the cold's."""
    import cv2

    from moebius_video.synthetic import SceneConfig, SyntheticScene

    scene = SyntheticScene(SceneConfig(width=640, height=360, num_frames=frames))
    warm = WarmStartFiller(pipeline, **warm_settings)
    cold = MoebiusFiller(pipeline)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))  # remove's 4-px dilation
    band = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (17, 17))
    excess, error = [], []
    for index in range(len(scene)):
        frame = scene.frame(index)
        hole = cv2.dilate(frame.mask.view(np.uint8), disc) > 0
        ring = (cv2.dilate(hole.view(np.uint8), band) > 0) & ~hole
        warm_out = warm.fill(frame.image, hole).image
        cold_out = cold.fill(frame.image, hole).image
        excess.append(_ring_distance(warm_out, hole, ring) - _ring_distance(cold_out, hole, ring))
        truth = frame.background[hole].astype(np.float64)
        error.append(np.abs(warm_out[hole] - truth).mean() - np.abs(cold_out[hole] - truth).mean())
    return excess, error, warm


def test_shipped_one_step_model_runs_every_frame_cold_and_cannot_drift():
    """The shipped model is a deterministic one-step student (NS plus a learned correction):
    it has no noise and no trajectory to warm-start, so ``moebius-warm`` fills every frame
    cold, exactly as ``moebius`` does, and its hole cannot drift from frame to frame.

    (The drift bound this test held for the earlier, 4-step diffusion ``moebius-tiny`` --
    at most 6 levels further from the ring than a cold start, anchored -- needs a diffusion
    model; none ships any more.)
    """
    shipped = MoebiusInpaintingPipeline.from_pretrained("moebius-tiny")
    excess, error, warm = _excess_over_cold(shipped, 12)
    assert warm.deterministic and warm.stats.warm_frames == 0
    assert warm.stats.cold_reasons.get("deterministic", 0) >= 11
    assert excess == [0.0] * 12 and error == [0.0] * 12
