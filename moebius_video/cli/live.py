"""``moebius-video webcam`` and ``moebius-video stream``: live object removal.

``webcam`` opens a camera with OpenCV and shows a before/after preview window; keys:
``s`` select the object (drag a box, Enter), ``r`` reset (remove nothing), ``q``/Esc quit.
``stream IN OUT`` reads a network stream (rtsp, rtmp, udp, tcp, http, srt) or a file with
PyAV and sends the result to a file or a URL. Both can also serve the live view to a browser
(``--http PORT``: the web editor's page, live view) and stop by themselves (``--max-frames``, ``--duration``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Protocol

import numpy as np

from moebius_video.cli import signals
from moebius_video.cli.argtypes import (
    box,
    camera,
    dilation,
    input_path,
    input_spec,
    non_negative_int,
    output_path,
    port,
    positive_float,
    positive_int,
    size,
)
from moebius_video.errors import InvalidArgumentError, OutputError
from moebius_video.io.masks import DEFAULT_DILATE
from moebius_video.io.urls import redact

logger = logging.getLogger("moebius_video.cli")

_QUIT_KEYS = {ord("q"), ord("Q"), 27}
_WINDOW = "moebius-video: before | after  (s select, r reset, q quit)"


def _add_common_live_arguments(p: argparse.ArgumentParser, *, box_required: bool) -> None:
    from moebius_video.fill import DEFAULT_FILLER, DEFAULT_LIVE_FILLER

    what = p.add_argument_group("what to remove")
    which = what.add_mutually_exclusive_group(required=box_required)
    which.add_argument("--box", type=box, metavar="X,Y,W,H", help="box around the object on the first frame")
    which.add_argument("--mask", type=input_path, metavar="PNG",
                       help="mask of the first frame (white = remove)")
    what.add_argument("--dilate", type=dilation, default=DEFAULT_DILATE, metavar="N",
                      help=f"grow the mask by N pixels (default {DEFAULT_DILATE})")
    what.add_argument("--fill", default=None, metavar="NAME",
                      help=f"filler (default {DEFAULT_LIVE_FILLER}, causal; a file streamed to a "
                      f"file is processed as 'remove' does: {DEFAULT_FILLER})")
    what.add_argument("--tracker", default=None, metavar="NAME", help="mask tracker")
    run = p.add_argument_group("running")
    run.add_argument("--queue-size", type=positive_int, default=None, metavar="N",
                     help="frames each stage queue holds (default 1 live, 4 with --mode all)")
    run.add_argument("--max-frames", type=positive_int, default=None, metavar="N",
                     help="stop after N captured frames")
    run.add_argument("--duration", type=positive_float, default=None, metavar="S",
                     help="stop after S seconds")
    run.add_argument("--http", type=port, default=None, metavar="PORT",
                     help="also serve before/after to a browser at http://127.0.0.1:PORT/ "
                     "(0 = any free port)")
    run.add_argument("-y", "--overwrite", action="store_true", help="replace an existing output file")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``webcam`` and ``stream`` to the subcommands."""
    w = sub.add_parser(
        "webcam", parents=[common], help="remove an object from a live webcam",
        description="Remove an object from a webcam in real time, with a before/after "
        "preview (keys: s select the object, r reset, q or Esc quit). Latency is kept "
        "bounded: the newest frame wins and dropped frames are counted.",
    )
    w.add_argument("--camera", type=camera, default="0",
                   help="camera index (default 0), or 'fake' for a generated scene")
    # --device names a torch device in every other command; here it was the camera.
    w.add_argument("--device", dest="camera", type=camera, help=argparse.SUPPRESS)
    w.add_argument("--size", type=size, default=None, metavar="WxH",
                   help="requested capture size (the camera may pick another)")
    w.add_argument("-o", "--output", type=output_path, default=None, metavar="FILE|URL",
                   help="also record/send the result (a file, udp://, rtmp://...)")
    w.add_argument("--no-preview", action="store_true",
                   help="no window (headless; stop with Ctrl-C, --max-frames or --duration)")
    _add_common_live_arguments(w, box_required=False)
    w.set_defaults(func=run_webcam)

    s = sub.add_parser(
        "stream", parents=[common], help="remove an object from a network stream or file",
        description="Read IN (rtsp://, rtmp://, udp://, tcp://, http://, srt:// or a file), "
        "remove the object and send the result to OUT (a file, udp://, tcp://, rtmp://, "
        "http://...). A lost network stream is reopened with backoff, then the command "
        "exits with an error (what was received is kept).",
    )
    s.add_argument("input", type=input_spec, help="URL or file")
    s.add_argument("output", type=output_path, help="file or URL")
    _add_common_live_arguments(s, box_required=True)
    s.add_argument("--mode", choices=("auto", "live", "all"), default="auto",
                   help="live: newest frame wins (drops counted); all: every frame in order; "
                   "auto (default): all for files, live for URLs. A file written to a file in "
                   "all mode goes through 'remove' (look-ahead fillers, audio kept)")
    s.add_argument("--realtime", action="store_true",
                   help="file input: deliver frames at the file's rate, like a live source")
    s.add_argument("--format", default=None, help="force the input demuxer (e.g. mpegts)")
    s.add_argument("--reconnect", type=non_negative_int, default=3, metavar="N",
                   help="reopen a lost stream up to N times (default 3; 0 = never)")
    s.add_argument("--reconnect-delay", type=positive_float, default=0.5, metavar="S",
                   help="first reconnect delay in seconds, doubled each time (default 0.5)")
    s.add_argument("--reconnect-on-end", action=argparse.BooleanOptionalAction, default=True,
                   help="a network stream that ends before any stated duration (the sender "
                   "stopped or died) is lost and reopened like a stall (default); with "
                   "--no-reconnect-on-end such an end is a normal end")
    s.add_argument("--open-timeout", type=positive_float, default=5.0, metavar="S",
                   help="seconds to connect (default 5)")
    s.add_argument("--read-timeout", type=positive_float, default=3.0, metavar="S",
                   help="seconds without data before the stream counts as stalled (default 3)")
    s.set_defaults(func=run_stream)


