"""The local web editor (``moebius-video edit``) and the live before/after page.

A thin layer over the library: :mod:`~moebius_video.web.session` holds one tab's work on one
video (keyframes, masks tracked by :mod:`tracking`, the result of
:func:`~moebius_video.engine.remove.remove_object`); :mod:`~moebius_video.web.app` is the
FastAPI app; :mod:`~moebius_video.web.server` serves it with uvicorn. Needs the ``web``
extra: ``pip install "moebius-video[web]"``.
"""

from __future__ import annotations

from typing import Any

from moebius_video.errors import MoebiusError


class WebUnavailableError(MoebiusError, ImportError):
    """FastAPI/uvicorn are not installed (the ``web`` extra)."""


def require_web() -> None:
    """Check that the web extra is installed.

    Raises:
        WebUnavailableError: It is not (the message says how to install it).
    """
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        raise WebUnavailableError(
            f"the web editor and --http need the web extra ({error.name} is missing): "
            "pip install \"moebius-video[web]\""
        ) from None


def serve_live(view: Any, *, host: str = "127.0.0.1", port: int = 0,
               allowed_hosts: tuple[str, ...] | None = None) -> Any:
    """Serve a :class:`~moebius_video.web.live.LiveView` (the live page only) in a thread.

    Args:
        view: The live view the engine publishes to.
        host: Address to bind.
        port: Port (0 = any free port).
        allowed_hosts: Host names accepted (default: loopback names, plus this machine's
            name when ``host`` is not loopback).

    Returns:
        The started :class:`~moebius_video.web.server.WebServer` (``.url``, ``.close()``).

    Raises:
        WebUnavailableError: The web extra is missing.
        OutputError: The port cannot be bound.
    """
    require_web()
    from moebius_video.web.app import EditorConfig, create_app
    from moebius_video.web.server import WebServer

    hosts = allowed_hosts or default_allowed_hosts(host)
    app = create_app(EditorConfig(editor=False, allowed_hosts=hosts), live=view)
    server = WebServer(app, host=host, port=port)
    server.on_close.append(view.close)
    return server.start()


def default_allowed_hosts(host: str, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Host names to accept for a server bound to ``host`` (IP literals always are)."""
    import socket

    from moebius_video.web.guard import LOOPBACK_NAMES

    names = list(LOOPBACK_NAMES) + list(extra)
    if host not in ("127.0.0.1", "localhost", "::1"):
        names += [socket.gethostname().lower(), socket.getfqdn().lower()]
        if host not in ("0.0.0.0", "::"):
            names.append(host.lower())
    return tuple(dict.fromkeys(names))


__all__ = ["WebUnavailableError", "default_allowed_hosts", "require_web", "serve_live"]
