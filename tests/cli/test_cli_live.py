"""`webcam` and `stream` commands without a camera, a display or a network."""

from __future__ import annotations

import argparse
import threading
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from moebius_video.cli import live as live_cli
from moebius_video.engine.live import LiveConfig, LiveEngine
from moebius_video.errors import InvalidArgumentError, OutputError, VideoOpenError
from moebius_video.io.capture import FakeCapture
from moebius_video.synthetic import write_scene_clip


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="moebius-video")
    sub = parser.add_subparsers(dest="command")
    live_cli.register(sub, argparse.ArgumentParser(add_help=False))
    return parser.parse_args(list(argv))


def test_webcam_fake_device_headless_writes_a_file(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cam.mp4"
    args = _parse("webcam", "--device", "fake", "--size", "160x96", "--no-preview",
                  "--box", "40,30,30,20", "--max-frames", "12", "-o", str(out))
    assert args.func(args) == 0
    assert "frames out of 12" in capsys.readouterr().out
    with av.open(str(out)) as container:
        frames = list(container.decode(video=0))
    assert 1 <= len(frames) <= 12 and (frames[0].width, frames[0].height) == (160, 96)


def test_webcam_without_camera_is_a_clear_error() -> None:
    args = _parse("webcam", "--camera", "63", "--no-preview")
    with pytest.raises(VideoOpenError, match="cannot open camera 63"):
        args.func(args)


def test_webcam_without_display_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    args = _parse("webcam", "--device", "fake")
    with pytest.raises(OutputError, match="no display.*--no-preview"):
        args.func(args)


class FakeDisplay:
    """Scripted keys; records what was shown."""

    def __init__(self, keys: list[int], box: tuple[int, int, int, int]) -> None:
        self.keys = keys
        self.box = box
        self.shown: list[np.ndarray] = []
        self.selected = 0
        self.closed = False

    def show(self, image: np.ndarray) -> None:
        self.shown.append(image)

    def poll_key(self, delay_ms: int) -> int:
        threading.Event().wait(0.03)
        if not self.shown:
            return -1
        return self.keys.pop(0) if self.keys else -1

    def select_box(self, image: np.ndarray) -> tuple[int, int, int, int] | None:
        self.selected += 1
        return self.box

    def close(self) -> None:
        self.closed = True


def test_preview_keys_select_reset_and_quit(h) -> None:
    scene = h.tiny_scene(30)
    source = FakeCapture.from_scene(scene, prerender=30, num_frames=None, frame_rate=60)
    engine = LiveEngine(source, [], LiveConfig(tracker="static"))
    display = FakeDisplay([-1, ord("s"), -1, -1, ord("r"), -1, ord("q")], (10, 10, 20, 20))
    engine.start()
    assert live_cli.run_preview(engine, display, delay_ms=1) == "quit"
    stats = engine.finish()
    assert stats.stop_reason == "stopped"
    assert display.selected == 1
    assert display.shown and display.shown[0].shape == (64, 2 * 96 + 4, 3)  # before | after
    assert not engine.running


def test_webcam_with_injected_display_runs_the_preview(tmp_path: Path) -> None:
    args = _parse("webcam", "--camera", "fake", "--size", "96x64", "--max-frames", "200")
    display = FakeDisplay([-1, -1, ord("q")], (10, 10, 20, 20))
    assert live_cli.run_webcam(args, display=display) == 0
    assert display.closed and display.shown


def test_stream_from_a_file_processes_every_frame(tmp_path: Path, h) -> None:
    clip = tmp_path / "in.mp4"
    write_scene_clip(clip, h.tiny_scene(8), frame_rate=Fraction(25), audio=False)
    out = tmp_path / "out.ts"
    args = _parse("stream", str(clip), str(out), "--box", "10,10,20,20")
    assert args.func(args) == 0
    with av.open(str(out)) as container:
        assert len(list(container.decode(video=0))) == 8


def test_stream_file_to_file_is_remove(tmp_path: Path, h, capsys) -> None:
    """File mode's driver: the same frames as ``remove`` (bit for bit), a look-ahead filler
    accepted, the audio kept.

    The frames are compared as PNG output: PyAV's x264 is not bit-reproducible from run to
    run (see the README's Status), and comparing two MP4s failed about one run in three."""
    from moebius_video.cli import main

    clip = tmp_path / "in.mp4"
    write_scene_clip(clip, h.tiny_scene(10), frame_rate=Fraction(25), audio=True)
    box = ["--box", "10,10,20,20", "--fill", "temporal-offline"]
    assert main(["stream", str(clip), str(tmp_path / "s"), *box]) == 0
    assert "10 frames out of 10 (0 dropped)" in capsys.readouterr().out
    assert main(["remove", str(clip), "-o", str(tmp_path / "r"), *box]) == 0
    streamed = sorted((tmp_path / "s").glob("*.png"))
    removed = sorted((tmp_path / "r").glob("*.png"))
    assert len(streamed) == 10 and [p.name for p in streamed] == [p.name for p in removed]
    assert all(np.array_equal(cv2.imread(str(a)), cv2.imread(str(b)))
               for a, b in zip(streamed, removed, strict=True))
    assert main(["stream", str(clip), str(tmp_path / "s.mp4"), *box]) == 0
    streamed_mp4, _, _, _ = h.read_video(tmp_path / "s.mp4")
    assert len(streamed_mp4) == 10
    with av.open(str(tmp_path / "s.mp4")) as container:
        assert len(container.streams.audio) == 1


def test_stream_refuses_bad_arguments(tmp_path: Path) -> None:
    args = _parse("stream", str(tmp_path / "nope.mp4"), "out.mp4", "--box", "1,1,4,4")
    with pytest.raises(InvalidArgumentError, match="neither a URL nor an existing file"):
        args.func(args)
    args = _parse("stream", "udp://127.0.0.1:5000", "gopher://x", "--box", "1,1,4,4")
    with pytest.raises(InvalidArgumentError, match="protocol"):
        args.func(args)
    with pytest.raises(SystemExit):
        _parse("stream", "a.mp4", "b.mp4")  # --box or --mask is required


def test_webcam_serves_the_browser_view_while_running(monkeypatch, capsys) -> None:
    pytest.importorskip("fastapi", reason="--http needs the web extra")
    import urllib.request

    from moebius_video import web
    from moebius_video.web.live import LiveView

    servers: list[object] = []
    serve = web.serve_live

    def serve_and_keep(view, **kwargs):  # type: ignore[no-untyped-def]
        servers.append(serve(view, **kwargs))
        return servers[-1]

    pages: list[bytes] = []
    original = LiveView.publish

    def publish(self, channel, image):  # type: ignore[no-untyped-def]
        original(self, channel, image)
        if not pages and channel == "after" and servers:
            with urllib.request.urlopen(servers[0].url + "live/after.jpg", timeout=5) as snap:
                pages.append(snap.read())

    monkeypatch.setattr(web, "serve_live", serve_and_keep)
    monkeypatch.setattr(LiveView, "publish", publish)
    args = _parse("webcam", "--camera", "fake", "--size", "96x64", "--no-preview",
                  "--box", "10,10,20,20", "--max-frames", "10", "--http", "0")
    assert args.func(args) == 0
    assert pages and pages[0][:2] == b"\xff\xd8"
    assert "live view at http://127.0.0.1:" in capsys.readouterr().err
