"""Live streams over real loopback connections (MPEG-TS over TCP and UDP on 127.0.0.1).

A PyAV sender thread connects to the command's listening input and streams a generated
clip; the command tracks the boxed object, removes it and writes a file.

(The receiving side listens and the sender connects: PyAV holds the GIL while an *output*
waits in ``accept()``, so an in-process sender must not be the listening side.)
"""

from __future__ import annotations

import argparse
import re
import socket
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
import pytest
from helpers import free_port, send_mpegts

from moebius_video.cli import live as live_cli
from moebius_video.engine.live import LiveConfig, LiveStats, run_live
from moebius_video.errors import VideoDecodeError, VideoOpenError
from moebius_video.io.capture import FakeCapture, StreamCapture
from moebius_video.io.stream_out import AVStreamSink


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moebius-video")
    common = argparse.ArgumentParser(add_help=False)
    sub = parser.add_subparsers(dest="command")
    live_cli.register(sub, common)
    return parser


@pytest.mark.parametrize("mode", ["live", "all"])
def test_tcp_loopback_stream_removes_the_object(tmp_path: Path, h, capsys, mode: str) -> None:
    # The object's path spans 120 frames; 30 are sent, so it moves a few pixels a frame
    # (live mode drops the start-up burst, so the tracker sees a few larger jumps).
    scene = h.tiny_scene(120, width=160, height=96)
    images = [scene.frame(i).image for i in range(30)]
    ys, xs = np.nonzero(scene.frame(0).mask)
    box = f"{xs.min()},{ys.min()},{xs.max() - xs.min() + 1},{ys.max() - ys.min() + 1}"
    port = free_port()
    errors: list[BaseException] = []
    sender = threading.Thread(target=send_mpegts, args=(port, images, 50, errors),
                              kwargs={"options": {"crf": "18"}}, daemon=True)
    sender.start()
    out = tmp_path / "out.mp4"
    args = _parser().parse_args([
        "stream", f"tcp://127.0.0.1:{port}?listen=1", str(out), "--box", box,
        "--reconnect", "0", "--open-timeout", "10", "--read-timeout", "5", "--duration", "20",
        "--mode", mode, "--no-reconnect-on-end",  # this sender stops on purpose
    ])
    t0 = time.monotonic()
    assert args.func(args) == 0
    sender.join(10)
    assert not errors, errors
    assert time.monotonic() - t0 < 20
    line = capsys.readouterr().out
    found = re.search(r"(\d+) frames out of (\d+) \((\d+) dropped\)", line)
    assert found, line
    frames_out, frames_in, dropped = (int(v) for v in found.groups())
    assert frames_in == 30  # every frame sent was received...
    assert frames_out + dropped == frames_in  # ...and each was written or counted as dropped

    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert frames[0].shape == (96, 160, 3)
    assert len(frames) == frames_out
    if mode == "all":
        assert frames_out == 30
    # The object is gone: inside its mask, the last frame is closer to the clean background
    # than to the object (the last frame sent is never dropped: the newest frame wins).
    last = scene.frame(29)
    inside = last.mask
    err_bg = np.abs(frames[-1][inside].astype(int) - last.background[inside]).mean()
    err_obj = np.abs(frames[-1][inside].astype(int) - last.image[inside]).mean()
    assert err_bg < 0.5 * err_obj


def test_tcp_stream_that_stalls_reconnects_then_exits_with_a_clear_error(
    tmp_path: Path, h
) -> None:
    scene = h.tiny_scene(15, width=160, height=96)
    images = [scene.frame(i).image for i in range(15)]
    port = free_port()
    errors: list[BaseException] = []
    hold = threading.Event()
    sender = threading.Thread(target=send_mpegts, args=(port, images, 50, errors),
                              kwargs={"options": {"crf": "18"}, "hold": hold}, daemon=True)
    sender.start()
    out = tmp_path / "out.mp4"
    args = _parser().parse_args([
        "stream", f"tcp://127.0.0.1:{port}?listen=1", str(out), "--box", "40,30,30,20",
        "--mode", "all", "--read-timeout", "0.5", "--open-timeout", "1",
        "--reconnect", "2", "--reconnect-delay", "0.05",
    ])
    t0 = time.monotonic()
    try:
        with pytest.raises(VideoOpenError, match="gave up after 2 reconnect attempts") as info:
            args.func(args)
    finally:
        hold.set()
        sender.join(10)
    assert "\n" not in str(info.value)
    assert time.monotonic() - t0 < 15
    with av.open(str(out)) as container:  # what was received before the stall is kept
        assert len(list(container.decode(video=0))) == 15


def test_udp_loopback_from_the_live_sink_to_the_stream_capture(h) -> None:
    """The library's own sender (AVStreamSink, MPEG-TS over UDP) to its own receiver."""
    scene = h.tiny_scene(40, width=160, height=96)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    sent: list[LiveStats] = []

    def send() -> None:
        time.sleep(0.2)  # the receiver binds first
        sink = AVStreamSink(f"udp://127.0.0.1:{port}?pkt_size=1316", 160, 96,
                            frame_rate=Fraction(25))
        source = FakeCapture.from_scene(scene, prerender=40, frame_rate=25)
        sent.append(run_live(source, [sink], LiveConfig(mode="all")))  # send every frame

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    receiver = StreamCapture(f"udp://127.0.0.1:{port}", format="mpegts", open_timeout=1.5,
                             read_timeout=0.5)
    assert (receiver.info.width, receiver.info.height) == (160, 96)
    received = 0
    with pytest.raises(VideoDecodeError, match="stalled"):  # UDP has no end: silence
        while receiver.read() is not None:
            received += 1
    receiver.close()
    sender.join(10)
    assert sent and sent[0].frames_out == 40
    assert 30 <= received <= 40
