"""The server itself (uvicorn on a real socket): backlog, idle connections, Host header, the
live page, and ``moebius-video edit`` as a process (issue #15 item 11; issue #16)."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("uvicorn", reason="the web server needs the web extra (uvicorn)")

from fastapi import FastAPI  # noqa: E402

from moebius_video.web import serve_live  # noqa: E402
from moebius_video.web.app import EditorConfig, create_app  # noqa: E402
from moebius_video.web.live import LiveView  # noqa: E402
from moebius_video.web.server import WebServer  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def _blocking_app(release: threading.Event) -> FastAPI:
    app = FastAPI()

    @app.get("/block")
    async def block() -> dict[str, bool]:
        # Blocks the event loop on purpose: nothing is accepted while it runs.
        release.wait(10)
        return {"ok": True}

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    return app


def _request(port: int, raw: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


def test_fifty_clients_connect_at_once_while_the_server_is_busy() -> None:
    """The old server listened with a backlog of 5: 50 clients took 8 s (SYN retries). Here
    the kernel completes every handshake even while the event loop is blocked."""
    release = threading.Event()
    with WebServer(_blocking_app(release), port=0) as server:
        server.start()
        ss = shutil.which("ss")
        if ss:
            out = subprocess.run([ss, "-ltnH", f"sport = :{server.port}"], capture_output=True,
                                 text=True, check=False).stdout.split()
            if len(out) >= 3:
                assert int(out[2]) >= 128  # Send-Q of a listening socket = its backlog
        blocker = threading.Thread(
            target=lambda: urllib.request.urlopen(server.url + "block", timeout=15).read())
        blocker.start()
        time.sleep(0.3)  # the loop is now blocked
        clients = []
        for _ in range(50):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", server.port))
            clients.append(s)
        # A dropped SYN is retried after 1 s; every handshake completes well before.
        _, writable, _ = select.select([], clients, [], 0.8)
        connected = [s for s in writable if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0]
        release.set()
        blocker.join(15)
        assert len(connected) == 50
        for s in clients:
            s.setblocking(True)
            s.settimeout(10)
            s.sendall(f"GET /ping HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                      "Connection: close\r\n\r\n".encode())
        answers = [s.recv(200) for s in clients]
        for s in clients:
            s.close()
        assert all(a.startswith(b"HTTP/1.1 200") for a in answers)


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> float | None:
    """Seconds until the server closes ``sock`` (sending ``trickle`` byte by byte meanwhile)."""
    start = time.monotonic()
    sock.settimeout(0.1)
    i = 0
    while time.monotonic() - start < seconds:
        if i < len(trickle):
            try:
                sock.sendall(trickle[i:i + 1])
            except OSError:
                return time.monotonic() - start
            i += 1
        try:
            if sock.recv(1024) == b"":
                return time.monotonic() - start
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - start
    return None


def test_idle_and_slow_connections_are_closed() -> None:
    release = threading.Event()
    release.set()
    with WebServer(_blocking_app(release), port=0, idle_timeout=0.6) as server:
        server.start()
        addr = ("127.0.0.1", server.port)
        with socket.create_connection(addr) as silent:  # connects, never sends
            assert _closed_within(silent, 5.0) is not None
        with socket.create_connection(addr) as slow:  # a header byte every 0.1 s (slow loris)
            head = f"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: {'a' * 200}\r\n".encode()
            took = _closed_within(slow, 5.0, trickle=head)
            assert took is not None and took < 3.0
        with socket.create_connection(addr) as kept:  # keep-alive after a response
            kept.sendall(f"GET /ping HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
            kept.settimeout(5)
            assert kept.recv(1024).startswith(b"HTTP/1.1 200")
            assert _closed_within(kept, 5.0) is not None


def test_the_host_header_is_checked_on_the_wire() -> None:
    with WebServer(create_app(EditorConfig(editor=False), live=LiveView()), port=0) as server:
        server.start()
        good = _request(server.port, f"GET /api/live HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                        "Connection: close\r\n\r\n".encode())
        assert good.startswith(b"HTTP/1.1 200")
        for host in ("rebind.attacker.example", f"attacker.example:{server.port}", ""):
            bad = _request(server.port, f"GET /api/live HTTP/1.1\r\nHost: {host}\r\n"
                           "Connection: close\r\n\r\n".encode())
            assert bad.startswith(b"HTTP/1.1 400"), host
        # no Host at all (HTTP/1.0)
        assert _request(server.port, b"GET /api/live HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 400")


def test_the_live_page_streams_before_and_after_and_takes_a_box() -> None:
    boxes: list[tuple[int, int, int, int]] = []

    class Engine:
        def set_box(self, box, *, reference=None):  # type: ignore[no-untyped-def]
            assert reference is not None and reference.shape == (48, 64, 3)
            boxes.append(tuple(box))

        def clear_mask(self) -> None:
            boxes.append((0, 0, 0, 0))

    view = LiveView(status=lambda: {"frames_out": 3}, control=Engine(), title="test")
    image = np.zeros((48, 64, 3), np.uint8)
    server = serve_live(view, port=0)
    try:
        view.publish("before", image)
        view.publish("after", image + 50)
        with urllib.request.urlopen(server.url, timeout=5) as page:
            assert b"/static/editor.js" in page.read()
        with urllib.request.urlopen(server.url + "api/live", timeout=5) as r:
            status = json.loads(r.read())
        assert status["active"] and status["size"] == [64, 48] and status["stats"] == {"frames_out": 3}
        with urllib.request.urlopen(server.url + "live/after.jpg", timeout=5) as snap:
            assert snap.headers["Content-Type"] == "image/jpeg" and snap.read(2) == b"\xff\xd8"
        stream = urllib.request.urlopen(server.url + "live/after.mjpg", timeout=5)
        assert stream.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        view.publish("after", image)
        chunk = stream.read(300)
        assert b"--frame" in chunk and b"image/jpeg" in chunk
        req = urllib.request.Request(server.url + "api/live/box", method="POST",
                                     data=json.dumps({"box": [1, 2, 30, 20]}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200
        assert boxes == [(1, 2, 30, 20)]
        # the editor's routes are not there
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(server.url + "api/sessions/x", timeout=5)
        assert error.value.code == 400
    finally:
        t0 = time.monotonic()
        server.close()
        assert time.monotonic() - t0 < 5.0  # the open MJPEG stream did not hold it
    assert stream.read() is not None  # the stream ended (no hang)
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url, timeout=2)


def test_a_port_in_use_is_a_clear_error() -> None:
    from moebius_video.errors import OutputError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OutputError, match=f"cannot serve on 127.0.0.1:{port}"):
            WebServer(FastAPI(), port=port)


def test_edit_command_serves_until_ctrl_c_and_cleans_up(clip: Path, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "moebius_video", "edit", str(clip), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("moebius-video: editor at http://127.0.0.1:"), line
        url = line.split(" at ")[1].split()[0]
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "api/config", timeout=5) as r:
                    config = json.loads(r.read())
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert config["video"] == str(clip.resolve()) and config["editor"]
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith("moebius-edit-")]
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130, proc.stderr.read()  # type: ignore[union-attr]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("moebius-edit-")]


def test_edit_refuses_bad_arguments(tmp_path: Path, capsys) -> None:
    from moebius_video.cli import main

    assert main(["edit", str(tmp_path / "missing.mp4")]) == 1
    assert "video not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["edit", "--port", "70000"])
    assert exit_.value.code == 2
    assert "a port must be between 0 and 65535" in capsys.readouterr().err


def test_a_work_folder_left_by_a_killed_editor_is_deleted(tmp_path: Path) -> None:
    from moebius_video.web.server import make_work_dir

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp_path / "moebius-edit-old"
    left.mkdir()
    (left / "pid").write_text(f"{dead.pid}\n")
    (left / "s-x").mkdir()
    alive = tmp_path / "moebius-edit-running"
    alive.mkdir()
    (alive / "pid").write_text(f"{os.getppid()}\n")
    fresh = Path(make_work_dir(tmp_path))
    assert not left.exists() and alive.exists() and fresh.exists()
    assert (fresh / "pid").read_text().strip() == str(os.getpid())
