"""Serving the app with uvicorn: in the foreground (``edit``) or in a thread (live views).

What the hand-written MJPEG server lacked and this one has (issue #15, item 11):

- a listen backlog of 2048 (uvicorn's; the kernel caps it at ``somaxconn``) instead of 5;
- one event loop, not one thread per client, and an idle timeout: a connection that has
  not sent a complete request head within ``idle_timeout`` seconds of opening (or of its
  last response) is closed; uvicorn alone closes only idle keep-alive connections, never a
  connection that sends nothing or a slow trickle of header bytes;
- the Host header is checked (:mod:`moebius_video.web.guard`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from moebius_video.errors import OutputError

logger = logging.getLogger(__name__)

#: Connections waiting to be accepted (uvicorn's default; the kernel caps it).
BACKLOG = 2048
#: Seconds a connection may stay open without a complete request head.
IDLE_TIMEOUT = 5.0


class IdleTimeoutH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, plus a deadline for each request head.

    The deadline starts when the connection opens and after every response; bytes that do
    not complete a request head do not extend it (no slow-loris).
    """

    def connection_made(self, transport: Any) -> None:  # noqa: D102
        super().connection_made(transport)
        self._idle_since = self.loop.time()
        self._arm_idle()

    def _arm_idle(self) -> None:
        self._unset_keepalive_if_required()
        left = self.timeout_keep_alive - (self.loop.time() - self._idle_since)
        self.timeout_keep_alive_task = self.loop.call_later(
            max(0.0, left), self.timeout_keep_alive_handler
        )

    def data_received(self, data: bytes) -> None:  # noqa: D102
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self._arm_idle()  # still no complete request: the deadline does not move

    def on_response_complete(self) -> None:  # noqa: D102
        self._idle_since = self.loop.time()
        super().on_response_complete()

    def timeout_keep_alive_handler(self) -> None:  # noqa: D102
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered: never cut it
        super().timeout_keep_alive_handler()


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound (not yet listening) TCP socket.

    Raises:
        OutputError: The address cannot be bound (in use, not local...).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        hint = " (try another --port, or 0 for any free port)" if port else ""
        raise OutputError(f"cannot serve on {host}:{port}: {error.strerror or error}{hint}") from None
    sock.set_inheritable(True)
    return sock


class WebServer:
    """An ASGI app served by uvicorn on a socket bound at construction.

    Args:
        app: The ASGI application.
        host: Address to bind (loopback by default).
        port: Port (0 = any free port; see :attr:`port`).
        idle_timeout: See :class:`IdleTimeoutH11Protocol`.
        backlog: Listen backlog.
        graceful: Seconds open responses (e.g. MJPEG streams) get at shutdown.

    Raises:
        OutputError: The address cannot be bound.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0,
                 idle_timeout: float = IDLE_TIMEOUT, backlog: int = BACKLOG,
                 graceful: float = 2.0) -> None:
        import uvicorn

        self.socket = bind_socket(host, port)
        self.host = host
        self.port = int(self.socket.getsockname()[1])
        self.config = uvicorn.Config(
            app, host=host, port=self.port, http=IdleTimeoutH11Protocol, ws="none",
            lifespan="on", backlog=backlog, timeout_keep_alive=idle_timeout,  # type: ignore[arg-type]
            timeout_graceful_shutdown=graceful, log_config=None, log_level="warning",
            access_log=False, server_header=False,
        )
        self.server = uvicorn.Server(self.config)
        self._thread: threading.Thread | None = None
        #: Called first by :meth:`close` (e.g. to end open MJPEG streams at once).
        self.on_close: list[Callable[[], None]] = []

    @property
    def url(self) -> str:
        """The address to open in a browser."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}/"

    def run(self) -> None:
        """Serve in this thread until Ctrl-C/SIGTERM (uvicorn handles them in the main
        thread: open jobs are cancelled by the app's shutdown)."""
        try:
            self.server.run(sockets=[self.socket])
        finally:
            self.socket.close()

    def start(self, timeout: float = 15.0) -> WebServer:
        """Serve in a daemon thread; returns once the server accepts connections.

        Raises:
            OutputError: It did not start.
        """
        self._thread = threading.Thread(target=self.run, name=f"web:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OutputError(f"the web server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Stop serving (open streams end). Idempotent."""
        while self.on_close:
            self.on_close.pop(0)()
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        else:
            self.socket.close()

    def __enter__(self) -> WebServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_work_dir(parent: str | os.PathLike[str] | None = None) -> str:
    """A fresh work folder ``moebius-edit-*`` (in the system's temporary folder), with a
    ``pid`` file; folders left by editors that were killed (their pid is gone) are deleted.
    """
    import shutil
    import tempfile

    base = parent or tempfile.gettempdir()
    for old in os.scandir(base):
        if not old.name.startswith("moebius-edit-") or not old.is_dir(follow_symlinks=False):
            continue
        try:
            pid = int((open(os.path.join(old.path, "pid")).read() or "0").strip())
        except (OSError, ValueError):
            continue
        if pid and pid != os.getpid() and not _alive(pid):
            logger.info("removing %s, left by an editor that was killed", old.path)
            shutil.rmtree(old.path, ignore_errors=True)
    path = tempfile.mkdtemp(prefix="moebius-edit-", dir=base)
    with open(os.path.join(path, "pid"), "w") as f:
        f.write(f"{os.getpid()}\n")
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = ["BACKLOG", "IDLE_TIMEOUT", "IdleTimeoutH11Protocol", "WebServer", "bind_socket",
           "make_work_dir"]
