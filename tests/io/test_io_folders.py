"""Frame folders as sources: natural order, names, pixel formats, bad folders."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import pattern

from moebius_video.errors import InvalidArgumentError, VideoDecodeError, VideoOpenError
from moebius_video.io import open_source, probe


def _write(path: Path, rgb: np.ndarray) -> None:
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def test_natural_order_names_and_pixels(tmp_path: Path) -> None:
    names = ["frame10", "frame2", "frame1", "Frame3", "frame20"]
    pictures = {name: pattern(i, 40, 30) for i, name in enumerate(names)}
    for name, picture in pictures.items():
        _write(tmp_path / f"{name}.png", picture)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.png").write_bytes(b"")
    info = probe(tmp_path)
    order = ["frame1", "frame2", "Frame3", "frame10", "frame20"]
    assert info.is_folder and info.frame_names == tuple(order)
    assert (info.width, info.height, info.num_frames) == (40, 30, 5)
    assert info.frame_rate is None and info.time_base is None
    with open_source(tmp_path) as source:
        frames = list(source)
    assert [f.name for f in frames] == order
    assert [f.index for f in frames] == list(range(5))
    assert all(f.pts is None and f.time_base is None and f.time is None for f in frames)
    for frame in frames:
        assert np.array_equal(frame.image, pictures[frame.name])  # PNG is lossless


def test_frame_rate_and_range(tmp_path: Path) -> None:
    for i in range(6):
        _write(tmp_path / f"{i:03d}.jpg", pattern(i, 32, 24))
    with open_source(tmp_path, frame_rate=Fraction(25), start=2, end=4) as source:
        assert source.info.frame_rate == 25
        assert source.info.num_frames == 6  # info describes the whole folder
        frames = list(source)
    assert [(f.index, f.name) for f in frames] == [(2, "002"), (3, "003")]
    with pytest.raises(InvalidArgumentError, match="frame_rate"):
        open_source(tmp_path, frame_rate=Fraction(0))


def test_mixed_sizes_name_the_odd_file(tmp_path: Path) -> None:
    _write(tmp_path / "a1.png", pattern(0, 32, 24))
    _write(tmp_path / "a2.png", pattern(1, 32, 24))
    _write(tmp_path / "a3.png", pattern(2, 24, 32))
    with open_source(tmp_path) as source, pytest.raises(VideoOpenError) as caught:
        list(source)
    message = str(caught.value)
    assert "a3.png" in message and "24x32" in message and "32x24" in message


def test_grey_16bit_and_alpha_images(tmp_path: Path) -> None:
    grey = np.tile(np.arange(32, dtype=np.uint8) * 8, (24, 1))
    cv2.imwrite(str(tmp_path / "1.png"), grey)
    deep = (grey.astype(np.uint16) * 257)[..., None].repeat(3, axis=2)
    cv2.imwrite(str(tmp_path / "2.png"), deep)
    bgra = np.dstack([grey, grey, grey, np.full_like(grey, 128)])
    cv2.imwrite(str(tmp_path / "3.png"), bgra)
    cv2.imwrite(str(tmp_path / "4.tif"), deep)
    with open_source(tmp_path) as source:
        frames = list(source)
    assert len(frames) == 4
    for frame in frames:
        assert frame.image.shape == (24, 32, 3) and frame.image.dtype == np.uint8
        assert np.array_equal(frame.image[..., 0], grey), frame.name


def test_unreadable_image_is_skipped_and_counted(tmp_path: Path) -> None:
    _write(tmp_path / "1.png", pattern(0, 16, 16))
    (tmp_path / "2.png").write_bytes(b"not a png")
    _write(tmp_path / "3.png", pattern(2, 16, 16))
    with open_source(tmp_path) as source:
        names = [f.name for f in source]
    assert names == ["1", "3"]
    assert source.stats.corrupt_packets == 1 and source.stats.lost_frames == 1
    assert any("2.png" in w for w in source.stats.warnings)


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no frames here")
    with pytest.raises(VideoOpenError, match="no image files") as caught:
        open_source(tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_folder_of_unreadable_images(tmp_path: Path) -> None:
    (tmp_path / "1.jpg").write_bytes(b"junk")
    with pytest.raises(VideoDecodeError, match="no readable image"):
        open_source(tmp_path)