# --------------------------------------------------------------------------------------
# Preview (OpenCV window; the display is injectable so that the loop can be tested)
# --------------------------------------------------------------------------------------


class Display(Protocol):
    """What the preview loop needs from a window system."""

    def show(self, image: np.ndarray) -> None:
        """Show an ``H, W, 3`` uint8 RGB image."""

    def poll_key(self, delay_ms: int) -> int:
        """Wait up to ``delay_ms`` for a key; its code, or -1."""

    def select_box(self, image: np.ndarray) -> tuple[int, int, int, int] | None:
        """Let the user drag a box on ``image``; ``(x, y, w, h)`` or ``None``."""

    def close(self) -> None:
        """Close the window."""


class OpenCVDisplay:
    """A HighGUI window.

    Raises:
        OutputError: No display to open a window on (the message suggests --no-preview).
    """

    def __init__(self, title: str = _WINDOW) -> None:
        import cv2

        if sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        ):
            raise OutputError("cannot open the preview window: no display (DISPLAY is not set); "
                              "use --no-preview")
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error as error:
            message = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown"
            raise OutputError(f"cannot open the preview window ({message}); use --no-preview") from None
        self.title = title

    def show(self, image: np.ndarray) -> None:
        import cv2

        cv2.imshow(self.title, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))

    def poll_key(self, delay_ms: int) -> int:
        import cv2

        return int(cv2.waitKey(max(1, delay_ms))) & 0xFF if delay_ms else -1

    def select_box(self, image: np.ndarray) -> tuple[int, int, int, int] | None:
        import cv2

        x, y, w, h = cv2.selectROI(self.title, cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                   showCrosshair=True, fromCenter=False)
        return (int(x), int(y), int(w), int(h)) if w > 0 and h > 0 else None

    def close(self) -> None:
        import cv2

        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:
            pass


