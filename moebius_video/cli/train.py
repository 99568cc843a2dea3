"""``moebius-video train``: train (or distil) a Moebius network; the same command under torchrun."""

from __future__ import annotations

import argparse
import os
import sys

from moebius_video.cli.argtypes import (
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
)


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"widths must be positive integers, got {text!r}")
    return values


def _weight_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
    if any(not v >= 0 for v in values) or sum(values) <= 0:
        raise argparse.ArgumentTypeError(f"weights must be >= 0 with a positive sum, got {text!r}")
    return values


def _str_list(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``train`` to the subcommands."""
    p = sub.add_parser(
        "train", parents=[common],
        help="train a Moebius inpainting network on image folders and videos",
        description="Train a small Moebius network (latent diffusion on an invertible "
        "pixel-unshuffle latent) on photos and video frames with free-form, box and "
        "object-shaped holes. Multi-GPU / multi-node: run the same command under "
        "`torchrun --nproc_per_node N -m moebius_video train ...`. The EMA weights are "
        "exported to OUT/model, loadable with --model OUT/model.",
    )
    p.add_argument("data", nargs="+", metavar="DATA",
                   help="image folders, video files or folders of them (a held-out part of "
                   "every root is kept for `eval image`)")
    p.add_argument("-o", "--output", required=True, metavar="RUN",
                   help="run folder: checkpoint.pt, log.jsonl, model/")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in RUN from its checkpoint")
    p.add_argument("--steps", type=positive_int, help="optimizer steps to reach (default 2000)")
    p.add_argument("--max-minutes", type=positive_float,
                   help="stop cleanly after this long (resume later with --resume)")
    p.add_argument("--batch-size", type=positive_int, help="images per step per process (16)")
    p.add_argument("--crop", dest="crop_size", type=positive_int,
                   help="training crop side in pixels (128)")
    p.add_argument("--window", dest="window_size", type=positive_int,
                   help="with --student and --masked-fill ns/telea: train on windows of this "
                   "many pixels, filled by OpenCV at full size and shrunk to --crop for the "
                   "network, the loss measured after the correction is enlarged back (as the "
                   "pipeline fills larger images); default: windows of --crop's size")
    p.add_argument("--latent-factor", type=positive_int, help="pixel-unshuffle factor (4)")
    p.add_argument("--vae", metavar="DIR",
                   help="diffuse in this AutoencoderKL's latent space instead (e.g. PixelHacker's "
                   "vae/, the official models' space; needed to distil from them)")
    p.add_argument("--widths", dest="block_out_channels", type=_int_list,
                   help="network widths, e.g. 32,64,128 (default)")
    p.add_argument("--prediction-type", choices=("sample", "epsilon", "v_prediction"),
                   help="network target (default sample; the reference uses epsilon)")
    p.add_argument("--masked-fill", choices=("zeros", "pushpull", "telea", "ns"),
                   help="what the network's masked-image input holds in the hole (default "
                   "zeros, the reference's; moebius-tiny uses ns: OpenCV Navier-Stokes)")
    p.add_argument("--input-skip", action="store_true", default=None,
                   help="the network predicts a correction of its masked-image input "
                   "(with --prediction-type sample; moebius-tiny uses it)")
    p.add_argument("--student", action="store_true", default=None,
                   help="train a deterministic one-step student: fixed timestep, zero noise "
                   "input, pixel L1 + image-gradient loss weighted to the hole, output = "
                   "filled input + a zero-initialised correction (needs --input-skip and a "
                   "filled --masked-fill)")
    p.add_argument("--aux-fill", choices=("pushpull", "telea", "ns"),
                   help="with --student: a second fill of the hole given to the network in "
                   "its noisy-latent channels (two fills stacked as input)")
    p.add_argument("--lr", type=positive_float, help="peak learning rate (1e-3)")
    p.add_argument("--warmup-steps", type=non_negative_int, help="warm-up steps (100)")
    p.add_argument("--ema-decay", type=probability, help="EMA decay per step (0.995)")
    p.add_argument("--hole-weight", type=non_negative_float, help="extra loss weight inside holes (10)")
    p.add_argument("--focus-prob", type=probability,
                   help="probability of training at the timesteps of the model's default "
                   "sampling schedule instead of uniform ones (0)")
    p.add_argument("--uncond-prob", type=probability, help="classifier-free dropout probability (0.1)")
    p.add_argument("--masks", dest="mask_kinds", type=_str_list,
                   help="hole kinds: thin,medium,thick,box,object (default all)")
    p.add_argument("--mask-weights", dest="mask_weights", type=_weight_list,
                   help="relative frequency of each hole kind, in the order of --masks, e.g. "
                   "4,2,1,1.5,1 (default: equal)")
    p.add_argument("--object-masks", dest="object_roots", nargs="+", metavar="DIR",
                   help="folders with the silhouettes for object-shaped holes (clip masks/ "
                   "folders, RGBA cut-outs); default: found under DATA")
    p.add_argument("--workers", dest="num_workers", type=non_negative_int,
                   help="DataLoader worker processes (0)")
    p.add_argument("--seed", type=non_negative_int, help="seed (0)")
    p.add_argument("--log-every", type=positive_int, help="steps between log lines (10)")
    p.add_argument("--save-every", type=positive_int, help="steps between checkpoints (200)")
    p.add_argument("--init-from", metavar="MODEL", help="start from these weights (folder or name)")
    p.add_argument("--teacher", metavar="MODEL",
                   help="distil from this Moebius model (same latent space)")
    p.add_argument("--distill-weight", type=positive_float, help="weight of the distillation loss")
    p.add_argument("--distill-blocks", type=_str_list,
                   help="blocks for feature alignment, e.g. down.1,up.0")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where to train (auto)")
    p.add_argument("--export-dtype", choices=("float16", "bfloat16", "float32"),
                   help="dtype of the exported weights (float16)")
    p.add_argument("--default-steps", type=positive_int,
                   help="recommended DDIM steps saved with the model (4)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    p.set_defaults(func=run)


_CONFIG_FLAGS = (
    "steps", "batch_size", "crop_size", "latent_factor", "vae", "block_out_channels", "prediction_type", "masked_fill", "input_skip", "student", "aux_fill",
    "lr", "warmup_steps", "ema_decay", "hole_weight", "focus_prob", "uncond_prob", "mask_kinds", "mask_weights", "object_roots", "num_workers", "window_size",
    "seed", "log_every", "save_every", "init_from", "teacher", "distill_weight", "distill_blocks",
    "device", "export_dtype", "default_steps",
)


def run(args: argparse.Namespace) -> int:
    """``moebius-video train``."""
    from moebius_video.train.trainer import TrainConfig, config_from_args, load_checkpoint, train

    kwargs = {name: getattr(args, name) for name in _CONFIG_FLAGS}
    if args.resume:
        from pathlib import Path

        # A resumed run keeps its saved settings (nested, or flat from older runs); flags
        # given now override them (flat keys win over the saved sections).
        saved = load_checkpoint(Path(args.output) / "checkpoint.pt")["config"]
        flags = {k: v for k, v in kwargs.items() if v is not None}
        config = TrainConfig.from_dict(
            {**saved, "roots": tuple(args.data), "output_dir": args.output, **flags}
        )
    else:
        config = config_from_args(args.data, args.output, **kwargs)
    result = train(config, resume=args.resume, max_minutes=args.max_minutes, progress=args.progress)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"step {result.step}/{config.optim.steps}: loss {result.final_loss:.4f}, "
              f"{result.images_per_second:.1f} images/s over {result.seconds:.0f} s "
              f"({result.world_size} process(es))")
        if result.world_size > 1:
            print(f"replicas in sync: parameter sums {result.replica_checksums}")
        print(f"checkpoint: {result.checkpoint}")
        print(f"model:      {result.model_dir}  (use with --model {result.model_dir})")
    sys.stdout.flush()
    return 0
