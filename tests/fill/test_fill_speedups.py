"""The fast paths of the temporal filler give what the plain computations give."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from moebius_video.fill.blend import paste_compensated, seam_offset
from moebius_video.fill.flow import BackgroundFlowConfig, FlowEstimator, push_pull_fill, to_low_res
from moebius_video.fill.temporal import Memory, TemporalFiller, _median_int


def _scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A frame, a slightly different aligned source, where it is valid, and a hole."""
    rng = np.random.default_rng(seed)
    current = cv2.GaussianBlur(rng.integers(0, 256, (120, 200, 3), dtype=np.uint8), (0, 0), 2.0)
    source = cv2.add(current, np.full_like(current, 7))
    valid = rng.random((120, 200)) > 0.05
    hole = np.zeros((120, 200), bool)
    cv2.ellipse(hole.view(np.uint8), (70, 60), (30, 20), 0, 0, 360, 1, -1)
    return current, source, valid, hole


@pytest.mark.parametrize("n", [1, 2, 3, 50, 51, 4001])
def test_median_int_is_numpy_median(n: int) -> None:
    rng = np.random.default_rng(n)
    values = rng.integers(-255, 256, (n, 3)).astype(np.int16)
    values[:, 1] = rng.integers(-2, 3, n)  # many ties
    assert np.array_equal(_median_int(values), np.median(values, axis=0))


def test_push_pull_keeps_known_values_and_fills_the_rest() -> None:
    rng = np.random.default_rng(0)
    values = rng.standard_normal((72, 128, 2)).astype(np.float32)
    known = np.ones((72, 128), bool)
    known[20:50, 40:90] = False
    out = push_pull_fill(values, known)
    assert out.shape == values.shape and out.dtype == np.float32
    assert np.array_equal(out[known], values[known])
    assert np.isfinite(out).all()
    # Constant known values fill the hole with that constant.
    flat = push_pull_fill(np.full_like(values, 3.0), known)
    assert np.allclose(flat, 3.0, atol=1e-5)


def test_seam_offset_hole_window_is_a_crop_of_the_full_box() -> None:
    current, source, valid, hole = _scene()
    full = seam_offset(current, source, valid, hole)
    win = seam_offset(current, source, valid, hole, hole_window=True)
    assert full is not None and win is not None
    (y0, y1, x0, x1), off_full, mis_full = full
    (hy0, hy1, hx0, hx1), off_win, mis_win = win
    assert y0 <= hy0 < hy1 <= y1 and x0 <= hx0 < hx1 <= x1
    crop = (slice(hy0 - y0, hy1 - y0), slice(hx0 - x0, hx1 - x0))
    assert np.allclose(off_win, off_full[crop], atol=1e-3)
    assert mis_full is not None and mis_win is not None
    assert np.allclose(mis_win, mis_full[crop], atol=1e-3)
    # The source is 7 brighter everywhere: the offset is -7 inside the hole.
    assert np.allclose(off_win[hole[hy0:hy1, hx0:hx1]], -7.0, atol=0.5)
    skipped = seam_offset(current, source, valid, hole, with_mismatch=False)
    assert skipped is not None and skipped[2] is None
    assert np.array_equal(skipped[1], off_full)


def test_paste_compensated_writes_only_the_hole() -> None:
    current, source, valid, hole = _scene(1)
    out = current.copy()
    where = hole & valid
    written = paste_compensated(out, current, source, valid, where, hole)
    assert np.array_equal(written, where)
    assert np.array_equal(out[~where], current[~where])
    assert np.abs(out[where].astype(int) - current[where]).max() <= 1  # exposure matched


def test_forward_check_is_skipped_on_request() -> None:
    rng = np.random.default_rng(2)
    big = cv2.GaussianBlur(rng.integers(0, 256, (100, 180, 3), dtype=np.uint8), (0, 0), 1.5)
    a_img, b_img = np.ascontiguousarray(big[:, :160]), np.ascontiguousarray(big[:, 3:163])
    hole = np.zeros((100, 160), bool)
    hole[30:60, 50:90] = True
    a = to_low_res(a_img, hole, (100, 160), 2)
    b = to_low_res(b_img, hole, (100, 160), 2)
    both = FlowEstimator(BackgroundFlowConfig())(a, b)
    causal = FlowEstimator(BackgroundFlowConfig())(a, b, check_forward=False)
    assert both.ok_a is not None and causal.ok_a is None
    assert np.array_equal(both.to_a, causal.to_a) and np.array_equal(both.ok_b, causal.ok_b)
    assert both.motion == causal.motion and both.cut == causal.cut


def test_memory_observe_and_corrected_window() -> None:
    rng = np.random.default_rng(3)
    memory = Memory.empty(40, 60)
    first = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    memory.observe(first, np.ones((40, 60), bool), 0)
    second = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    known = np.ones((40, 60), bool)
    known[10:20, 15:35] = False
    canvas_id = id(memory.canvas)
    memory.observe(second, known, 2)
    assert id(memory.canvas) == canvas_id  # written in place
    assert np.array_equal(memory.canvas[..., :3][known], second[known])
    assert np.array_equal(memory.canvas[..., :3][~known], first[~known])
    assert (memory.canvas[..., 3] == 255).all()
    assert (memory.age[known] == 2).all() and (memory.age[~known] == 0).all()
    memory.exposure[0] = (5.0, -3.0, 1.0)
    box, inner = (5, 30, 10, 50), (8, 22, 12, 40)
    full = memory.corrected(box)
    part = memory.corrected(box, inner)
    crop = (slice(3, 17), slice(2, 30))
    assert np.array_equal(part[crop], full[crop])
    expected = np.clip(memory.canvas[5:30, 10:50, :3].astype(int) + np.where(
        memory.age[5:30, 10:50, None] == 0, np.array([5, -3, 1]), 0), 0, 255)
    assert np.array_equal(full, expected)


