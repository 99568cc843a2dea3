"""Hole masks for training: every kind, sizes, areas, determinism, object masks from files."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from moebius_video.errors import InvalidArgumentError
from moebius_video.train.masks import (
    KIND_AREA,
    MASK_KINDS,
    MaskConfig,
    MaskGenerator,
    load_object_masks,
)


def _blob(height: int = 60, width: int = 40) -> np.ndarray:
    mask = np.zeros((height, width), dtype=np.uint8)
    cv2.ellipse(mask, (width // 2, height // 2), (width // 3, height // 2 - 4), 10, 0, 360, 1, -1)
    return mask.astype(bool)


@pytest.fixture(scope="module")
def generator() -> MaskGenerator:
    return MaskGenerator(MaskConfig(), [_blob(), _blob(30, 90)])


@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize(("height", "width", "seeds"), [(64, 64, 40), (96, 128, 25), (512, 512, 4)])
def test_every_kind_has_its_area(
    generator: MaskGenerator, kind: str, height: int, width: int, seeds: int
) -> None:
    low, high = KIND_AREA[kind]
    areas = []
    for seed in range(seeds):
        mask = generator(height, width, np.random.default_rng(seed), kind)
        assert mask.shape == (height, width) and mask.dtype == bool
        assert mask.any() and not mask.all()
        areas.append(mask.mean())
    assert low - 1e-9 <= min(areas) and max(areas) <= high + 1e-9, (kind, min(areas), max(areas))
    if seeds >= 20:  # spread over the range, not stuck at one end
        assert max(areas) - min(areas) > 0.2 * (high - low)


@pytest.mark.parametrize("kind", [*MASK_KINDS, None])
def test_same_seed_same_mask(generator: MaskGenerator, kind: str | None) -> None:
    first = generator(80, 72, np.random.default_rng(7), kind)
    again = generator(80, 72, np.random.default_rng(7), kind)
    other = generator(80, 72, np.random.default_rng(8), kind)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_weights_choose_the_kinds() -> None:
    config = MaskConfig(kinds=("thin", "box"), weights=(0.0, 1.0))
    gen = MaskGenerator(config)
    rng = np.random.default_rng(0)
    for _ in range(10):
        mask = gen(64, 64, rng)
        rows, cols = np.nonzero(mask)
        # A box fills its bounding rectangle (up to three boxes: at least a third of it).
        box_area = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert mask.sum() >= box_area / 3


def test_area_bounds_narrow_the_kinds() -> None:
    gen = MaskGenerator(MaskConfig(kinds=("thick", "box"), min_area=0.2, max_area=0.3))
    for seed in range(20):
        assert 0.2 <= gen(64, 64, np.random.default_rng(seed)).mean() <= 0.3


def test_config_rejects_bad_values() -> None:
    with pytest.raises(InvalidArgumentError, match="'blob'"):
        MaskConfig(kinds=("thin", "blob"))
    with pytest.raises(InvalidArgumentError, match="weights"):
        MaskConfig(kinds=("thin", "box"), weights=(1.0,))
    with pytest.raises(InvalidArgumentError, match="weights"):
        MaskConfig(kinds=("thin",), weights=(-1.0,))
    with pytest.raises(InvalidArgumentError, match="min_area"):
        MaskConfig(min_area=0.5, max_area=0.4)
    with pytest.raises(InvalidArgumentError, match="'thin'"):
        MaskConfig(kinds=("thin",), min_area=0.3, max_area=0.6)
    with pytest.raises(InvalidArgumentError):
        MaskGenerator(MaskConfig(kinds=("thin",)))(4, 64, np.random.default_rng(0))
    with pytest.raises(InvalidArgumentError, match="'box'"):
        MaskGenerator(MaskConfig(kinds=("thin",)))(64, 64, np.random.default_rng(0), "box")


def test_object_kind_needs_object_masks(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(InvalidArgumentError, match="object"):
        MaskGenerator(MaskConfig(kinds=("object",)))
    with caplog.at_level(logging.WARNING):
        gen = MaskGenerator(MaskConfig())
    assert gen.kinds == ("thin", "medium", "thick", "box")
    assert "object" in caplog.text
    with pytest.raises(InvalidArgumentError):
        MaskGenerator(MaskConfig(), [np.zeros((8, 8), dtype=bool)])


def test_load_object_masks_from_folders(tmp_path: Path) -> None:
    # A DAVIS-style clip: frames/ beside masks/ (L mode 0/255), one mask empty.
    clip = tmp_path / "clips" / "walk"
    (clip / "frames").mkdir(parents=True)
    (clip / "masks").mkdir()
    for i in range(3):
        cv2.imwrite(str(clip / "frames" / f"{i:05d}.jpg"), np.full((48, 64, 3), 90, np.uint8))
        mask = np.zeros((48, 64), np.uint8)
        if i:
            mask[10:30, 20 + i : 40 + i] = 255
        cv2.imwrite(str(clip / "masks" / f"{i:05d}.png"), mask)
    # A palette mask in masks_binary wins over masks.
    other = tmp_path / "clips" / "jump"
    (other / "frames").mkdir(parents=True)
    (other / "masks").mkdir()
    (other / "masks_binary").mkdir()
    cv2.imwrite(str(other / "frames" / "00000.jpg"), np.zeros((40, 40, 3), np.uint8))
    palette = Image.fromarray(np.pad(np.full((10, 6), 3, np.uint8), 15), mode="P")
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
    palette.save(other / "masks_binary" / "00000.png")
    cv2.imwrite(str(other / "masks" / "00000.png"), np.full((40, 40), 255, np.uint8))
    # An RGBA cut-out.
    (tmp_path / "objects").mkdir()
    rgba = np.zeros((50, 50, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[5:45, 20:30, 3] = 255
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "objects" / "stick.png")
    # Hole masks beside photos are not object masks.
    (tmp_path / "demo" / "masks").mkdir(parents=True)
    (tmp_path / "demo" / "images").mkdir()
    cv2.imwrite(str(tmp_path / "demo" / "masks" / "0.png"), np.full((30, 30), 255, np.uint8))

    masks = load_object_masks([tmp_path])
    shapes = sorted(m.shape for m in masks)
    # 2 non-empty DAVIS masks (20x20 + margin 2 each side), palette 10x6, stick 40x10.
    assert shapes == sorted([(24, 24), (24, 24), (14, 10), (44, 14)])
    assert all(m.dtype == bool and m.any() for m in masks)
    assert len(load_object_masks([tmp_path], limit=2)) == 2
    small = load_object_masks([tmp_path / "objects"], size=16)
    assert max(small[0].shape) == 16
    with pytest.raises(InvalidArgumentError, match="nowhere"):
        load_object_masks([tmp_path / "nowhere"])
    # The generator uses them.
    gen = MaskGenerator(MaskConfig(kinds=("object",)), masks)
    mask = gen(64, 64, np.random.default_rng(3))
    assert KIND_AREA["object"][0] <= mask.mean() <= KIND_AREA["object"][1]
