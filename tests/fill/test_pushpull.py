"""The push-pull spatial filler and filler options given with the name."""

from __future__ import annotations

import numpy as np
import pytest

from moebius_video.errors import InvalidArgumentError, InvalidMaskError
from moebius_video.fill import PushPullFiller, get_filler
from moebius_video.fill.temporal import TemporalFiller


def _disk(h: int, w: int, cy: int, cx: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def test_constant_background_is_recovered_exactly() -> None:
    image = np.full((60, 80, 3), (30, 120, 200), np.uint8)
    mask = _disk(60, 80, 30, 40, 15)
    damaged = image.copy()
    damaged[mask] = (255, 0, 255)
    out = PushPullFiller().fill(damaged, mask)
    np.testing.assert_array_equal(out.image, image)
    assert out.spatial_pixels == int(mask.sum()) and out.propagated_pixels == 0


def test_fill_is_smooth_between_two_colours_and_outside_untouched() -> None:
    rng = np.random.default_rng(0)
    image = np.zeros((64, 96, 3), np.uint8)
    image[:, :48] = 40
    image[:, 48:] = 220
    image = np.clip(image + rng.integers(-3, 4, image.shape), 0, 255).astype(np.uint8)
    mask = np.zeros((64, 96), bool)
    mask[16:48, 30:66] = True
    damaged = image.copy()
    damaged[mask] = 0
    out = PushPullFiller().fill(damaged, mask).image
    np.testing.assert_array_equal(out[~mask], damaged[~mask])
    inner = out[20:44, 32:64, 0].astype(int)
    assert inner.min() >= 35 and inner.max() <= 225  # no value outside the known range
    # left part of the hole darker than its right part: it follows its surroundings
    assert inner[:, :6].mean() + 60 < inner[:, -6:].mean()
    # and it is smooth: neighbouring pixels differ little compared with the step (180)
    assert np.abs(np.diff(inner, axis=1)).max() < 40


def test_empty_mask_and_full_mask() -> None:
    image = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    out = PushPullFiller().fill(image, np.zeros((20, 30), bool))
    np.testing.assert_array_equal(out.image, image)
    assert out.spatial_pixels == 0
    full = PushPullFiller().fill(image, np.ones((20, 30), bool))  # nothing to interpolate from
    np.testing.assert_array_equal(full.image, image)


def test_bad_input() -> None:
    with pytest.raises(InvalidArgumentError, match="context"):
        PushPullFiller(context=0)
    with pytest.raises(InvalidMaskError):
        PushPullFiller().fill(np.zeros((10, 10, 3), np.uint8), np.zeros((9, 10), bool))


def test_filler_options_in_the_name() -> None:
    filler = get_filler("temporal:spatial=pushpull,lookahead=0")
    assert isinstance(filler, TemporalFiller) and isinstance(filler.spatial, PushPullFiller)
    assert isinstance(get_filler("pushpull:context=8"), PushPullFiller)
    assert get_filler("pushpull:context=8").context == 8
    with pytest.raises(InvalidArgumentError, match="bad options for filler 'pushpull'"):
        get_filler("pushpull:nonsense=1")
    with pytest.raises(InvalidArgumentError, match="not key=value"):
        get_filler("temporal:spatial")
    with pytest.raises(InvalidArgumentError, match="unknown filler"):
        get_filler("temporal:spatial=nope")


def test_temporal_with_pushpull_fills_what_no_frame_showed() -> None:
    # A static hole over a static scene: nothing is ever propagated, all goes to the
    # spatial filler, which must leave a smooth, in-range fill.
    image = np.full((48, 64, 3), 100, np.uint8)
    image[:, 32:] = 160
    mask = np.zeros((48, 64), bool)
    mask[12:36, 20:44] = True
    damaged = image.copy()
    damaged[mask] = 0
    filler = get_filler("temporal", spatial="pushpull")
    for _ in range(3):
        res = filler.fill(damaged, mask)
    assert res.spatial_pixels == int(mask.sum())
    assert 95 <= res.image[mask].min() and res.image[mask].max() <= 165
