"""Issue #15 item 6: a network source that ends unexpectedly is retried like a stall, and
the command says how its input ended; the end of a file is a normal end."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import av.error
import numpy as np
from helpers import free_port, send_mpegts

from moebius_video.cli import main
from moebius_video.synthetic import SceneConfig, SyntheticScene


def _images(count: int) -> list[np.ndarray]:
    scene = SyntheticScene(SceneConfig(width=160, height=96, num_frames=count,
                                       object_fraction=0.1, pan_speed=1.0))
    return [scene.frame(i).image for i in range(count)]


def test_a_sender_that_dies_is_retried_then_an_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    errors: list[BaseException] = []
    sender = threading.Thread(target=send_mpegts, args=(port, _images(15), 50, errors), daemon=True)
    sender.start()
    out = tmp_path / "out.mp4"
    code = main(["stream", f"tcp://127.0.0.1:{port}?listen=1", str(out), "--box", "40,30,30,20",
                 "--mode", "all", "--open-timeout", "1", "--read-timeout", "2",
                 "--reconnect", "2", "--reconnect-delay", "0.05"])
    sender.join(10)
    assert not errors, errors
    err = capsys.readouterr().err
    assert code == 1, err
    assert "stream ended unexpectedly" in err and "reconnecting" in err
    assert "gave up after 2 reconnect attempts" in err
    with av.open(str(out)) as container:  # what was received is kept, playable
        assert len(list(container.decode(video=0))) == 15


def test_no_reconnect_on_end_makes_that_end_normal_and_says_so(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    errors: list[BaseException] = []
    sender = threading.Thread(target=send_mpegts, args=(port, _images(10), 50, errors), daemon=True)
    sender.start()
    code = main(["stream", f"tcp://127.0.0.1:{port}?listen=1", str(tmp_path / "o.mp4"),
                 "--box", "40,30,30,20", "--mode", "all", "--open-timeout", "5",
                 "--no-reconnect-on-end"])
    sender.join(10)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "ended: the sender closed the stream" in out
    assert "not reconnecting" in err


def test_the_end_of_a_file_is_a_normal_end(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from helpers import write_clip

    src = tmp_path / "in.mp4"
    write_clip(src, width=64, height=48, num_frames=10)
    code = main(["stream", str(src), str(tmp_path / "o.mp4"), "--box", "10,10,12,12"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "ended: end of the file" in out
    assert "warning" not in err


def test_a_stated_duration_reached_is_a_normal_end(tmp_path: Path) -> None:
    """A finite file read through the stream reader (file:// URL) ends completely."""
    from helpers import write_clip

    from moebius_video.io.capture import StreamCapture

    src = tmp_path / "in.mp4"
    write_clip(src, width=64, height=48, num_frames=10)
    capture = StreamCapture(f"file:{src}", low_latency=False)
    try:
        count = 0
        while capture.read() is not None:
            count += 1
    finally:
        capture.close()
    assert count == 10
    assert capture.complete and "duration" in capture.end_note



