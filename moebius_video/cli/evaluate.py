"""``moebius-video eval``: quality against ground truth, each with its baselines in the same run.

The flags of every evaluation live here; the evaluations themselves (``moebius_video.eval``,
``tracking.evaluate``) take config objects and return reports.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from moebius_video.cli.argtypes import (
    area_fraction,
    dilation,
    non_negative_float,
    non_negative_int,
    positive_int,
    probability,
)
from moebius_video.cli.argtypes import size as frame_size
from moebius_video.errors import InvalidArgumentError

logger = logging.getLogger("moebius_video.cli")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``eval`` and its subcommands."""
    import tracking.cli

    p = sub.add_parser("eval", parents=[common], help="measure quality against ground truth")
    esub = p.add_subparsers(dest="evaluation", metavar="WHAT")
    esub.required = True
    for name, text, add, run in (
        ("tracking", "mask tracking J, F, coverage and area ratio on clips",
         tracking.cli.add_arguments, _run_tracking),
        ("completion", "video completion PSNR/SSIM/flicker on clips", _completion_arguments,
         run_completion),
        ("image", "image inpainting quality of the shipped model", _image_arguments, run_image),
        ("warmstart", "latent warm start vs cold start: steps, ms and flicker per frame",
         _warmstart_arguments, run_warmstart),
        ("removal", "issue 13: does remove change the scene away from a pasted dog (box.mp4)?",
         _removal_arguments, run_removal),
    ):
        e = esub.add_parser(name, parents=[common], help=text, description=text)
        add(e)
        e.set_defaults(func=run)


def _run_tracking(args: argparse.Namespace) -> int:
    import tracking.cli

    return tracking.cli.run(args)


def _size_or_native(text: str) -> tuple[int, int] | None:
    return None if text == "native" else frame_size(text)


def _completion_arguments(parser: argparse.ArgumentParser) -> None:
    from moebius_video.eval.completion import DEFAULT_FILLERS, DEFAULT_PROTOCOLS, PROTOCOLS

    parser.add_argument("data_dir", type=Path, help="folder with clips/ (and objects/), e.g. ../shared/data")
    parser.add_argument("--fill", nargs="+", default=list(DEFAULT_FILLERS), metavar="NAME",
                        help="fillers to evaluate, each NAME or NAME:key=value,... "
                        "(e.g. temporal:flow_size=432) (default: %(default)s)")
    parser.add_argument("--protocol", nargs="+", choices=PROTOCOLS, default=list(DEFAULT_PROTOCOLS),
                        help="masks: other clips' masks over real frames; objects: pasted cut-outs; "
                        "tracked: the same cut-outs removed end to end, their mask tracked from "
                        "the first frame (default: masks objects)")
    parser.add_argument("--size", type=_size_or_native, default=(432, 240), metavar="WxH",
                        help="size the frames are resized to, or 'native' (default: 432x240)")
    parser.add_argument("--native", action="store_true", help="same as --size native")
    parser.add_argument("--clips", nargs="*", default=[], help="only these clips")
    parser.add_argument("--max-clips", type=non_negative_int, default=0, help="at most N clips (0 = all)")
    parser.add_argument("--max-frames", type=non_negative_int, default=0, help="at most N frames per clip (0 = all)")
    parser.add_argument("--dilate", type=dilation, default=4, help="mask dilation in px (default: %(default)s)")
    parser.add_argument("--lookahead", type=non_negative_int, default=None,
                        help="lookahead of the *-offline fillers (default: their own, as in remove)")
    parser.add_argument("--per-clip", action="store_true", help="also print one row per clip")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the report as JSON")


def run_completion(args: argparse.Namespace) -> int:
    """``moebius-video eval completion``."""
    from moebius_video.eval.completion import CompletionConfig, evaluate_completion, format_table

    config = CompletionConfig(
        fillers=tuple(args.fill),
        protocols=tuple(args.protocol),
        size=None if args.native else args.size,
        max_clips=args.max_clips,
        max_frames=args.max_frames,
        clips=tuple(args.clips),
        dilate=args.dilate,
        lookahead=args.lookahead,
    )
    report = evaluate_completion(args.data_dir, config)
    print(format_table(report, per_clip=args.per_clip))  # noqa: T201 - CLI output
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_dict(), indent=2))
    return 0


