"""The classical spatial filler (v0): exact outside the mask, coarse-to-fine inside."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import scene

from moebius_video.errors import InvalidArgumentError, InvalidMaskError
from moebius_video.fill import OpenCVFiller, available_fillers, get_filler
from tracking.geometry import dilate_mask


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(float) - b.astype(float)) ** 2).mean())
    return 10 * np.log10(255**2 / mse)


@pytest.mark.parametrize("name", ["telea", "ns"])
def test_fill_changes_only_the_hole_and_beats_doing_nothing(name: str) -> None:
    sc = scene(width=160, height=96, frames=1)
    f = sc.frame(0)
    mask = dilate_mask(f.mask, 2)
    result = get_filler(name).fill(f.image, mask)
    np.testing.assert_array_equal(result.image[~mask], f.image[~mask])
    assert result.spatial_pixels == int(mask.sum()) and result.propagated_pixels == 0
    assert _psnr(result.image[f.mask], f.background[f.mask]) > _psnr(f.image[f.mask], f.background[f.mask]) + 3


def test_coarse_to_fine_matches_the_exact_fill() -> None:
    sc = scene(width=320, height=180, frames=1, object_fraction=0.15)
    f = sc.frame(0)
    mask = dilate_mask(f.mask, 4)
    exact = OpenCVFiller(max_pixels=None).fill(f.image, mask).image
    fast = OpenCVFiller(max_pixels=1000).fill(f.image, mask).image
    assert int(mask.sum()) > 1000  # the coarse path really ran
    np.testing.assert_array_equal(fast[~mask], f.image[~mask])
    truth = f.background[f.mask]
    # Within half a dB of the exact fill against the true background.
    assert _psnr(fast[f.mask], truth) > _psnr(exact[f.mask], truth) - 0.5


def test_whole_frame_and_empty_masks() -> None:
    image = np.full((20, 30, 3), 77, np.uint8)
    out = OpenCVFiller().fill(image, np.ones((20, 30), bool))
    assert (out.image == 127).all()  # nothing known: mid-grey, not garbage
    out = OpenCVFiller().fill(image, np.zeros((20, 30), bool))
    np.testing.assert_array_equal(out.image, image)
    assert out.spatial_pixels == 0


def test_bad_arguments() -> None:
    image = np.zeros((20, 30, 3), np.uint8)
    with pytest.raises(InvalidMaskError, match="does not match"):
        OpenCVFiller().fill(image, np.zeros((10, 30), bool))
    with pytest.raises(InvalidMaskError, match="bool"):
        OpenCVFiller().fill(image, np.zeros((20, 30), np.uint8))
    with pytest.raises(InvalidArgumentError, match="uint8"):
        OpenCVFiller().fill(image.astype(np.float32), np.zeros((20, 30), bool))
    with pytest.raises(InvalidArgumentError):
        OpenCVFiller("magic")
    with pytest.raises(InvalidArgumentError, match="unknown filler"):
        get_filler("magic")
    assert {"telea", "ns"} <= set(available_fillers())
