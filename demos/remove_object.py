"""Remove an object from a video file (file mode: every frame, in order, audio kept).

    python demos/remove_object.py                       # on a generated clip
    python demos/remove_object.py in.mp4 --box 120,80,60,40 -o out.mp4

Uses only the public API: ``remove_object`` with a first-frame box (or mask) that is
tracked through the video.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np

from moebius_video.engine.remove import EncodeConfig, MaskInput, RemoveConfig, remove_object
from moebius_video.fill import DEFAULT_FILLER
from moebius_video.io.masks import parse_box
from moebius_video.synthetic import SceneConfig, SyntheticScene, write_scene_clip


def _generated_clip(folder: Path) -> tuple[Path, tuple[int, int, int, int]]:
    """A 3-second 640x360 clip with a moving object, and a box around it on frame 0."""
    scene = SyntheticScene(SceneConfig(width=640, height=360, num_frames=90))
    clip = folder / "generated.mp4"
    write_scene_clip(clip, scene)
    ys, xs = np.nonzero(scene.frame(0).mask)
    box = (int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)
    return clip, box


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", type=Path, help="video file (default: generated)")
    parser.add_argument("--box", help="x,y,w,h around the object on the first frame")
    parser.add_argument("-o", "--output", type=Path, default=Path("removed.mp4"))
    parser.add_argument("--fill", default=DEFAULT_FILLER,
                        help=f"filler name, with options (default {DEFAULT_FILLER})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    with tempfile.TemporaryDirectory() as tmp:
        if args.input is None:
            clip, box = _generated_clip(Path(tmp))
        else:
            if not args.box:
                parser.error("--box is required with an input file")
            clip, box = args.input, parse_box(args.box)
        result = remove_object(clip, args.output, MaskInput(box=box),
                               config=RemoveConfig(fill=args.fill),
                               encode=EncodeConfig(overwrite=True))
    print(f"wrote {result.output}: {result.frames} frames at {result.frames_per_second:.1f} frames/s")
    for warning in result.warnings:
        print(f"warning: {warning}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