def _int_list(text: str, flag: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InvalidArgumentError(f"{flag} must be a comma-separated list of integers, got {text!r}") from None
    if not values:
        raise InvalidArgumentError(f"{flag} must not be empty")
    return values


def _image_arguments(parser: argparse.ArgumentParser) -> None:
    from moebius_video.eval.image import DEFAULT_MODEL

    parser.add_argument("data_dir", type=Path, help="folder with the held-out photos and clips, e.g. ../shared/data")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="model folder or name for MoebiusInpaintingPipeline.from_pretrained "
                        "(default: %(default)s, the shipped model)")
    parser.add_argument("--no-model", action="store_true", help="run the OpenCV baselines only")
    parser.add_argument("--steps", default=None,
                        help="comma-separated model step counts (default: 1,4,20; a deterministic "
                        "one-step model: its own step count only)")
    parser.add_argument("--guidance", type=non_negative_float, default=None,
                        help="guidance weight (default: the model's recommended value, else 1.0)")
    parser.add_argument("--sizes", default="256,512", help="comma-separated square crop sizes (default: %(default)s)")
    parser.add_argument("--count", type=positive_int, default=24, help="samples per crop size (default: %(default)s)")
    parser.add_argument("--count-slow", type=non_negative_int, default=8,
                        help="at most N samples for model rows above the default step count "
                        "(0 = no cap; default: %(default)s)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of samples and noise (default: %(default)s)")
    parser.add_argument("--kinds", default="", help="comma-separated mask kinds (default: all)")
    parser.add_argument("--per-kind", action="store_true", help="also print one row per mask kind")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the report as JSON")
    parser.add_argument("--examples", type=Path, default=None, metavar="DIR",
                        help="write before/after grids DIR/image_eval_<size>.png")
    parser.add_argument("--examples-count", type=positive_int, default=4, help="rows per grid (default: %(default)s)")


def run_image(args: argparse.Namespace) -> int:
    """``moebius-video eval image``.

    Raises:
        InvalidArgumentError: ``data_dir`` is not a folder, or bad settings.
        CheckpointError: The model cannot be loaded.
    """
    from moebius_video.eval.image import (
        DEFAULT_GUIDANCE,
        DEFAULT_STEPS,
        ImageEvalConfig,
        evaluate_image,
        format_table,
        write_examples,
    )
    from moebius_video.train.data import eval_samples

    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():
        raise InvalidArgumentError(f"data_dir {str(data_dir)!r} is not a folder")
    pipeline = None
    defaults: dict[str, Any] = {}
    if not args.no_model:
        from moebius_video.model.pipeline import MoebiusInpaintingPipeline

        pipeline = MoebiusInpaintingPipeline.from_pretrained(args.model)
        defaults = dict(getattr(pipeline, "defaults", None) or {})
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    steps_text = args.steps
    if steps_text is None:
        # A deterministic student has one meaningful step count: its own.
        own = int(defaults.get("num_inference_steps", DEFAULT_STEPS))
        steps_text = str(own) if getattr(pipeline, "deterministic", False) else "1,4,20"
    config = ImageEvalConfig(
        sizes=_int_list(args.sizes, "--sizes"),
        count=args.count,
        steps=_int_list(steps_text, "--steps"),
        default_steps=int(defaults.get("num_inference_steps", DEFAULT_STEPS)),
        guidance=float(args.guidance if args.guidance is not None
                       else defaults.get("guidance_scale", DEFAULT_GUIDANCE)),
        count_slow=args.count_slow,
        seed=args.seed,
        kinds=kinds,
    )
    if pipeline is not None and config.default_steps not in config.steps:
        logger.warning("--steps %s leaves out the default step count %d: no verdict",
                       steps_text, config.default_steps)
    extra: dict[str, Any] = {"kinds": kinds} if kinds else {}
    samples = {
        size: eval_samples([data_dir], size, config.count, seed=config.seed, **extra)
        for size in config.sizes
    }
    for size, found in samples.items():
        if not found:
            raise InvalidArgumentError(f"no held-out image found under {str(data_dir)!r} for {size} px crops")
    report = evaluate_image(samples, pipeline, config)
    report.model = "" if pipeline is None else str(args.model)
    print(format_table(report, per_kind=args.per_kind))  # noqa: T201 - CLI output
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_dict(), indent=2))
    if args.examples is not None:
        for size, found in samples.items():
            path = write_examples(found[: args.examples_count], pipeline, config,
                                  args.examples / f"image_eval_{size}.png")
            logger.info("wrote %s", path)
    return 0


