"""``moebius-video edit``: the local web editor (mark, review, correct, remove)."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from moebius_video.cli.argtypes import port, positive_float, positive_int
from moebius_video.errors import InvalidArgumentError

DEFAULT_PORT = 8765


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``edit`` to the subcommands."""
    p = sub.add_parser(
        "edit", parents=[common], help="the local web editor: mark, review, correct, remove",
        description="Start the web editor and print its address: open a video, mark the "
        "object with a box or a brush, track it, correct the mask on any frame, remove it "
        "and watch the result. Serves 127.0.0.1 only unless --host says otherwise. Needs "
        "the web extra (pip install \"moebius-video[web]\").",
    )
    p.add_argument("video", nargs="?", type=Path, help="a video (or frame folder) to open")
    p.add_argument("--keyframes", type=Path, metavar="DIR",
                   help="load these keyframes with VIDEO (a folder written by the editor or "
                   "read by remove --keyframes)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=port, default=DEFAULT_PORT,
                   help=f"port (default {DEFAULT_PORT}; 0 = any free port)")
    p.add_argument("--open", action="store_true", help="open the editor in the default browser")
    p.add_argument("--root", type=Path, metavar="DIR",
                   help="open videos and keyframe folders only under DIR (default: anywhere "
                   "on loopback; the current folder when --host is not loopback)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also accept this name in the Host header (e.g. a reverse proxy's)")
    p.add_argument("--max-upload", type=positive_int, default=2048, metavar="MB",
                   help="largest upload in MiB (default 2048)")
    p.add_argument("--fill", default=None, metavar="NAME", help="the fill proposed by the page")
    p.add_argument("--tracker", default=None, metavar="NAME", help="the mask tracker")
    p.add_argument("--heartbeat-timeout", type=positive_float, default=20.0, metavar="S",
                   help="cancel a job when its tab has been silent this long (default 20)")
    p.set_defaults(func=run_edit)


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_edit(args: argparse.Namespace) -> int:
    """``moebius-video edit``."""
    from moebius_video.web import default_allowed_hosts, require_web

    require_web()
    from moebius_video.fill import available_fillers
    from moebius_video.web.app import EditorConfig, create_app
    from moebius_video.web.server import WebServer

    if args.video is not None and not args.video.exists():
        raise InvalidArgumentError(f"video not found: {args.video}")
    if args.keyframes is not None and args.video is None:
        raise InvalidArgumentError("--keyframes needs a VIDEO")
    if args.keyframes is not None and not args.keyframes.is_dir():
        raise InvalidArgumentError(f"keyframe folder not found: {args.keyframes}")
    if args.fill is not None and args.fill.partition(":")[0] not in available_fillers():
        raise InvalidArgumentError(
            f"unknown fill {args.fill!r}; choose from {', '.join(available_fillers())}"
        )
    root = args.root
    if root is None and not _is_loopback(args.host):
        root = Path.cwd()
    if root is not None and not root.is_dir():
        raise InvalidArgumentError(f"--root {root} is not a folder")
    config = EditorConfig(
        video=args.video.resolve() if args.video else None,
        keyframes=args.keyframes.resolve() if args.keyframes else None,
        root=root.resolve() if root else None,
        allowed_hosts=default_allowed_hosts(args.host, tuple(h.lower() for h in args.allow_host)),
        max_upload=args.max_upload << 20,
        heartbeat_timeout=args.heartbeat_timeout,
        fill=args.fill, tracker=args.tracker,
    )
    server = WebServer(create_app(config), host=args.host, port=args.port)
    print(f"moebius-video: editor at {server.url} (Ctrl-C stops it)", file=sys.stdout, flush=True)
    if not _is_loopback(args.host):
        print(f"moebius-video: warning: listening on {args.host}: anyone who can reach this "
              f"machine can use the editor (files under {root})", file=sys.stderr)
    if args.open:
        import webbrowser

        threading.Timer(0.5, webbrowser.open, args=(server.url,)).start()
    server.run()
    return 0


__all__ = ["register", "run_edit"]
