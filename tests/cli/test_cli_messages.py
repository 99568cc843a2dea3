"""Issue #15 items 8, 12 and 14: what the user is told (and what they are not shown)."""

from __future__ import annotations

import logging
import re
import socket
from pathlib import Path

import av
import numpy as np
import pytest
from helpers import write_clip

from moebius_video.cli import main


def _corrupt_clip(folder: Path) -> Path:
    """90 all-intra frames, every third packet replaced by random bytes (30 lost)."""
    good, bad = folder / "good.mp4", folder / "bad.mp4"
    write_clip(good, width=64, height=48, num_frames=90, options={"g": "1", "bf": "0"})
    rng = np.random.default_rng(0)
    with av.open(str(good)) as src, av.open(str(bad), "w") as out:
        video = src.streams.video[0]
        stream = out.add_stream_from_template(video)
        for i, packet in enumerate(src.demux(video)):
            if packet.size == 0:
                continue
            if i % 3 == 1:
                junk = av.Packet(rng.integers(0, 256, packet.size, dtype=np.uint8).tobytes())
                junk.pts, junk.dts, junk.time_base = packet.pts, packet.dts, packet.time_base
                junk.is_keyframe = True
                packet = junk
            packet.stream = stream
            out.mux(packet)
    return bad


def test_corrupt_input_summary_is_never_swallowed(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = _corrupt_clip(tmp_path)
    code = main(["remove", str(bad), "--box", "10,10,12,12", "--fill", "telea",
                 "-o", str(tmp_path / "o.mp4")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "further decoding warnings suppressed" in err
    summary = [line for line in err.splitlines() if "announced frames lost" in line]
    assert len(summary) == 1, err
    assert re.search(r"decoded \d+ frames; about \d+ announced frames lost", summary[0])
    assert "further warnings were suppressed" in summary[0]


# --------------------------------------------------------------------------------------
# 12. Credentials in URLs are redacted everywhere
# --------------------------------------------------------------------------------------


def test_redact_hides_passwords_tokens_and_query_secrets() -> None:
    from moebius_video.io.urls import redact

    text = ("cannot open rtsp://admin:S3cret@10.0.0.2:554/live: refused (rtsp://admin:S3cret@10.0.0.2) "
            "and rtmp://tok3n@host/app?key=K3y&x=1 and srt://h:9000?passphrase=ok&token=T0k")
    clean = redact(text)
    for secret in ("S3cret", "tok3n", "K3y", "T0k"):
        assert secret not in clean, clean
    assert "rtsp://admin:***@10.0.0.2:554/live" in clean
    assert "x=1" in clean
    assert redact("/videos/a=b.mp4") == "/videos/a=b.mp4"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_stream_url_password_never_printed(tmp_path: Path, capsys, caplog) -> None:  # type: ignore[no-untyped-def]
    url = f"tcp://admin:S3cret@127.0.0.1:{_closed_port()}?timeout=500000"
    caplog.set_level(logging.DEBUG)
    code = main(["stream", url, str(tmp_path / "o.mp4"), "--box", "1,1,4,4", "-vv",
                 "--reconnect", "1", "--reconnect-delay", "0.01", "--open-timeout", "1"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "admin:***@127.0.0.1" in err
    assert "S3cret" not in out + err
    assert all("S3cret" not in record.getMessage() for record in caplog.records)


# --------------------------------------------------------------------------------------
# 14. Small ones
# --------------------------------------------------------------------------------------


def test_give_up_error_is_printed_once(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A source lost mid-stream: one error line, not a logged error and then the same again."""
    from moebius_video.engine.live import LiveConfig, run_live
    from moebius_video.errors import VideoOpenError
    from moebius_video.io.capture import FakeCapture, ReconnectingCapture, ReconnectPolicy

    images = [np.full((48, 64, 3), i * 10, np.uint8) for i in range(5)]

    def opener():  # type: ignore[no-untyped-def]
        if opener.calls:
            raise VideoOpenError("fake: connection refused")
        opener.calls += 1
        return FakeCapture(images, num_frames=None, disconnect_after=5)

    opener.calls = 0
    source = ReconnectingCapture(opener, ReconnectPolicy(attempts=1, initial_delay=0.01), name="fake")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.ERROR)
    logging.getLogger("moebius_video").addHandler(handler)
    try:
        with pytest.raises(VideoOpenError, match="gave up"):
            run_live(source, [], LiveConfig(mode="all"))
    finally:
        logging.getLogger("moebius_video").removeHandler(handler)
    assert [r.getMessage() for r in records if "gave up" in r.getMessage()] == []


def test_live_view_address_is_not_a_warning(capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(["webcam", "--device", "fake", "--no-preview", "--max-frames", "3", "--http", "0",
                 "--box", "10,10,20,20"])
    err = capsys.readouterr().err
    assert code == 0
    line = next(line for line in err.splitlines() if "live view at" in line)
    assert "warning" not in line and "http://127.0.0.1:" in line


def test_x265_prints_nothing_of_its_own(tmp_path: Path, capfd) -> None:  # type: ignore[no-untyped-def]
    from helpers import has_encoder

    if not has_encoder("libx265"):
        pytest.skip("this FFmpeg has no libx265")
    write_clip(tmp_path / "in.mp4", width=64, height=48, num_frames=6)
    code = main(["remove", str(tmp_path / "in.mp4"), "--box", "10,10,12,12", "--fill", "telea",
                 "--codec", "libx265", "-o", str(tmp_path / "o.mkv")])
    err = capfd.readouterr().err
    assert code == 0, err
    assert "x265 [info]" not in err and "x265 [" not in err, err


def test_readme_examples_listen_on_loopback() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "0.0.0.0" not in readme