def run_preview(engine: object, display: Display, *, delay_ms: int = 15) -> str:
    """Show before/after until the engine ends or the user quits; handles the keys.

    Args:
        engine: A started :class:`~moebius_video.engine.live.LiveEngine`.
        display: The window.
        delay_ms: Key polling interval.

    Returns:
        ``"quit"`` (q/Esc: the engine is asked to stop) or ``"ended"``.
    """
    from moebius_video.engine.live import LiveEngine, side_by_side
    from moebius_video.errors import InvalidMaskError

    assert isinstance(engine, LiveEngine)
    shown = -1
    while engine.running:
        latest = engine.latest
        if latest is not None and latest.index != shown:
            shown = latest.index
            display.show(side_by_side(latest.source, latest.output))
        key = display.poll_key(delay_ms)
        if key in _QUIT_KEYS:
            engine.stop("stopped")
            return "quit"
        if key in (ord("r"), ord("R")):
            engine.clear_mask()
            logger.info("selection cleared")
        elif key in (ord("s"), ord("S")) and latest is not None:
            box = display.select_box(latest.source)
            if box is not None:
                try:
                    engine.set_box(box, reference=latest.source)
                    logger.info("removing the object in box %s", box)
                except InvalidMaskError as error:
                    logger.warning("selection ignored: %s", error)
    return "ended"


# --------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------


def _first_mask(args: argparse.Namespace) -> tuple[np.ndarray | None, tuple[int, int, int, int] | None]:
    from moebius_video.io.masks import load_mask

    if args.box:
        return None, args.box
    if args.mask is not None:
        return load_mask(args.mask), None
    return None, None


def _live_config(args: argparse.Namespace, mode: str):  # type: ignore[no-untyped-def]
    from moebius_video.engine.live import LiveConfig
    from moebius_video.fill import DEFAULT_LIVE_FILLER

    return LiveConfig(mode=mode, queue_size=args.queue_size, dilate=args.dilate,
                      fill=args.fill or DEFAULT_LIVE_FILLER, tracker=args.tracker,
                      max_frames=args.max_frames, duration=args.duration)


def _open_outputs(args: argparse.Namespace, target: str | None, info: object) -> list[object]:
    from moebius_video.io.stream_out import AVStreamSink

    if target is None:
        return []
    return [AVStreamSink(target, info.width, info.height, frame_rate=info.frame_rate,  # type: ignore[attr-defined]
                         overwrite=args.overwrite)]


def _live_page(args: argparse.Namespace, engine: object):  # type: ignore[no-untyped-def]
    """The web page with the live before/after view (``--http PORT``), or nothing."""
    if args.http is None:
        return None, []
    from moebius_video.web import serve_live
    from moebius_video.web.live import LiveView

    view = LiveView(status=lambda: _stats_dict(engine), control=engine,  # type: ignore[arg-type]
                    title=redact(str(getattr(args, "input", None) or "webcam")))
    server = serve_live(view, port=args.http)
    print(f"moebius-video: live view at {server.url}", file=sys.stderr, flush=True)
    return server, [view.observe]


def _stats_dict(engine: object) -> dict[str, object]:
    from dataclasses import asdict

    return asdict(engine.stats())  # type: ignore[attr-defined]


def _run_engine(args: argparse.Namespace, source: object, target: str | None, mode: str,
                *, display: Display | None = None) -> int:
    from moebius_video.engine.live import LiveEngine

    mask, box = _first_mask(args)
    config = _live_config(args, mode)
    sinks: list[object] = []
    server = None
    try:
        sinks = _open_outputs(args, target, source.info)  # type: ignore[attr-defined]
        engine = LiveEngine(source, sinks, config, mask=mask, box=box)  # type: ignore[arg-type]
        server, observers = _live_page(args, engine)
        engine.observers.extend(observers)
    except BaseException:
        for sink in sinks:
            sink.abort()  # type: ignore[attr-defined]
        source.close()  # type: ignore[attr-defined]
        if server is not None:
            server.close()
        raise
    interrupted: KeyboardInterrupt | None = None
    try:
        engine.start()
        if display is not None:
            try:
                run_preview(engine, display)
            finally:
                display.close()
        stats = engine.finish()
    except KeyboardInterrupt as interrupt:  # Ctrl-C, SIGTERM or SIGHUP (cli.signals)
        interrupted = interrupt
        stats = engine.stats()
    finally:
        engine.close()
        if server is not None:
            server.close()
    where = f"wrote {redact(target)}; " if target is not None else ""
    print(f"{where}{stats.frames_out} frames out of {stats.frames_in} ({stats.dropped} dropped), "
          f"{stats.fps_out:.1f} frames/s, latency p50 {stats.latency_ms_p50:.0f} ms "
          f"p95 {stats.latency_ms_p95:.0f} ms; ended: {_ending(stats.stop_reason, source, interrupted)}",
          file=sys.stdout)
    if interrupted is not None:
        print(f"moebius-video: stopped by {signals.describe(interrupted)} (outputs were finished)",
              file=sys.stderr)
        return signals.exit_code(interrupted)
    return 0


