"""``moebius-video remove`` and ``moebius-video track``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moebius_video.cli.argtypes import (
    box,
    crf,
    dilation,
    frame_rate,
    input_path,
    mask_threshold,
    non_negative_int,
    output_path,
    positive_int,
)
from moebius_video.errors import InvalidArgumentError
from moebius_video.io.masks import DEFAULT_DILATE

if TYPE_CHECKING:
    from moebius_video.engine.remove import EncodeConfig, MaskInput, RemoveConfig
    from moebius_video.fill import Filler

logger = logging.getLogger("moebius_video.cli")


def _add_mask_arguments(
    parser: argparse.ArgumentParser, *, per_frame: bool = True, kinds: bool = True
) -> None:
    group = parser.add_argument_group("what to remove (give one)" if kinds else "masks")
    if kinds:
        _add_mask_kinds(group, per_frame=per_frame)
    group.add_argument("--mask-threshold", type=mask_threshold, metavar="T",
                       help="a mask pixel above T is removed (default: 0 for PNG, 127 for JPEG/video)")
    group.add_argument("--resize-mask", action="store_true",
                       help="scale masks of another size to the frame size instead of refusing them")
    group.add_argument("--dilate", type=dilation, default=DEFAULT_DILATE, metavar="N",
                       help=f"grow the mask by N pixels before filling (default {DEFAULT_DILATE})")
    group.add_argument("--tracker", metavar="NAME", default=None,
                       help="mask tracker for --mask/--box (default: the package's best)")
    if kinds:
        group.add_argument("--save-masks", type=output_path, metavar="DIR",
                           help="write the per-frame masks actually used (PNG 0/255) to DIR")
        group.add_argument("--review", type=output_path, metavar="VIDEO",
                           help="write the input with the mask overlaid and the tracker's "
                           "confidence drawn (a timeline; doubtful frames in orange) to VIDEO")
        group.add_argument("--json", action="store_true",
                           help="print the result as one JSON object: frames, outputs, per-frame "
                           "confidence, doubtful frame ranges with suggested keyframes")


def _add_mask_kinds(group: argparse._ArgumentGroup, *, per_frame: bool) -> None:
    which = group.add_mutually_exclusive_group(required=True)
    which.add_argument("--mask", type=input_path, metavar="PNG",
                       help="mask of the first processed frame (white/non-zero = remove); tracked")
    which.add_argument("--box", type=box, metavar="X,Y,W,H",
                       help="box around the object on the first processed frame; tracked")
    which.add_argument("--keyframes", type=input_path, metavar="DIR",
                       help="masks on a few frames, named by frame index (00014.png); "
                       "tracked both ways and fused")
    if per_frame:
        which.add_argument("--masks", type=input_path, metavar="DIR",
                           help="one mask per frame (named like the frames, or in order); no tracking")
        which.add_argument("--mask-video", type=input_path, metavar="VIDEO",
                           help="a video whose frames are the masks (thresholded at 127); no tracking")


def _add_range_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("range")
    group.add_argument("--start", type=non_negative_int, default=0, metavar="N",
                       help="first frame to process (index, default 0)")
    group.add_argument("--end", type=non_negative_int, default=None, metavar="N",
                       help="stop before this frame index (default: the end)")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``remove`` and ``track`` to the subcommands."""
    p = sub.add_parser(
        "remove", parents=[common],
        help="remove an object from a video file or a folder of frames",
        description="Remove an object from a video file or a folder of frames. The output "
        "keeps the input's size, frame count, timestamps and audio; an output path ending "
        "in / (or without an extension) receives lossless PNG frames.",
    )
    p.add_argument("input", type=input_path, help="video file or folder of frames")
    p.add_argument("-o", "--output", type=output_path, required=True,
                   help="output video file, or DIR/ for PNG frames")
    _add_mask_arguments(p)
    enc = add_job_options(p)
    enc.add_argument("-y", "--overwrite", action="store_true", help="replace existing outputs")
    enc.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="progress bar (default: only on a terminal)")
    p.set_defaults(func=run_remove, validate=_validate_remove)
    _register_track(sub, common)


