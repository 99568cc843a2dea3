"""Live object removal on a network stream, shown in your browser.

    python demos/stream_demo.py            # then open the printed http://127.0.0.1:PORT/

What runs, all on this machine:
1. a *sender* plays a generated 640x360 scene at 30 frames/s and streams it as H.264 in
   MPEG-TS over TCP to 127.0.0.1 (what a camera or an encoder would do);
2. the *receiver* (the live engine) reads that stream, tracks the moving object from a box
   on the first frame, removes it, and
3. serves before/after to a browser (the web editor's live page: ``serve_live``, needs the
   web extra), with the live statistics (frames, drops, latency), where a box drawn on the
   "before" picture chooses what to remove; ``--output`` also records the result.

Stops after ``--duration`` seconds or on Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import socket
import threading
import time
from fractions import Fraction

import numpy as np

from moebius_video.engine.live import LiveConfig, LiveEngine, run_live
from moebius_video.errors import OutputError
from moebius_video.io.capture import FakeCapture, StreamCapture
from moebius_video.io.stream_out import AVStreamSink
from moebius_video.synthetic import SceneConfig, SyntheticScene
from moebius_video.web import serve_live
from moebius_video.web.live import LiveView


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sender(url: str, scene: SyntheticScene, stop: threading.Event) -> None:
    """Stream the scene to ``url`` (retrying until the receiver listens)."""
    cfg = scene.config
    deadline = time.monotonic() + 10
    while True:
        try:
            sink = AVStreamSink(url, cfg.width, cfg.height, frame_rate=Fraction(30))
            break
        except OutputError:
            if time.monotonic() > deadline or stop.is_set():
                return
            time.sleep(0.1)
    # Rendered on demand and played once: a looping clip would make the object jump.
    source = FakeCapture.from_scene(scene, frame_rate=30, name="sender")
    # Every frame (a camera encoder drops none; the box below is drawn on frame 0).
    try:
        run_live(source, [sink], LiveConfig(mode="all"), stop=stop)  # no mask: pass-through
    except OutputError as exc:
        # The receiver closed the connection (its --duration ran out, or Ctrl-C) while a
        # frame was on its way: the end of the demo, not a failure of the sender.
        if not stop.is_set():
            logging.getLogger("sender").info("the receiver went away: %s", exc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080, help="HTTP port (0 = any free port)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds to run")
    parser.add_argument("--output", default=None, help="also record to this file or URL")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    frames = int(args.duration * 30) + 30
    scene = SyntheticScene(SceneConfig(width=640, height=360, num_frames=frames, pan_speed=1.0))
    ys, xs = np.nonzero(scene.frame(0).mask)
    box = (int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)
    port = _free_port()
    stop = threading.Event()
    sender = threading.Thread(target=_sender, args=(f"tcp://127.0.0.1:{port}", scene, stop),
                              name="sender", daemon=True)
    sender.start()
    # The receiver listens; the sender connects to it.
    source = StreamCapture(f"tcp://127.0.0.1:{port}?listen=1", open_timeout=10)
    sinks = []
    if args.output:
        sinks.append(AVStreamSink(args.output, source.info.width, source.info.height,
                                  frame_rate=source.info.frame_rate, overwrite=True))
    engine = LiveEngine(source, sinks, LiveConfig(mode="live", duration=args.duration), box=box)
    view = LiveView(status=lambda: vars(engine.stats()), control=engine,
                    title="live removal on a TCP stream")
    server = serve_live(view, port=args.port)
    engine.observers.append(view.observe)
    print(f"open {server.url} in a browser (Ctrl-C to stop)")
    try:
        stats = engine.finish()
    except KeyboardInterrupt:
        stats = engine.stats()
    finally:
        stop.set()
        engine.close()
        server.close()
        sender.join(5)
    print(stats.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