def _ending(reason: str, source: object, interrupted: KeyboardInterrupt | None) -> str:
    """Why a live run ended, in words (the end of a file is not the loss of a stream)."""
    if interrupted is not None:
        return f"stopped by {signals.describe(interrupted)}"
    if reason == "end":
        return getattr(source, "end_note", "") or "end of the input"
    return {"max_frames": "--max-frames reached", "duration": "--duration reached",
            "stopped": "stopped by the user"}.get(reason, reason)


def _fake_webcam(size: tuple[int, int]):  # type: ignore[no-untyped-def]
    from moebius_video.io.capture import FakeCapture
    from moebius_video.synthetic import SceneConfig, SyntheticScene

    scene = SyntheticScene(SceneConfig(width=size[0], height=size[1], num_frames=300,
                                       object_fraction=0.05, pan_speed=1.0))
    return FakeCapture.from_scene(scene, prerender=60, num_frames=None, frame_rate=30,
                                  name="fake camera")


def run_webcam(args: argparse.Namespace, *, display: Display | None = None) -> int:
    """``moebius-video webcam``."""
    from moebius_video.io.capture import WebcamCapture

    size = args.size
    if not args.no_preview and display is None:
        display = OpenCVDisplay()  # fails early, with a clear message, when headless
    try:
        if args.camera == "fake":
            source = _fake_webcam(size or (640, 360))
        else:
            try:
                device = int(args.camera)
            except ValueError:
                raise InvalidArgumentError(
                    f"--camera must be a camera index or 'fake', got {args.camera!r}"
                ) from None
            source = WebcamCapture(device, width=size[0] if size else None,
                                   height=size[1] if size else None)
    except BaseException:
        if display is not None:
            display.close()
        raise
    if args.no_preview:
        display = None
    return _run_engine(args, source, args.output, "live", display=display)


def _stream_file(args: argparse.Namespace) -> int:
    """``stream FILE FILE``: the file driver of the frame pipeline (look-ahead fillers, audio
    kept, timestamps of the source), as ``remove`` runs it."""
    from moebius_video.engine.remove import EncodeConfig, MaskInput, RemoveConfig, remove_object
    from moebius_video.fill import DEFAULT_FILLER

    config = RemoveConfig(dilate=args.dilate, fill=args.fill or DEFAULT_FILLER,
                          tracker=args.tracker, end=args.max_frames)
    result = remove_object(Path(args.input), args.output, MaskInput(mask=args.mask, box=args.box),
                           config=config, encode=EncodeConfig(overwrite=args.overwrite),
                           progress=False)
    ended = ("--max-frames reached" if args.max_frames and result.frames >= args.max_frames
             else "end of the file")
    print(f"wrote {args.output}; {result.frames} frames out of {result.frames} (0 dropped), "
          f"{result.frames_per_second:.1f} frames/s; ended: {ended}", file=sys.stdout)
    return 0


def run_stream(args: argparse.Namespace) -> int:
    """``moebius-video stream``."""
    from moebius_video.io.capture import ReconnectPolicy, is_network_url, open_capture
    from moebius_video.io.stream_out import output_format

    output_format(args.output)  # refuses an unknown protocol before connecting
    network = is_network_url(args.input)
    if not network and "://" not in args.input and not Path(args.input).exists():
        raise InvalidArgumentError(f"input {args.input!r} is neither a URL nor an existing file")
    if ("://" not in args.input and "://" not in args.output and args.mode != "live"
            and not (args.realtime or args.http is not None or args.duration)):
        return _stream_file(args)  # file to file: every frame, as 'remove' processes it
    policy = ReconnectPolicy(attempts=args.reconnect, initial_delay=args.reconnect_delay,
                             reconnect_on_end=args.reconnect_on_end)
    source = open_capture(args.input, realtime=args.realtime, reconnect=policy,
                          open_timeout=args.open_timeout, read_timeout=args.read_timeout,
                          format=args.format)
    mode = args.mode if args.mode != "auto" else ("live" if source.info.live else "all")
    return _run_engine(args, source, args.output, mode)


__all__ = ["Display", "OpenCVDisplay", "register", "run_preview", "run_stream", "run_webcam"]
