"""``moebius-video eval``: quality against ground truth, each with its baselines in the same run."""

from __future__ import annotations

import argparse

from moebius_video.cli.bench import run_component

#: Evaluations that live with the component they measure: name -> (module, help).
EVALUATIONS = {
    "tracking": ("tracking.evaluate", "mask tracking J, F, coverage and area ratio on clips"),
    "completion": ("moebius_video.eval.completion", "video completion PSNR/SSIM/flicker on clips"),
    "image": ("moebius_video.eval.image", "image inpainting quality of the shipped model"),
    "removal": (
        "moebius_video.eval.removal_repro",
        "issue 13: does remove change the scene away from a pasted dog (box.mp4)?",
    ),
}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``eval`` and its subcommands."""
    p = sub.add_parser("eval", parents=[common], help="measure quality against ground truth")
    esub = p.add_subparsers(dest="evaluation", metavar="WHAT")
    esub.required = True
    for name, (module, text) in EVALUATIONS.items():
        comp = esub.add_parser(name, help=text, add_help=False)
        comp.add_argument("rest", nargs=argparse.REMAINDER)
        comp.set_defaults(func=run_component, component=module, prog=f"moebius-video eval {name}")
