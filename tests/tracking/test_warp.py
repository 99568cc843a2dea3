"""Warping and flow backends: flows recover a known motion."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from helpers import make_clip

from tracking import TrackingError
from tracking.flow import DISFlow, FarnebackFlow, FlowConfig, make_flow, resize_flow, working_size
from tracking.warp import warp_mask


def smooth_flow(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0, 4, (4, 5, 2)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def test_warp_translation_and_errors() -> None:
    mask = np.zeros((20, 30), bool)
    mask[5:10, 5:10] = True
    flow = np.zeros((20, 30, 2), np.float32)
    flow[..., 0] = -3.0  # content moves 3 px to the right
    for interp in ("nearest", "linear"):
        out = warp_mask(mask, flow, interp)  # type: ignore[arg-type]
        np.testing.assert_array_equal(out, np.roll(mask, 3, axis=1))
    with pytest.raises(TrackingError, match="interpolation"):
        warp_mask(mask, flow, "cubic")  # type: ignore[arg-type]
    with pytest.raises(TrackingError, match="flow"):
        warp_mask(mask, flow[:-1])


@pytest.mark.parametrize(
    "backend", [DISFlow("ultrafast"), DISFlow("fast"), DISFlow("medium"), FarnebackFlow()]
)
def test_flow_backends_recover_translation(backend) -> None:
    clip = make_clip(n=2, h=96, w=128, pan=(3.0, 0.0), velocity=(3.0, 0.0))
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in clip.frames]
    backward = backend.compute(gray[1], gray[0])  # new -> old: content came from x + 3
    inner = backward[16:-16, 16:-16]
    assert abs(float(np.median(inner[..., 0])) - 3.0) < 0.5
    assert abs(float(np.median(inner[..., 1]))) < 0.5
    again = backend.compute(gray[1], gray[0], backward)  # warm start
    assert again.shape == backward.shape


def test_flow_config_and_sizes() -> None:
    assert working_size(480, 854, 480) == (270, 480)
    assert working_size(100, 80, None) == (100, 80)
    assert isinstance(make_flow(FlowConfig(method="farneback")), FarnebackFlow)
    with pytest.raises(TrackingError, match="preset"):
        FlowConfig(preset="slow")  # type: ignore[arg-type]
    with pytest.raises(TrackingError, match="method"):
        FlowConfig(method="raft")  # type: ignore[arg-type]
    flow = np.ones((10, 20, 2), np.float32)
    big = resize_flow(flow, (20, 40))
    assert big.shape == (20, 40, 2) and np.allclose(big, 2.0)
    # tiny inputs do not crash DIS
    small = np.zeros((8, 9), np.uint8)
    assert DISFlow("fast").compute(small, small).shape == (8, 9, 2)
