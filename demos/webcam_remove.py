"""Remove an object from your webcam, live, with a before/after window.

    python demos/webcam_remove.py              # camera 0
    python demos/webcam_remove.py --fake       # a generated scene instead of a camera

Keys: ``s`` select the object (drag a box, then Enter), ``r`` reset, ``q`` or Esc quit.
Shows how to drive the live engine from a UI: ``set_box`` / ``clear_mask`` / ``stop`` are
thread-safe, ``latest`` holds the newest before/after pair, ``stats()`` the latency.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import cv2

from moebius_video.engine.live import LiveConfig, LiveEngine, side_by_side
from moebius_video.errors import MoebiusError
from moebius_video.io.capture import FakeCapture, WebcamCapture
from moebius_video.synthetic import SceneConfig, SyntheticScene

WINDOW = "before | after   (s select, r reset, q quit)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--camera", type=int, default=0, help="camera index")
    parser.add_argument("--fake", action="store_true", help="use a generated scene")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):  # OpenCV's Qt backend aborts the process without a display
        print("error: no display to show the preview on (DISPLAY is not set)")
        return 1

    try:
        if args.fake:
            scene = SyntheticScene(SceneConfig(width=640, height=360, num_frames=300))
            source = FakeCapture.from_scene(scene, prerender=60, num_frames=None, frame_rate=30)
        else:
            source = WebcamCapture(args.camera)
    except MoebiusError as error:
        print(f"error: {error}")
        return 1

    engine = LiveEngine(source, [], LiveConfig(mode="live"))
    engine.start()
    try:
        cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
        shown = -1
        while engine.running:
            latest = engine.latest
            if latest is not None and latest.index != shown:
                shown = latest.index
                view = side_by_side(latest.source, latest.output)
                cv2.imshow(WINDOW, cv2.cvtColor(view, cv2.COLOR_RGB2BGR))
            key = cv2.waitKey(10) & 0xFF
            if key in (ord("q"), 27):
                break
            if key == ord("r"):
                engine.clear_mask()
            if key == ord("s") and latest is not None:
                bgr = cv2.cvtColor(latest.source, cv2.COLOR_RGB2BGR)
                x, y, w, h = cv2.selectROI(WINDOW, bgr, showCrosshair=True)
                if w > 0 and h > 0:
                    engine.set_box((int(x), int(y), int(w), int(h)), reference=latest.source)
    except cv2.error as error:
        print(f"error: cannot show a window ({str(error).strip().splitlines()[-1]})")
        return 1
    finally:
        engine.stop()
        stats = engine.finish()
        cv2.destroyAllWindows()
    print(stats.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
