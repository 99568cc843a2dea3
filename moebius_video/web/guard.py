"""Request guards: the Host header, cross-site writes, request sizes, security headers.

A pure ASGI middleware (no request is buffered): it refuses

- a ``Host`` that is not one of this server's names (a DNS-rebinding page at
  ``http://evil.example:PORT/`` resolving to 127.0.0.1 is refused; IP literals cannot be
  rebound and are accepted);
- state-changing requests (POST, PUT, DELETE, PATCH) sent by another site (``Origin`` of
  another host, or ``Sec-Fetch-Site: cross-site``), so a web page cannot drive the editor;
- bodies larger than the limit of their route (by ``Content-Length`` at once, and by
  counting for chunked bodies).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Host names a loopback-bound server answers to.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_UNSAFE = {"POST", "PUT", "DELETE", "PATCH"}
_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
        b"style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    ),
]


def host_name(value: str) -> str:
    """The host part of a ``Host`` header (no port, no brackets, lower case)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        value = value.rsplit(":", 1)[0]
    return value.rstrip(".")


def host_allowed(value: str | None, names: Iterable[str]) -> bool:
    """Whether a ``Host`` header names this server.

    Args:
        value: The header (``None`` when absent: refused).
        names: Accepted host names (lower case, no port).
    """
    if not value:
        return False
    host = host_name(value)
    if host in names:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True  # an IP literal cannot be rebound to another address


class _TooLarge(Exception):
    pass


class GuardMiddleware:
    """See the module docstring.

    Args:
        app: The wrapped ASGI app.
        allowed_hosts: Host names accepted besides IP literals.
        max_body: Largest request body in bytes.
        large_bodies: ``{path prefix: limit}`` for routes allowed more (uploads).
    """

    def __init__(self, app: ASGIApp, *, allowed_hosts: Iterable[str], max_body: int,
                 large_bodies: dict[str, int] | None = None) -> None:
        self.app = app
        self.allowed_hosts = {h.lower().strip("[]").rstrip(".") for h in allowed_hosts}
        self.max_body = max_body
        self.large_bodies = dict(large_bodies or {})

    def _limit(self, path: str) -> int:
        for prefix, limit in self.large_bodies.items():
            if path.startswith(prefix):
                return limit
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host")
        if not host_allowed(host, self.allowed_hosts):
            await _refuse(send, 400, f"refused: Host {host!r} is not this server's name "
                          "(DNS-rebinding protection); open the address the server printed")
            return
        method = scope["method"].upper()
        if method in _UNSAFE:
            origin = headers.get("origin")
            if origin and origin != "null":
                origin_host = urlsplit(origin).netloc
                if not origin_host or host_name(origin_host) != host_name(host or ""):
                    await _refuse(send, 403, f"refused: a request from another site ({origin})")
                    return
            if headers.get("sec-fetch-site") == "cross-site":
                await _refuse(send, 403, "refused: a request from another site")
                return
        limit = self._limit(scope.get("path", ""))
        length = headers.get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _refuse(send, 400, "bad Content-Length")
                return
            if declared > limit:
                await _refuse(send, 413, f"request too large: {declared} bytes, the limit is "
                              f"{_size(limit)}")
                return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                present = {k.lower() for k, _ in message["headers"]}
                message["headers"] = list(message["headers"]) + [
                    (k, v) for k, v in _HEADERS if k not in present
                ]
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except _TooLarge:
            if not started:
                await _refuse(send, 413, f"request too large: the limit is {_size(limit)}")


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"), *_HEADERS],
    })
    await send({"type": "http.response.body", "body": body})


__all__ = ["LOOPBACK_NAMES", "GuardMiddleware", "host_allowed", "host_name"]