def add_job_options(p: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Add ``remove``'s per-job options (fill, model, range, encoding) to ``p``.

    ``batch`` takes the same options, as defaults for every job. Returns the "output"
    group, for the caller's own output flags.
    """
    from moebius_video.fill import DEFAULT_FILLER, available_fillers

    p.add_argument("--fill", default=DEFAULT_FILLER, metavar="NAME",
                   help=f"how the hole is filled: {', '.join(available_fillers())} "
                   f"(default {DEFAULT_FILLER})")
    model = p.add_argument_group("model (--fill moebius, or --spatial moebius)")
    model.add_argument("--model", metavar="PATH",
                       help="Moebius weights: a local folder, a cached hub name, or the shipped "
                       "moebius-tiny (default; see README)")
    model.add_argument("--model-steps", type=positive_int, default=None, metavar="N",
                       help="DDIM steps per frame (default: the model's own, 4 for moebius-tiny)")
    model.add_argument("--spatial", choices=("telea", "ns", "pushpull", "moebius"), default=None,
                       help="with --fill temporal/temporal-offline: what fills pixels no frame "
                       "showed (default telea; moebius when --model is given; pushpull is "
                       "15x cheaper than telea, smoother and 0.2 dB worse)")
    model.add_argument("--device", default=None, help="torch device (default: cuda if present)")
    model.add_argument("--batch", type=positive_int, default=1, metavar="N",
                       help="with --fill moebius: fill N consecutive frames per model call "
                       "(default 1; same output, N frames held). For GPUs, which one frame "
                       "per call leaves idle; on a CPU it saves per-call overhead at best")
    _add_range_arguments(p)
    enc = p.add_argument_group("output")
    enc.add_argument("--codec", help="video encoder (default libx264; libvpx-vp9 for .webm; "
                     "mpeg4 without B-frames for .avi)")
    enc.add_argument("--crf", type=crf,
                     help="quality: lower is better (x264/x265: 0-51, default here 18; VP9: 0-63)")
    enc.add_argument("--preset", help="encoder speed preset (x264: ultrafast ... veryslow)")
    enc.add_argument("--pix-fmt", help="pixel format (default yuv420p; yuv444p for odd sizes)")
    enc.add_argument("--fps", type=frame_rate, metavar="RATE",
                     help="frame rate for frame-folder inputs (default 25)")
    enc.add_argument("--no-audio", action="store_true", help="drop the audio track")
    return enc


def _register_track(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    t = sub.add_parser(
        "track", parents=[common],
        help="track a mask through a video and save the per-frame masks",
        description="Carry a first-frame mask (or box) through the video by optical flow "
        "and write one mask per frame.",
    )
    t.add_argument("input", type=input_path, help="video file or folder of frames")
    _add_mask_arguments(t, per_frame=False)
    _add_range_arguments(t)
    t.add_argument("-y", "--overwrite", action="store_true", help="replace an existing DIR")
    t.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    t.set_defaults(func=run_track, validate=_validate_range)


def _validate_range(args: argparse.Namespace) -> None:
    """Checks across flags, run at parse time (a failure is a usage error, exit 2)."""
    if args.end is not None and args.end <= args.start:
        raise InvalidArgumentError(f"--end ({args.end}) must be greater than --start ({args.start})")


#: Highest --crf each encoder family accepts (the parser allows 0..63).
_CRF_MAX = {"libx264": 51, "libx264rgb": 51, "libx265": 51}


def _validate_remove(args: argparse.Namespace) -> None:
    """Checks across flags for ``remove``, run at parse time (failures exit 2)."""
    from moebius_video.io.paths import resolved

    _validate_range(args)
    if args.crf is not None:
        suffix = Path(args.output.rstrip("/\\")).suffix.lower()
        codec = args.codec or ("libvpx-vp9" if suffix == ".webm" else "libx264")
        high = _CRF_MAX.get(codec)
        if high is not None and args.crf > high:
            raise InvalidArgumentError(f"--crf for {codec} must be between 0 and {high}, got {args.crf}")
    if args.fps is not None and resolved(args.input).is_file():
        raise InvalidArgumentError(
            f"--fps applies to frame-folder inputs; {args.input} is a video whose own timing "
            "is kept (retime it with ffmpeg if you need another rate)"
        )


@dataclass(frozen=True)
class FillerChoice:
    """What the fill flags ask for, checked; :meth:`build` makes the filler (and loads any
    model), so a choice can be checked in one process and built in another (``batch``).

    Attributes:
        fill: ``--fill``, with any ``:key=value`` options.
        spatial: ``--spatial``.
        model: ``--model``.
        device: ``--device``.
        model_steps: ``--model-steps``.
        batch: ``--batch``.
    """

    fill: str
    spatial: str | None = None
    model: str | None = None
    device: str | None = None
    model_steps: int | None = None
    batch: int = 1

    def __post_init__(self) -> None:
        from moebius_video.fill import available_fillers, parse_filler_spec
        from moebius_video.fill.temporal import TEMPORAL_FILLERS

        name = parse_filler_spec(self.fill)[0]
        if name not in available_fillers():
            raise InvalidArgumentError(
                f"unknown filler {name!r}; choose one of: {', '.join(available_fillers())}"
            )
        if self.batch != 1 and self.fill != "moebius":
            raise InvalidArgumentError(
                f"--batch applies to --fill moebius, not --fill {self.fill} (it fills frame by frame)"
            )
        spatial = self.spatial or ("moebius" if self.model else None)
        if self.fill != "moebius" and spatial is not None and name not in TEMPORAL_FILLERS:
            raise InvalidArgumentError(
                f"--spatial applies to --fill {'/'.join(TEMPORAL_FILLERS)}, not --fill {self.fill}"
            )

    def build(self) -> Filler | None:
        """The filler, or ``None`` for the engine's default by name (``RemoveConfig.fill``)."""
        from moebius_video.fill import get_filler

        model_kwargs = {"model": self.model, "device": self.device,
                        "num_inference_steps": self.model_steps}
        if self.fill == "moebius":
            return get_filler("moebius", batch_size=self.batch, **model_kwargs)
        spatial = self.spatial or ("moebius" if self.model else None)
        if spatial is None:
            return None
        inner = get_filler("moebius", **model_kwargs) if spatial == "moebius" else get_filler(spatial)
        return get_filler(self.fill, spatial=inner)


@dataclass(frozen=True)
class RemoveSettings:
    """Everything ``remove``'s flags ask for but the paths: checked, ready for
    :func:`~moebius_video.engine.remove.remove_object`."""

    masks: MaskInput
    config: RemoveConfig
    encode: EncodeConfig
    filler: FillerChoice


def remove_settings(args: argparse.Namespace) -> RemoveSettings:
    """Turn parsed ``remove`` flags into checked configs (``batch`` does the same per row).

    Raises:
        InvalidArgumentError: Flags that cannot go together, a malformed box, an unknown
            filler, an empty range.
    """
    from moebius_video.engine.remove import EncodeConfig, RemoveConfig

    masks = _mask_input(args)
    config = RemoveConfig(
        dilate=args.dilate, fill=args.fill, tracker=args.tracker, start=args.start, end=args.end
    )
    encode = EncodeConfig(
        codec=args.codec, crf=args.crf, preset=args.preset, pix_fmt=args.pix_fmt,
        audio=not args.no_audio, overwrite=args.overwrite, frame_rate=args.fps,
    )
    filler = FillerChoice(fill=args.fill, spatial=args.spatial, model=args.model,
                          device=args.device, model_steps=args.model_steps, batch=args.batch)
    return RemoveSettings(masks=masks, config=config, encode=encode, filler=filler)


def _mask_input(args: argparse.Namespace) -> MaskInput:
    from moebius_video.engine.remove import MaskInput

    return MaskInput(
        mask=args.mask,
        box=args.box,
        keyframes=args.keyframes,
        masks_dir=getattr(args, "masks", None),
        mask_video=getattr(args, "mask_video", None),
        threshold=args.mask_threshold,
        resize=args.resize_mask,
    )


def _report(result, what: str, as_json: bool = False) -> None:  # type: ignore[no-untyped-def]
    # result.warnings were already logged by the library as they arose.
    ms = result.timings.per_frame_ms(result.frames)
    logger.info(
        "%d frames in %.1f s (%.1f frames/s); per frame: decode wait %.1f ms, track %.1f ms, "
        "fill %.1f ms, encode wait %.1f ms",
        result.frames, result.timings.total, result.frames_per_second,
        ms["decode"], ms["track"], ms["fill"], ms["encode"],
    )
    if result.hole_pixels:
        logger.info(
            "hole pixels: %d (%.0f%% propagated from other frames, %.0f%% filled spatially)",
            result.hole_pixels,
            100.0 * result.propagated_pixels / result.hole_pixels,
            100.0 * result.spatial_pixels / result.hole_pixels,
        )
    if as_json:
        print(json.dumps(_as_dict(result)), file=sys.stdout)
        return
    print(what, file=sys.stdout)
    if result.doubtful:
        from tracking import format_ranges

        print(format_ranges(result.doubtful), file=sys.stdout)


def _as_dict(result) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "output": None if result.output is None else str(result.output),
        "frames": result.frames,
        "frames_per_second": round(result.frames_per_second, 2),
        "masks_dir": None if result.masks_dir is None else str(result.masks_dir),
        "empty_mask_frames": result.empty_mask_frames,
        "confidence": [round(c, 3) for c in result.confidence],
        "doubtful": [r.to_dict() for r in result.doubtful],
        "suggested_keyframes": [k for r in result.doubtful for k in r.keyframes],
        "warnings": list(result.warnings),
    }


