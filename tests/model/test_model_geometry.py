"""Crop window, resize and paste: odd sizes, holes touching the border, untouched outside pixels."""

from __future__ import annotations

import pytest
import torch

from moebius_video.errors import InvalidArgumentError, InvalidMaskError
from moebius_video.model.geometry import (
    CropBox,
    binarize_mask,
    crop_window,
    feather_alpha,
    paste,
    resize_image,
    resize_mask,
)
from tracking.geometry import mask_box


def test_binarize_mask_thresholds():
    assert binarize_mask(torch.tensor([0, 127, 128, 255], dtype=torch.uint8)).tolist() == [
        False,
        False,
        True,
        True,
    ]
    assert binarize_mask(torch.tensor([0.0, 0.49, 0.5, 1.0])).tolist() == [False, False, True, True]
    b = torch.tensor([True, False])
    assert binarize_mask(b) is b
    with pytest.raises(InvalidMaskError):
        binarize_mask(torch.tensor([0, 1], dtype=torch.int32))


@pytest.mark.parametrize(
    ("frame", "bbox"),
    [
        ((101, 77), (0, 0, 1, 1)),  # top-left corner
        ((101, 77), (76, 100, 77, 101)),  # bottom-right corner
        ((101, 77), (0, 0, 77, 101)),  # the whole frame
        ((2161, 3841), (3800, 1000, 3841, 1033)),  # 4K-ish, odd, right border
        ((33, 1001), (10, 5, 900, 30)),  # very wide hole in a thin frame
        ((513, 513), (200, 200, 260, 203)),
    ],
)
@pytest.mark.parametrize("min_side", [0, 64, 512])
def test_crop_window_contains_hole_and_stays_inside(frame, bbox, min_side):
    box = crop_window(frame, bbox, context=0.5, min_side=min_side)
    left, top, right, bottom = bbox
    assert 0 <= box.top <= top and bottom <= box.bottom <= frame[0]
    assert 0 <= box.left <= left and right <= box.right <= frame[1]
    side = max(max(bottom - top, right - left) * 2, min_side)
    # Square unless the frame is too small for the square.
    assert box.height == min(max(side, bottom - top), frame[0]) or box.height == frame[0]
    assert box.width == min(max(side, right - left), frame[1]) or box.width == frame[1]


def test_crop_window_cost_independent_of_frame_size():
    small = crop_window((600, 800), (400, 300, 430, 320), min_side=512)
    big = crop_window((2160, 3840), (2000, 1300, 2030, 1320), min_side=512)
    assert (small.height, small.width) == (big.height, big.width) == (512, 512)


def test_crop_window_rejects_bad_boxes():
    with pytest.raises(InvalidArgumentError):
        crop_window((10, 10), (5, 5, 8, 5))
    with pytest.raises(InvalidArgumentError):
        crop_window((10, 10), (0, 0, 3, 11))
    with pytest.raises(InvalidArgumentError):
        crop_window((10, 10), (0, 0, 3, 3), context=-1)


def test_resize_mask_is_conservative():
    m = torch.zeros(64, 64, dtype=torch.bool)
    m[10, 10] = True  # a single pixel must survive a 4x downscale
    small = resize_mask(m, (16, 16))
    assert small.shape == (16, 16) and small.any()
    assert resize_mask(m, (64, 64)) is m


def test_resize_image_identity_and_shape():
    x = torch.rand(3, 17, 31)
    assert resize_image(x, (17, 31)) is x
    assert resize_image(x, (8, 9)).shape == (3, 8, 9)
    assert resize_image(x[None], (40, 41)).shape == (1, 3, 40, 41)


def test_feather_alpha_zero_outside_and_one_deep_inside():
    m = torch.zeros(40, 40, dtype=torch.bool)
    m[5:35, 0:30] = True  # touches the left border
    a = feather_alpha(m, 3.0)
    assert torch.all(a[~m] == 0)
    assert a[20, 15] == pytest.approx(1.0, abs=1e-6)
    assert a[20, 0] == pytest.approx(1.0, abs=1e-3)  # frame border is not a hole edge
    assert 0.3 < a[20, 29] < 0.8  # inner edge is soft


@pytest.mark.parametrize("shape", [(37, 53), (64, 64), (5, 3)])
def test_paste_keeps_outside_pixels_bit_identical(shape):
    g = torch.Generator().manual_seed(0)
    frame = torch.randint(0, 256, (3, *shape), dtype=torch.uint8, generator=g)
    mask = torch.rand(shape, generator=g) > 0.7
    mask[0, :] = True  # touches the border
    bbox = mask_box(mask.numpy())
    box = crop_window(shape, bbox, min_side=16)
    patch = torch.rand(3, 16, 16, generator=g)
    out = paste(frame, patch, mask, box, feather=2.0)
    assert out.dtype == torch.uint8 and out.shape == frame.shape
    assert torch.equal(out[:, ~mask], frame[:, ~mask])
    assert not torch.equal(out[:, mask], frame[:, mask])


def test_paste_without_feather_is_the_patch_inside():
    frame = torch.zeros(3, 10, 12, dtype=torch.uint8)
    mask = torch.zeros(10, 12, dtype=torch.bool)
    mask[2:5, 3:9] = True
    box = CropBox(0, 0, 10, 12)
    out = paste(frame, torch.ones(3, 10, 12), mask, box, feather=0)
    assert torch.all(out[:, mask] == 255) and torch.all(out[:, ~mask] == 0)


def test_paste_rejects_bad_inputs():
    frame = torch.zeros(3, 4, 4, dtype=torch.uint8)
    with pytest.raises(InvalidArgumentError):
        paste(
            frame.float(),
            torch.zeros(3, 4, 4),
            torch.ones(4, 4, dtype=torch.bool),
            CropBox(0, 0, 4, 4),
        )
    with pytest.raises(InvalidArgumentError):
        paste(frame, torch.zeros(3, 4, 4), torch.ones(4, 5, dtype=torch.bool), CropBox(0, 0, 4, 4))
