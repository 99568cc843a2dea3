"""Random access by frame index (decord for files, PyAV for rotated files, folders)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import pattern, write_clip, write_decode_order_timestamps

from moebius_video.errors import VideoOpenError
from moebius_video.io import open_random_access, open_source


def _sequential(path: Path) -> list[np.ndarray]:
    with open_source(path) as source:
        return [f.image for f in source]


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean()) < 2.0


def test_file_frames_match_sequential_decoding(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    write_clip(path, width=64, height=48, num_frames=20, options={"g": "6"})
    expected = _sequential(path)
    with open_random_access(path) as video:
        assert len(video) == 20
        assert (video.info.width, video.info.height) == (64, 48)
        batch = video.get_batch([17, 3, 3, 0])
        assert batch.shape == (4, 48, 64, 3) and batch.dtype == np.uint8
        for image, i in zip(batch, [17, 3, 3, 0], strict=True):
            assert _close(image, expected[i])
        assert _close(video[-1], expected[19])
        with pytest.raises(IndexError):
            video[20]


def test_rotated_file_is_upright(tmp_path: Path) -> None:
    path = tmp_path / "rotated.mp4"
    write_clip(path, width=64, height=48, num_frames=12, rotation=90, options={"g": "4"})
    expected = _sequential(path)
    with open_random_access(path) as video:
        assert len(video) == 12
        assert (video.info.width, video.info.height) == (48, 64)
        batch = video.get_batch([9, 1, 10, 2])
        assert batch.shape == (4, 64, 48, 3)
        for image, i in zip(batch, [9, 1, 10, 2], strict=True):
            assert np.array_equal(image, expected[i])


def test_file_with_shuffled_timestamps_matches_sequential_decoding(tmp_path: Path) -> None:
    good = tmp_path / "good.mp4"
    write_clip(good, num_frames=16)
    bad = tmp_path / "bad.mp4"
    write_decode_order_timestamps(bad, good)
    expected = _sequential(bad)
    with open_random_access(bad) as video:
        assert len(video) == 16
        order = [12, 3, 15, 0, 7, 7]
        for image, i in zip(video.get_batch(order), order, strict=True):
            assert np.array_equal(image, expected[i])
        assert np.array_equal(video[5], expected[5])  # backwards: restarts, still exact


def test_folder(tmp_path: Path) -> None:
    for i in (1, 2, 10):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), cv2.cvtColor(pattern(i, 16, 8), cv2.COLOR_RGB2BGR))
    with open_random_access(tmp_path) as video:
        assert len(video) == 3
        assert np.array_equal(video[2], pattern(10, 16, 8))
        assert video.get_batch([]).shape == (0, 8, 16, 3)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VideoOpenError, match="no such file"):
        open_random_access(tmp_path / "missing.mp4")


def test_streams_decord_mis_sizes_fall_back_to_pyav(tmp_path: Path) -> None:
    # x264 lossless (crf 0) is one of the streams decord decodes into a wrongly sized buffer.
    from helpers import scene

    from moebius_video.io import open_random_access, open_source
    from moebius_video.synthetic import write_scene_clip

    clip = tmp_path / "lossless.mp4"
    write_scene_clip(clip, scene(frames=6), audio=False, crf=0)
    with open_source(clip) as source:
        sequential = [f.image for f in source]
    with open_random_access(clip) as video:
        assert len(video) == 6
        for i in (4, 1, 5):
            np.testing.assert_array_equal(video[i], sequential[i])
