"""``moebius-video demo``: the whole job on a generated clip, no data, no downloads."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from moebius_video.cli.argtypes import positive_int, size


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``demo`` to the subcommands."""
    from moebius_video.fill import DEFAULT_FILLER

    p = sub.add_parser(
        "demo", parents=[common],
        help="remove an object from a generated clip (no data needed)",
        description="Generate a short clip (textured scene, camera pan, moving object), "
        "remove the object from its first-frame mask, and write the result and a "
        "side-by-side before/after video.",
    )
    p.add_argument("-o", "--out-dir", type=Path, default=Path("moebius-demo"),
                   help="folder for the demo's files (default ./moebius-demo)")
    p.add_argument("--size", type=size, default="640x360", metavar="WxH", help="clip size (default 640x360)")
    p.add_argument("--frames", type=positive_int, default=90, help="number of frames (default 90)")
    p.add_argument("--fill", default=DEFAULT_FILLER, metavar="NAME", help="filler to use")
    p.add_argument("--tracker", default=None, metavar="NAME", help="tracker to use")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``moebius-video demo``."""
    from moebius_video.demo import run_demo
    from moebius_video.engine.remove import RemoveConfig
    from moebius_video.synthetic import SceneConfig

    width, height = args.size
    result = run_demo(
        args.out_dir,
        scene=SceneConfig(width=width, height=height, num_frames=args.frames),
        config=RemoveConfig(fill=args.fill, tracker=args.tracker),
        progress=args.progress,
    )
    r = result.removal
    print(f"generated clip:      {result.input}")
    print(f"first-frame mask:    {result.mask}")
    print(f"object removed:      {result.output}  ({r.frames} frames, "
          f"{r.frames_per_second:.1f} frames/s, fill={args.fill})")
    print(f"before | after:      {result.side_by_side}")
    print(f"masks used:          {r.masks_dir}")
    print(f"fill vs true background: {result.hole_psnr:.1f} dB PSNR over the object's pixels; "
          f"{100 * result.residual_object_fraction:.2f}% of object pixels outside the tracked mask")
    sys.stdout.flush()
    return 0
