"""Credentials in stream URLs never reach a message or a log.

``rtsp://admin:S3cret@cam/stream`` is shown as ``rtsp://admin:***@cam/stream``; a secret in
the query (``?password=...``, ``token=``, ``key=``...) becomes ``***`` too. :func:`redact`
works on any text, so whole messages (FFmpeg's errors quote the URL) can be passed through it.
"""

from __future__ import annotations

import re

# scheme://user:password@  or  scheme://token@ (a user name alone can be a secret too)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^\s/@:?#]*)(?::(?P<password>[^\s/@?#]*))?@")
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;](?:password|passwd|pass|pwd|secret|token|access_token|auth|key|api_key|apikey"
    r"|sig|signature)=)(?P<value>[^&;#\s]*)",
    re.IGNORECASE,
)


def _userinfo(match: re.Match[str]) -> str:
    user, password = match.group("user"), match.group("password")
    if password is None:
        return f"{match.group('scheme')}***@"
    return f"{match.group('scheme')}{user}:***@"


def redact(text: str) -> str:
    """``text`` with the passwords (and bare user tokens) of every URL in it replaced by ``***``."""
    if "://" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(_userinfo, text)
    return _QUERY_SECRET.sub(lambda m: f"{m.group('key')}***", text)


__all__ = ["redact"]