def test_warp_buffers_are_not_shared_between_frames() -> None:
    """Moving-camera frames reuse warp buffers; outputs of earlier calls stay intact."""
    rng = np.random.default_rng(4)
    big = cv2.GaussianBlur(rng.integers(0, 256, (100, 260, 3), dtype=np.uint8), (0, 0), 1.5)
    filler = TemporalFiller()
    outputs, frames = [], []
    for t in range(12):
        frame = np.ascontiguousarray(big[:, 4 * t : 4 * t + 160])
        mask = np.zeros((100, 160), bool)
        mask[30:60, 20 + 5 * t : 50 + 5 * t] = True
        result = filler.fill(frame, mask)
        assert result.propagated_pixels + result.spatial_pixels == int(mask.sum())
        assert np.array_equal(result.image[~mask], frame[~mask])
        outputs.append((result.image, result.image.copy()))
        frames.append(frame)
    assert not filler._memory.static  # type: ignore[union-attr]
    for image, copy in outputs:
        assert np.array_equal(image, copy)


def test_warp_of_a_window_matches_the_whole_frame_warp_there() -> None:
    """A warp resamples only the window around the hole; there it equals the full warp."""
    rng = np.random.default_rng(7)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (90, 150, 3), dtype=np.uint8), (0, 0), 1.5)
    filler = TemporalFiller()
    filler._start(90, 150)
    flow = rng.normal(0, 2, (45, 75, 2)).astype(np.float32)
    ok = rng.random((45, 75)) > 0.1
    memories = []
    for roi in (None, (20, 61, 33, 101)):
        memory = Memory.empty(90, 150)
        memory.observe(frame, np.ones((90, 150), bool), 0)
        filler._warp(memory, flow, ok, roi)
        memories.append(memory)
    full, part = memories
    assert full.window is None and part.window == (20, 61, 33, 101)
    win = (slice(20, 61), slice(33, 101))
    # Only the window is resampled (the rest is stale until observed) ...
    assert np.array_equal(part.canvas[:20, :, :3], frame[:20])
    # ... and there it is what the whole-frame warp gives (the upsampled map may differ by
    # the last bit of OpenCV's fixed-point interpolation: compare the pixels).
    assert np.abs(full.canvas[win].astype(int) - part.canvas[win]).max() <= 1
    assert np.mean(full.age[win] == part.age[win]) > 0.99
    # Observing a frame whose hole lies in the window makes the whole memory current.
    hole = np.zeros((90, 150), bool)
    hole[30:50, 40:90] = True
    part.observe(frame, ~hole, 0)
    assert part.window is None


def test_observe_refuses_to_keep_stale_content() -> None:
    """An internal invariant: the hole kept by observe lies inside the warped window."""
    filler = TemporalFiller()
    filler._start(40, 60)
    memory = Memory.empty(40, 60)
    filler._warp(memory, np.zeros((20, 30, 2), np.float32), np.ones((20, 30), bool), (0, 10, 0, 10))
    hole = np.zeros((40, 60), bool)
    hole[20:30, 20:30] = True
    with pytest.raises(AssertionError, match="stale"):
        memory.observe(np.zeros((40, 60, 3), np.uint8), ~hole, 0)


def test_flow_on_a_smaller_grid_with_finest_scale_zero() -> None:
    """``finest_scale`` reaches OpenCV's DIS; bad values are refused by name."""
    from tracking.errors import TrackingError
    from tracking.flow import DISFlow

    assert DISFlow("medium")._dis.getFinestScale() == 1
    dis = DISFlow("medium", finest_scale=0)
    assert dis._dis.getFinestScale() == 0
    a = np.zeros((40, 48), np.uint8)
    dis.compute(a, a)
    dis.compute(np.zeros((44, 48), np.uint8), np.zeros((44, 48), np.uint8))  # a new size keeps it
    assert dis._dis.getFinestScale() == 0
    with pytest.raises(TrackingError, match="finest_scale"):
        DISFlow("medium", finest_scale=-1)
    est = FlowEstimator(BackgroundFlowConfig(flow_size=64, finest_scale=0))
    assert est._dis.finest_scale == 0


def test_patch_stride_reaches_dis_and_still_finds_the_motion() -> None:
    """``patch_stride`` reaches OpenCV's DIS (and a fresh solver after a size change); the
    file default uses 5; a shifted texture is still measured to a tenth of a pixel."""
    from moebius_video.fill.temporal import OFFLINE_FLOW
    from tracking.errors import TrackingError
    from tracking.flow import DISFlow

    assert DISFlow("medium")._dis.getPatchStride() == 3
    dis = DISFlow("medium", finest_scale=0, patch_stride=5)
    assert dis._dis.getPatchStride() == 5
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (160, 232), dtype=np.uint8), (0, 0), 2)
    a, b = texture[20:140, 20:212], texture[20:140, 23:215]  # b(x) = a(x + 3)
    flow = dis.compute(np.ascontiguousarray(b), np.ascontiguousarray(a))  # b(x) ~ a(x + flow)
    inner = flow[16:-16, 16:-16]
    assert abs(float(np.median(inner[..., 0])) - 3.0) < 0.1
    assert abs(float(np.median(inner[..., 1]))) < 0.1
    dis.compute(a[:100], a[:100])  # a new size: a fresh solver with the same stride
    assert dis._dis.getPatchStride() == 5
    for bad in (0, 9):
        with pytest.raises(TrackingError, match="patch_stride"):
            DISFlow("medium", patch_stride=bad)
    assert OFFLINE_FLOW.patch_stride == 5
    assert FlowEstimator(OFFLINE_FLOW)._dis.patch_stride == 5
