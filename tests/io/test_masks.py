"""Masks: every PNG mode binarised explicitly, boxes, folders, sizes, dilation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from moebius_video.errors import InvalidArgumentError, InvalidMaskError, MoebiusError
from moebius_video.io.masks import (
    MaskFolder,
    fit_mask,
    load_mask,
    parse_box,
)
from tracking.geometry import box_mask, dilate_mask


def _shape() -> np.ndarray:
    mask = np.zeros((20, 30), bool)
    mask[5:12, 8:20] = True
    return mask


def test_l_mode_any_nonzero_is_removed(tmp_path: Path) -> None:
    values = np.zeros((20, 30), np.uint8)
    values[5:12, 8:20] = 1  # a faint mask is still a mask
    Image.fromarray(values, "L").save(tmp_path / "m.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "m.png"), _shape())


def test_rgb_mode_any_channel(tmp_path: Path) -> None:
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[5:12, 8:20, 0] = 255  # red strokes on black
    Image.fromarray(rgb, "RGB").save(tmp_path / "m.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "m.png"), _shape())


def test_rgba_uses_alpha_when_it_carries_the_shape(tmp_path: Path) -> None:
    rgba = np.full((20, 30, 4), 255, np.uint8)  # white everywhere...
    rgba[..., 3] = 0
    rgba[5:12, 8:20, 3] = 255  # ...but only opaque on the object
    Image.fromarray(rgba, "RGBA").save(tmp_path / "m.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "m.png"), _shape())


def test_rgba_with_constant_alpha_uses_colours(tmp_path: Path) -> None:
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[5:12, 8:20, :3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "m.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "m.png"), _shape())


def test_palette_index_is_a_label_not_a_grey_level(tmp_path: Path) -> None:
    # Index 1 has a BLACK palette colour: a grey-level reading would miss it entirely.
    index = np.zeros((20, 30), np.uint8)
    index[5:12, 8:20] = 1
    image = Image.fromarray(index, "P")
    image.putpalette([255, 255, 255, 0, 0, 0] + [0] * (256 * 3 - 6))  # index 0 is WHITE
    image.save(tmp_path / "m.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "m.png"), _shape())


def test_jpeg_mask_is_thresholded_at_mid_grey(tmp_path: Path) -> None:
    values = np.zeros((40, 60), np.uint8)
    values[10:24, 16:40] = 255
    Image.fromarray(values, "L").save(tmp_path / "m.jpg", quality=60)
    mask = load_mask(tmp_path / "m.jpg")
    expected = values > 127
    # JPEG ringing must not add scattered pixels: only a few edge pixels may differ.
    assert (mask ^ expected).sum() <= 0.02 * expected.sum()
    assert mask[11:23, 17:39].all() and not mask[:5].any()


def test_sixteen_bit_mask(tmp_path: Path) -> None:
    values = np.zeros((20, 30), np.uint16)
    values[5:12, 8:20] = 65535
    Image.fromarray(values).save(tmp_path / "m.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "m.png"), _shape())


def test_bad_mask_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidMaskError, match="not found"):
        load_mask(tmp_path / "missing.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(InvalidMaskError, match="not an image"):
        load_mask(tmp_path / "text.png")
    with pytest.raises(InvalidMaskError, match="folder"):
        load_mask(tmp_path)
    # The hierarchy subclasses built-ins.
    assert issubclass(InvalidMaskError, ValueError) and issubclass(InvalidMaskError, MoebiusError)


def test_parse_box_and_box_mask() -> None:
    assert parse_box("120,80,200,160") == (120, 80, 200, 160)
    assert parse_box(" 1, 2 ,3,4") == (1, 2, 3, 4)
    for bad in ("1,2,3", "a,b,c,d", "1,2,0,4", "1,2,3,-4"):
        with pytest.raises(InvalidArgumentError):
            parse_box(bad)
    mask = box_mask((8, 5, 12, 7), 30, 20)
    np.testing.assert_array_equal(mask, _shape())
    clipped = box_mask((-5, -5, 10, 10), 30, 20)
    assert clipped.sum() == 25 and clipped[:5, :5].all()
    with pytest.raises(ValueError, match="outside"):
        box_mask((100, 100, 5, 5), 30, 20)


def test_fit_mask_refuses_or_resizes() -> None:
    mask = _shape()
    with pytest.raises(InvalidMaskError, match=r"30x20 but the video is 60x40.*--resize-mask"):
        fit_mask(mask, 60, 40)
    big = fit_mask(mask, 60, 40, resize=True)
    assert big.shape == (40, 60) and big.dtype == bool
    assert big.sum() == 4 * mask.sum()


def test_dilate_grows_by_radius() -> None:
    mask = np.zeros((41, 41), bool)
    mask[20, 20] = True
    grown = dilate_mask(mask, 4)
    ys, xs = np.nonzero(grown)
    assert ys.min() == 16 and ys.max() == 24 and xs.min() == 16 and xs.max() == 24
    assert not grown[16, 16]  # a disc, not a square
    assert dilate_mask(mask, 0) is mask
    with pytest.raises(ValueError):
        dilate_mask(mask, -1)


def test_mask_folder_matches_by_name_then_order(tmp_path: Path) -> None:
    for i in (0, 1, 2, 10):
        Image.fromarray(np.full((4, 4), i * 20, np.uint8), "L").save(tmp_path / f"frame{i}.png")
    folder = MaskFolder(tmp_path)
    assert [p.name for p in folder.files] == ["frame0.png", "frame1.png", "frame2.png", "frame10.png"]
    assert folder.path_for(99, "frame10").name == "frame10.png"
    assert folder.path_for(3, "unknown").name == "frame10.png"
    with pytest.raises(InvalidMaskError, match="no mask for frame 7"):
        folder.path_for(7, "nope")
