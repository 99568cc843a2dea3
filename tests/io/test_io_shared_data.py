"""Real footage from ../shared/data (skipped when the folder is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import SHARED_DATA

from moebius_video.io import open_random_access, open_source, probe

DATA = SHARED_DATA
VIDEOS = DATA / "videos"

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"no shared data at {DATA}")


@pytest.mark.parametrize(
    ("name", "size", "min_frames"),
    [
        ("tree.avi", (320, 240), 60),  # cinepak; the AVI skips many frames (VFR)
        ("Megamind.avi", (720, 528), 260),  # MPEG-4 part 2, packed B-frames
        ("box.mp4", (640, 480), 450),  # H.264 whose file timestamps are in decode order
    ],
)
def test_old_codecs_decode_fully(name: str, size: tuple[int, int], min_frames: int) -> None:
    path = VIDEOS / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    info = probe(path)
    assert (info.width, info.height) == size
    with open_source(path) as source:
        count = 0
        previous = None
        for frame in source:
            assert frame.image.shape == (size[1], size[0], 3)
            assert previous is None or frame.pts > previous  # display order, increasing
            previous = frame.pts
            count += 1
    assert count >= min_frames
    assert source.stats.frames_decoded == count
    assert source.stats.corrupt_packets == 0


def test_clip_frames_folder() -> None:
    folders = sorted(p for p in (DATA / "clips").glob("*/frames") if p.is_dir())
    if not folders:
        pytest.skip("no clips/*/frames folder")
    folder = folders[0]
    info = probe(folder)
    assert info.is_folder and info.num_frames == len(info.frame_names) > 0
    with open_source(folder, end=5) as source:
        frames = list(source)
    assert [f.name for f in frames] == list(info.frame_names[:5])
    assert all(f.image.shape == (info.height, info.width, 3) for f in frames)


def _is_sorted_naturally(names: tuple[str, ...]) -> bool:
    return list(names) == sorted(names, key=lambda n: [int(t) if t.isdigit() else t for t in n])


def test_clip_names_are_in_order() -> None:
    folder = DATA / "clips" / "dog" / "frames"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    info = probe(folder)
    assert info.frame_names[0] == "00000" and _is_sorted_naturally(info.frame_names)
    assert isinstance(info.path, Path)


@pytest.mark.parametrize("name", ["Megamind.avi", "box.mp4", "tree.avi"])
def test_random_access_matches_sequential_decoding(name: str) -> None:
    path = VIDEOS / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with open_source(path, end=61) as source:
        expected = [f.image for f in source]
    order = [60, 2, 31, 59, 0]
    with open_random_access(path) as video:
        for image, i in zip(video.get_batch(order), order, strict=True):
            assert np.abs(image.astype(np.int16) - expected[i]).mean() < 0.5, i