def _warmstart_arguments(parser: argparse.ArgumentParser) -> None:
    from moebius_video.eval.warmstart import METHODS

    parser.add_argument("--model", default="moebius-tiny",
                        help="model folder, cached repository or shipped name (default: %(default)s)")
    parser.add_argument("--device", default=None, help="cpu, cuda... (default: CUDA if available)")
    parser.add_argument("--dtype", default=None, choices=("fp32", "fp16", "bf16"),
                        help="default: fp16 on CUDA, fp32 on CPU")
    parser.add_argument("--frames-dir", type=Path, default=None, metavar="DIR",
                        help="real clip (folder with frames/, or a frame folder); default: a "
                        "generated panning texture")
    parser.add_argument("--clip-masks", action="store_true",
                        help="remove the clip's own objects (masks/; no ground truth) instead "
                        "of a pasted cut-out")
    parser.add_argument("--object", type=Path, default=None, metavar="PNG",
                        help="RGBA cut-out to paste (default: the first of objects/ near the clip)")
    parser.add_argument("-n", "--num-frames", type=positive_int, default=30, help="frames (default: %(default)s)")
    parser.add_argument("--size", type=frame_size, default=(432, 240), metavar="WxH",
                        help="frame size (default: 432x240)")
    parser.add_argument("--hole", type=area_fraction, default=0.05,
                        help="hole area fraction of the synthetic frames (default: %(default)s)")
    parser.add_argument("--dilate", type=dilation, default=4, help="mask dilation in px (default: %(default)s)")
    parser.add_argument("--strength", type=probability, default=0.5, help="warm strength s (default: %(default)s)")
    parser.add_argument("--steps", type=positive_int, default=None,
                        help="step budget N (default: the model's recommended count)")
    parser.add_argument("--guidance", type=non_negative_float, default=None, help="guidance (default: the model's)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="noise seed (default: %(default)s)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                        help="methods to compare (cold-N is always run)")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch intra-op threads")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the result as JSON")


def run_warmstart(args: argparse.Namespace) -> int:
    """``moebius-video eval warmstart``."""
    import torch

    from moebius_video.eval.warmstart import (
        WarmBenchConfig,
        format_table,
        load_warm_clip,
        measure_warm_start,
        synthetic_clip,
    )
    from moebius_video.fill.moebius import MoebiusFiller

    width, height = args.size
    if width < 16 or height < 16:
        raise InvalidArgumentError(f"--size must be at least 16x16, got {width}x{height}")
    if args.num_frames < 2:
        raise InvalidArgumentError(f"--num-frames must be >= 2, got {args.num_frames}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    config = WarmBenchConfig(strength=args.strength, num_inference_steps=args.steps,
                             guidance_scale=args.guidance, seed=args.seed, methods=tuple(args.methods))
    if args.frames_dir is not None:
        clip = load_warm_clip(args.frames_dir, args.num_frames, (width, height), dilate=args.dilate,
                         clip_masks=args.clip_masks, object_path=args.object)
    else:
        clip = synthetic_clip(args.num_frames, (width, height), hole=args.hole, dilate=args.dilate)
    pipeline = MoebiusFiller.from_pretrained(args.model, device=args.device, dtype=args.dtype).pipeline
    result = measure_warm_start(pipeline, clip, config)
    print(format_table(result))  # noqa: T201 - CLI output
    if args.json is not None:
        args.json.write_text(json.dumps(result.to_dict(), indent=2))
    return 0


def _removal_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_dir", type=Path, help="the shared data folder (videos/, objects/)")
    parser.add_argument("--tracker", default=None, help="tracker (default: the package's)")
    parser.add_argument("--tol", type=non_negative_int, default=24, help="levels counted as a change")
    parser.add_argument("--save", type=Path, default=None, help="folder for side-by-side PNGs")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run_removal(args: argparse.Namespace) -> int:
    """``moebius-video eval removal``: 0, or 2 when the data is missing."""
    import sys
    from dataclasses import asdict

    from moebius_video.eval.removal_repro import FAR_PX, run_repro
    from tracking import TrackingError

    try:
        result = run_repro(args.data_dir, args.tracker, args.tol, args.save)
    except TrackingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(asdict(result), indent=1))
        return 0
    print(
        f"tracker {result.tracker}: pixels > {FAR_PX} px from the dog changed by > {result.tol} "
        f"levels: worst frame {100 * result.far_changed_max:.2f} % (frame {result.worst_frame}), "
        f"mean {100 * result.far_changed_mean:.3f} %; encoder alone: worst "
        f"{100 * result.noise_max:.2f} %, mean {100 * result.noise_mean:.3f} %; mask collateral "
        f"worst frame {100 * result.collateral_max:.2f} % of the frame"
    )
    return 0