def run_remove(args: argparse.Namespace) -> int:
    """``moebius-video remove``."""
    from moebius_video.engine.remove import remove_object

    settings = remove_settings(args)
    result = remove_object(
        args.input, args.output, settings.masks, config=settings.config,
        encode=settings.encode, save_masks=args.save_masks, filler=settings.filler.build(),
        progress=args.progress, review=args.review,
    )
    line = (f"wrote {result.output} ({result.frames} frames, processed at "
            f"{result.frames_per_second:.1f} frames/s)")
    if result.masks_dir is not None:
        line += f"; masks in {result.masks_dir}"
    if args.review is not None:
        line += f"; review in {args.review}"
    _report(result, line, args.json)
    return 0


def run_track(args: argparse.Namespace) -> int:
    """``moebius-video track``."""
    from moebius_video.engine.remove import EncodeConfig, RemoveConfig, remove_object
    from moebius_video.fill.base import Filler, FillResult

    if args.save_masks is None and args.review is None and not args.json:
        raise InvalidArgumentError(
            "track needs --save-masks DIR (where the masks go), --review VIDEO or --json"
        )

    class _NoFill(Filler):
        name = "none"

        def fill(self, image, mask, *, future=()):  # type: ignore[no-untyped-def]
            return FillResult(image)

    config = RemoveConfig(dilate=args.dilate, tracker=args.tracker, start=args.start, end=args.end)
    result = remove_object(
        args.input, None, _mask_input(args), config=config,
        encode=EncodeConfig(overwrite=args.overwrite), save_masks=args.save_masks,
        filler=_NoFill(), progress=args.progress, review=args.review,
    )
    outputs = []
    if result.masks_dir is not None:
        outputs.append(f"wrote {result.frames} masks to {result.masks_dir}")
    if args.review is not None:
        outputs.append(f"wrote the review of {result.frames} frames to {args.review}")
    _report(result, "; ".join(outputs) or f"tracked {result.frames} frames", args.json)
    return 0
