"""Reading video files: probe, open_source, codecs, rotation, ranges, bad inputs."""

from __future__ import annotations

import gc
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    has_encoder,
    pattern,
    write_audio_only,
    write_clip,
    write_decode_order_timestamps,
    write_undecodable,
)

from moebius_video.errors import (
    InvalidArgumentError,
    MoebiusError,
    VideoDecodeError,
    VideoOpenError,
)
from moebius_video.io import DecodeStats, Frame, VideoInfo, open_source, probe


def _mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_probe_describes_a_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    write_clip(path, width=96, height=64, num_frames=10, rate=Fraction(30000, 1001), audio="aac")
    info = probe(path)
    assert isinstance(info, VideoInfo)
    assert (info.width, info.height) == (96, 64)
    assert info.num_frames == 10
    assert info.frame_rate == Fraction(30000, 1001)
    assert isinstance(info.time_base, Fraction)
    assert info.codec == "h264"
    assert info.has_audio and not info.is_folder
    assert info.rotation == 0
    assert info.duration == pytest.approx(10 * 1001 / 30000, abs=0.01)


def test_open_source_yields_rgb_frames_with_exact_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "clip.mkv"
    pictures = write_clip(path, width=64, height=48, num_frames=12, time_base=Fraction(1, 1000))
    with open_source(path) as source:
        frames = list(source)
    assert [f.index for f in frames] == list(range(12))
    assert [f.name for f in frames] == [f"{i:05d}" for i in range(12)]
    assert [f.pts for f in frames] == [40 * i for i in range(12)]
    assert all(f.time_base == Fraction(1, 1000) for f in frames)
    assert frames[3].time == pytest.approx(0.12)
    for frame, picture in zip(frames, pictures, strict=True):
        assert frame.image.shape == (48, 64, 3) and frame.image.dtype == np.uint8
        assert frame.image.flags.c_contiguous
        assert _mean_abs_diff(frame.image, picture) < 6
    assert source.stats == DecodeStats(frames_decoded=12)


CODECS = [
    ("h264", ("libx264",), "mp4", None),
    ("hevc", ("libx265",), "mp4", None),
    ("vp9", ("libvpx-vp9",), "webm", None),
    ("av1", ("libsvtav1", "libaom-av1", "librav1e"), "mkv", None),
    ("mpeg4", ("mpeg4",), "avi", None),
    ("mjpeg", ("mjpeg",), "avi", "yuvj420p"),
]
ENCODER_OPTIONS = {
    "libx265": {"x265-params": "log-level=error"},
    "libsvtav1": {"preset": "12"},
    "libaom-av1": {"cpu-used": "8"},
}


@pytest.mark.parametrize(
    ("name", "encoders", "suffix", "pix_fmt"), CODECS, ids=[c[0] for c in CODECS]
)
def test_codecs_decode(
    tmp_path: Path, name: str, encoders: tuple[str, ...], suffix: str, pix_fmt: str | None
) -> None:
    codec = next((e for e in encoders if has_encoder(e)), None)
    if codec is None:
        pytest.skip(f"PyAV's FFmpeg has no {name} encoder ({', '.join(encoders)})")
    path = tmp_path / f"clip.{suffix}"
    options = ENCODER_OPTIONS.get(codec)
    pictures = write_clip(
        path, codec=codec, width=64, height=64, num_frames=8, pix_fmt=pix_fmt, options=options
    )
    with open_source(path) as source:
        frames = list(source)
    assert len(frames) == 8
    assert source.info.codec == name
    assert source.info.width == 64 and source.info.height == 64
    pts = [f.pts for f in frames]
    assert pts == sorted(pts) and len(set(pts)) == 8
    for frame, picture in zip(frames, pictures, strict=True):
        assert _mean_abs_diff(frame.image, picture) < 12


def test_odd_size_decodes(tmp_path: Path) -> None:
    path = tmp_path / "odd.mkv"
    pictures = write_clip(path, width=161, height=97, num_frames=5, options={"crf": "0"})
    info = probe(path)
    assert (info.width, info.height) == (161, 97)
    with open_source(path) as source:
        frames = list(source)
    assert frames[0].image.shape == (97, 161, 3)
    assert _mean_abs_diff(frames[4].image, pictures[4]) < 1.5


@pytest.mark.parametrize(
    ("ccw", "clockwise", "corner"),
    [(90, 270, "bottom-left"), (180, 180, "bottom-right"), (-90, 90, "top-right")],
)
def test_rotation_metadata_is_applied(
    tmp_path: Path, ccw: int, clockwise: int, corner: str
) -> None:
    path = tmp_path / "rotated.mp4"
    write_clip(path, width=96, height=64, num_frames=4, rotation=ccw)
    info = probe(path)
    assert info.rotation == clockwise
    expected_size = (64, 96) if clockwise in (90, 270) else (96, 64)
    assert (info.width, info.height) == expected_size
    with open_source(path) as source:
        image = next(iter(source)).image
    assert image.shape == (info.height, info.width, 3)
    # The white square drawn at the top-left of the stored picture, after rotation.
    corners = {
        "top-left": image[:4, :4],
        "top-right": image[:4, -4:],
        "bottom-left": image[-4:, :4],
        "bottom-right": image[-4:, -4:],
    }
    assert corners[corner].min() > 235, corner
    assert all(v.mean() < 235 for k, v in corners.items() if k != corner)


