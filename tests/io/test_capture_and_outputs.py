"""Capture sources and live outputs: fake pacing, files, cameras, sinks, the MJPEG server."""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from moebius_video.errors import InvalidArgumentError, OutputError, VideoDecodeError, VideoOpenError
from moebius_video.io.capture import (
    FakeCapture,
    FileCapture,
    ReconnectPolicy,
    WebcamCapture,
    is_network_url,
    open_capture,
)
from moebius_video.io.frames import Frame
from moebius_video.io.stream_out import AVStreamSink, output_format
from moebius_video.synthetic import write_scene_clip


def test_fake_capture_is_paced_and_stamped(h) -> None:
    source = FakeCapture.from_scene(h.tiny_scene(5), frame_rate=50)
    t0 = time.monotonic()
    items = [source.read() for _ in range(5)]
    assert source.read() is None
    assert time.monotonic() - t0 >= 4 / 50 * 0.9
    assert [it.frame.index for it in items] == list(range(5))
    stamps = np.diff([it.captured_at for it in items])
    np.testing.assert_allclose(stamps, 1 / 50, atol=1e-6)
    assert items[1].frame.pts * items[1].frame.time_base == Fraction(1, 50)
    assert source.info.width == 96 and source.info.height == 64


def test_fake_capture_faults(h) -> None:
    scene = h.tiny_scene(5)
    lost = FakeCapture.from_scene(scene, frame_rate=None, disconnect_after=2)
    lost.read(), lost.read()
    with pytest.raises(VideoDecodeError, match="connection lost"):
        lost.read()
    stalled = FakeCapture.from_scene(scene, frame_rate=None, stall_after=0, stall_seconds=0.05)
    with pytest.raises(VideoDecodeError, match="stalled"):
        stalled.read()
    with pytest.raises(InvalidArgumentError):
        FakeCapture([], frame_rate=30)
    with pytest.raises(InvalidArgumentError, match="frame_rate"):
        FakeCapture.from_scene(scene, frame_rate=-1)


def test_reconnect_policy_delays() -> None:
    policy = ReconnectPolicy(attempts=5, initial_delay=0.5, factor=2, max_delay=3)
    assert [policy.delay(i) for i in range(1, 6)] == [0.5, 1.0, 2.0, 3, 3]
    with pytest.raises(InvalidArgumentError, match="attempts"):
        ReconnectPolicy(attempts=-1)


def test_file_capture_and_open_capture(tmp_path: Path, h) -> None:
    clip = tmp_path / "clip.mp4"
    write_scene_clip(clip, h.tiny_scene(6), frame_rate=Fraction(25), audio=False)
    source = open_capture(str(clip))
    assert isinstance(source, FileCapture) and source.info.live is False
    frames = []
    while (item := source.read()) is not None:
        frames.append(item.frame)
    source.close()
    assert len(frames) == 6 and frames[0].image.shape == (64, 96, 3)
    with pytest.raises(VideoOpenError):
        open_capture(str(tmp_path / "missing.mp4"))
    assert is_network_url("rtsp://cam/1") and is_network_url("udp://127.0.0.1:5000")
    assert not is_network_url("clip.mp4") and not is_network_url("file:///x.mp4")


def test_missing_camera_is_one_clear_error() -> None:
    with pytest.raises(VideoOpenError, match="camera 63") as info:
        WebcamCapture(63)
    assert "\n" not in str(info.value)


def test_network_source_that_is_not_there_gives_up(h) -> None:
    policy = ReconnectPolicy(attempts=2, initial_delay=0.01)
    t0 = time.monotonic()
    with pytest.raises(VideoOpenError, match="gave up after 2 reconnect attempts"):
        open_capture("tcp://127.0.0.1:9", reconnect=policy, open_timeout=1)
    assert time.monotonic() - t0 < 10


def test_av_stream_sink_writes_a_file_atomically(tmp_path: Path, h) -> None:
    scene = h.tiny_scene(5)
    target = tmp_path / "out.mp4"
    sink = AVStreamSink(target, 96, 64, frame_rate=Fraction(25))
    for i in range(5):
        sink.write(Frame(i, scene.frame(i).image, pts=i * 3600, time_base=Fraction(1, 90000)))
        assert not target.exists()  # a temporary name until close()
    sink.close()
    with av.open(str(target)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
    assert len(frames) == 5 and (frames[0].width, frames[0].height) == (96, 64)
    assert float(frames[1].time) == pytest.approx(0.04, abs=1e-3)
    with pytest.raises(OutputError, match="exists"):
        AVStreamSink(target, 96, 64)
    aborted = AVStreamSink(tmp_path / "gone.mp4", 96, 64)
    aborted.write(Frame(0, scene.frame(0).image))
    aborted.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
    with pytest.raises(InvalidArgumentError, match="expected"):
        AVStreamSink(tmp_path / "x.mp4", 96, 64).write(Frame(0, np.zeros((8, 8, 3), np.uint8)))


def test_av_stream_sink_to_nobody_is_a_clear_error() -> None:
    with pytest.raises(OutputError, match="tcp://127.0.0.1:9.*refused"):
        AVStreamSink("tcp://127.0.0.1:9", 64, 48)


def test_output_formats() -> None:
    assert output_format("udp://127.0.0.1:5000") == "mpegts"
    assert output_format("rtmp://host/live/key") == "flv"
    assert output_format("out.mp4") is None
    with pytest.raises(InvalidArgumentError, match="protocol"):
        output_format("gopher://x")


