"""Warping and flow backends: cv2 and torch agree, flows recover a known motion."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from tracking_synth import make_clip

from tracking import TrackingError
from tracking.flow import DISFlow, FarnebackFlow, FlowConfig, make_flow, resize_flow, working_size
from tracking.warp import forward_backward_error, warp_image, warp_mask
from tracking.warp_torch import forward_backward_error_torch, warp_image_torch, warp_mask_torch


def smooth_flow(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0, 4, (4, 5, 2)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


@pytest.fixture
def device() -> torch.device:
    return torch.device("cpu")


def test_torch_warp_matches_cv2(device: torch.device) -> None:
    h, w = 48, 64
    rng = np.random.default_rng(1)
    image = rng.random((h, w, 3)).astype(np.float32)
    flow = smooth_flow(h, w)
    ref = warp_image(image, flow)
    img_t = torch.from_numpy(image).permute(2, 0, 1)[None].to(device)
    flow_t = torch.from_numpy(flow).permute(2, 0, 1)[None].to(device)
    out = warp_image_torch(img_t, flow_t)[0].permute(1, 2, 0).numpy()
    assert out.shape == ref.shape
    inner = (slice(2, -2), slice(2, -2))
    np.testing.assert_allclose(out[inner], ref[inner], atol=2e-3)

    mask = np.zeros((h, w), bool)
    mask[10:30, 15:40] = True
    ref_m = warp_mask(mask, flow, "linear")
    out_m = warp_mask_torch(torch.from_numpy(mask)[None, None], flow_t)[0, 0].numpy()
    assert out_m.dtype == np.bool_
    assert (out_m != ref_m).mean() < 0.005
    soft = warp_mask_torch(torch.from_numpy(mask)[None, None], flow_t, threshold=None)
    assert soft.dtype == torch.float32 and float(soft.max()) <= 1.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_warp_follows_input_dtype(dtype: torch.dtype, device: torch.device) -> None:
    image = torch.rand(2, 3, 8, 10, dtype=dtype, device=device)
    flow = torch.zeros(2, 2, 8, 10, dtype=dtype, device=device)
    out = warp_image_torch(image, flow)
    assert out.dtype == dtype and out.device == image.device
    torch.testing.assert_close(out, image)  # zero flow: identity
    mask = torch.zeros(2, 1, 8, 10, dtype=torch.bool, device=device)
    mask[:, :, 2:5, 3:6] = True
    torch.testing.assert_close(warp_mask_torch(mask, flow), mask)


def test_torch_fb_error_matches_cv2() -> None:
    h, w = 40, 56
    backward = smooth_flow(h, w, 2)
    forward = -smooth_flow(h, w, 2) + 0.3
    ref = forward_backward_error(backward, forward)
    out = forward_backward_error_torch(
        torch.from_numpy(backward).permute(2, 0, 1)[None],
        torch.from_numpy(forward).permute(2, 0, 1)[None],
    )[0, 0].numpy()
    valid = (ref < 100) & (out < 100)
    # cv2.remap interpolates with 1/32 px fixed-point weights: agree to a few hundredths
    np.testing.assert_allclose(out[valid], ref[valid], atol=0.05)
    assert ((ref > 100) != (out > 100)).mean() < 0.01


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
    with pytest.raises(TrackingError, match="flow"):
        warp_image_torch(torch.zeros(1, 3, 4, 4), torch.zeros(1, 2, 5, 4))


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