def test_range_yields_absolute_indices(tmp_path: Path) -> None:
    path = tmp_path / "clip.mkv"
    write_clip(path, num_frames=20, time_base=Fraction(1, 1000))
    with open_source(path, start=5, end=9) as source:
        frames = list(source)
        assert source.info.num_frames == 20  # info describes the whole file
    assert [f.index for f in frames] == [5, 6, 7, 8]
    assert [f.pts for f in frames] == [200, 240, 280, 320]
    assert [f.name for f in frames] == ["00005", "00006", "00007", "00008"]


def test_range_past_the_end_raises(tmp_path: Path) -> None:
    path = tmp_path / "clip.mkv"
    write_clip(path, num_frames=5)
    with open_source(path, start=50) as source, pytest.raises(VideoDecodeError, match="range"):
        list(source)


@pytest.mark.parametrize(
    "kwargs", [{"start": -1}, {"start": 3, "end": 3}, {"prefetch": 0}, {"threads": -2}]
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, int]) -> None:
    path = tmp_path / "clip.mkv"
    write_clip(path, num_frames=3)
    with pytest.raises(InvalidArgumentError):
        open_source(path, **kwargs)


def _decode_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("decode:")]


def _wait_no_decode_thread(timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _decode_threads():
            return True
        time.sleep(0.02)
    return False


def test_early_break_stops_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "clip.mkv"
    write_clip(path, num_frames=30)
    with open_source(path, prefetch=2) as source:
        for frame in source:
            assert frame.index == 0
            break
    assert _wait_no_decode_thread()
    # Closing without iterating and iterating after close also end cleanly.
    source = open_source(path, prefetch=1)
    time.sleep(0.05)  # let the thread fill the queue and block
    source.close()
    assert _wait_no_decode_thread()
    assert list(source) == []


def test_break_without_with_block_stops_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "clip.mkv"
    write_clip(path, num_frames=30)
    for frame in open_source(path, prefetch=1):
        assert isinstance(frame, Frame)
        break
    assert _wait_no_decode_thread()


def test_abandoned_source_stops_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "clip.mkv"
    write_clip(path, num_frames=30)
    source = open_source(path, prefetch=1)
    time.sleep(0.05)
    del source  # never iterated nor closed
    gc.collect()
    assert _wait_no_decode_thread()


def test_a_source_is_iterated_once(tmp_path: Path) -> None:
    path = tmp_path / "clip.mkv"
    write_clip(path, num_frames=3)
    with open_source(path) as source:
        assert len(list(source)) == 3
        with pytest.raises(RuntimeError, match="once"):
            list(source)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nothing.mp4"
    with pytest.raises(VideoOpenError, match="no such file") as caught:
        open_source(path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, OSError) and isinstance(caught.value, MoebiusError)


@pytest.mark.parametrize("kind", ["text", "random"])
def test_not_a_video(tmp_path: Path, kind: str) -> None:
    if kind == "text":
        path = tmp_path / "notes.txt"
        path.write_text("this is not a video\n" * 50)
    else:
        path = tmp_path / "noise.mp4"
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    with pytest.raises(VideoOpenError, match="not a video") as caught:
        probe(path)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_audio_only_file(tmp_path: Path) -> None:
    path = tmp_path / "sound.m4a"
    write_audio_only(path)
    with pytest.raises(VideoOpenError, match="no video stream") as caught:
        open_source(path)
    assert str(path) in str(caught.value)


def test_zero_decodable_frames(tmp_path: Path) -> None:
    template = tmp_path / "template.mkv"
    write_clip(template, num_frames=3, time_base=Fraction(1, 1000))
    path = tmp_path / "garbage.mkv"
    write_undecodable(path, template)
    with pytest.raises(VideoDecodeError, match="no decodable") as caught:
        open_source(path)
    assert str(path) in str(caught.value)


def test_truncated_file_decodes_what_it_can(tmp_path: Path) -> None:
    full = tmp_path / "full.mkv"
    write_clip(full, width=96, height=64, num_frames=30, options={"g": "5"})
    data = full.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    with open_source(cut) as source:
        frames = list(source)
    assert 0 < len(frames) < 30
    stats = source.stats
    assert stats.frames_decoded == len(frames)
    assert stats.lost_frames > 0
    assert len(frames) + stats.lost_frames == pytest.approx(30, abs=2)
    assert any("lost" in w for w in stats.warnings)


def test_truncated_to_nothing_raises(tmp_path: Path) -> None:
    full = tmp_path / "full.mkv"
    write_clip(full, num_frames=10)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(full.read_bytes()[:300])  # header only
    with pytest.raises((VideoOpenError, VideoDecodeError)):
        open_source(cut)


def test_decode_error_in_thread_reaches_the_caller(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    import cv2

    for i in range(3):
        cv2.imwrite(str(folder / f"f{i}.png"), pattern(i, 32, 24))
    cv2.imwrite(str(folder / "f3.png"), pattern(3, 30, 24))
    with open_source(folder) as source:
        with pytest.raises(VideoOpenError, match="f3.png"):
            for _ in source:
                pass
    assert _wait_no_decode_thread()


def test_decode_order_timestamps_are_repaired(tmp_path: Path) -> None:
    good = tmp_path / "good.mp4"
    pictures = write_clip(good, num_frames=16, time_base=Fraction(1, 1000))
    bad = tmp_path / "bad.mp4"
    write_decode_order_timestamps(bad, good)
    with open_source(bad) as source:
        frames = list(source)
    assert len(frames) == 16
    pts = [f.pts for f in frames]
    assert pts == sorted(pts) and len(set(pts)) == 16
    assert any("out of order" in w for w in source.stats.warnings)
    for i, frame in enumerate(frames):  # each frame is the right picture
        diffs = [_mean_abs_diff(frame.image, p) for p in pictures]
        assert int(np.argmin(diffs)) == i
