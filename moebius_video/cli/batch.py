"""``moebius-video batch``: many videos at once, on Ray (local or a cluster) or in sequence.

Every manifest row goes through ``remove``'s own argument parser and config builder: a
column is a ``remove`` flag without its dashes (``mask_video`` or ``mask-video`` for
``--mask-video``), a cell its value; the command line's ``remove`` options are every
row's defaults.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from moebius_video.cli import remove as remove_cli
from moebius_video.cli.argtypes import non_negative_int, positive_float, positive_int
from moebius_video.errors import MoebiusError

if TYPE_CHECKING:
    from moebius_video.batch import BatchJob, ManifestRow

#: Columns that are not ``remove`` flags, or are ``remove`` flags a row may not set.
_NOT_COLUMNS = {
    "save_masks": "a batch does not save masks (run `moebius-video track` for that)",
    "overwrite": "overwriting is for the whole batch (-y on the command line)",
    "progress": "the batch has one progress bar (--progress on the command line)",
    "review": "a batch writes no review video (run `moebius-video track --review` for that)",
    "json": "--json is for a single run's summary",
}
_PATH_COLUMNS = ("input", "mask", "keyframes", "masks", "mask_video")
_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``batch`` to the subcommands."""
    from moebius_video.batch.runner import REPORT_NAME

    p = sub.add_parser(
        "batch", parents=[common], allow_abbrev=False,
        help="remove objects from many videos: a manifest or a folder, run on Ray",
        description="Run `remove` on many videos: JOBS is a CSV or JSONL manifest (one row "
        "per video: input, one of mask/box/keyframes/masks/mask_video, and any other "
        "`remove` option as a column, plus output, the output's name in OUT_DIR) or a folder "
        "of videos each with its mask beside it (clip.mp4 + clip.mask.png or clip.box.txt). "
        "Jobs run as Ray tasks: a local Ray, or a cluster with --address; the paths must be "
        "reachable by every node. Jobs whose output exists are skipped, so the same command "
        f"resumes a stopped batch. OUT_DIR/{REPORT_NAME} lists every job's status, frames, "
        "time and error.",
        epilog="The remove options below apply to every job; a row's own column wins.",
    )
    p.add_argument("jobs", type=Path, metavar="JOBS", help="manifest (.csv, .jsonl) or folder of videos")
    p.add_argument("-o", "--out-dir", type=Path, required=True, metavar="OUT_DIR",
                   help="folder for the outputs and report.json (created if missing)")
    run = p.add_argument_group("running")
    run.add_argument("--address", metavar="ADDR",
                     help="join a Ray cluster: auto (this node's), ray://HEAD:10001, HEAD:6379 "
                     "(default: start a local Ray for this batch)")
    run.add_argument("--workers", type=positive_int, metavar="N",
                     help="jobs at once on the local Ray (default: the CPU count / --cpus-per-job)")
    run.add_argument("--cpus-per-job", type=positive_float, default=1.0, metavar="C",
                     help="CPUs Ray reserves for each job (default 1)")
    run.add_argument("--gpus-per-job", type=_non_negative_float, default=0.0, metavar="G",
                     help="GPUs Ray reserves for each job, for model fills (default 0)")
    run.add_argument("--retries", type=non_negative_int, default=2, metavar="N",
                     help="run a job again up to N times when its worker process dies (default 2; "
                     "a job that fails with an error is not retried)")
    run.add_argument("--no-ray", action="store_true",
                     help="run the jobs one after another in this process, without Ray")
    run.add_argument("--dry-run", action="store_true",
                     help="check the jobs and list what would run, without running anything")
    run.add_argument("-y", "--overwrite", action="store_true",
                     help="run every job again, replacing existing outputs")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="one progress bar for the batch (default: only on a terminal)")
    remove_cli._add_mask_arguments(p, kinds=False)
    remove_cli.add_job_options(p)
    p.set_defaults(func=run_batch_command)


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


class _RowParser(argparse.ArgumentParser):
    """``remove``'s parser for one manifest row: errors are raised, not printed."""

    def error(self, message: str) -> None:  # type: ignore[override]
        from moebius_video.batch import ManifestError

        raise ManifestError(message)


def _row_parser(defaults: argparse.Namespace) -> tuple[_RowParser, dict[str, argparse.Action]]:
    """``remove``'s flags (the same ``add_argument`` calls), with the command line's values
    as defaults; and the columns a row may use, by name."""
    parser = _RowParser(prog="row", add_help=False, allow_abbrev=False)
    parser.add_argument("input", type=Path)
    remove_cli._add_mask_arguments(parser)
    remove_cli.add_job_options(parser)
    columns = {
        a.dest: a for a in parser._actions
        if a.option_strings and a.dest not in _NOT_COLUMNS
    }
    parser.set_defaults(
        **{dest: getattr(defaults, dest) for dest in columns if hasattr(defaults, dest)},
        overwrite=defaults.overwrite, save_masks=None,
    )
    return parser, columns


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_cell(v) for v in value)
    if isinstance(value, dict):
        raise ValueError("a value, not an object")
    return str(value)


def _boolean(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = _cell(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def _row_job(row: ManifestRow, parser: _RowParser, columns: dict[str, argparse.Action],
             out_dir: Path) -> BatchJob:
    """One row -> one job, through ``remove``'s parser and config builder.

    Raises:
        ManifestError, MoebiusError, ValueError: What is wrong with the row (the caller
            adds where the row is).
    """
    from moebius_video.batch import BatchJob, ManifestError
    from moebius_video.batch.manifest import MASK_COLUMNS
    from moebius_video.io.paths import check_outputs

    fields = dict(row.fields)
    if "input" not in fields:
        raise ManifestError("no input (the input column is empty or missing)")
    unknown = [n for n in fields if n not in columns and n not in ("input", "output")]
    for name in unknown:
        if name in _NOT_COLUMNS:
            raise ManifestError(f"column {name!r}: {_NOT_COLUMNS[name]}")
    if unknown:
        raise ManifestError(
            f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"(columns: input, output, {', '.join(sorted(columns))})"
        )
    kinds = [k for k in MASK_COLUMNS if k in fields]
    if len(kinds) != 1:
        got = " and ".join(kinds) if kinds else "none"
        raise ManifestError(f"give exactly one of {', '.join(MASK_COLUMNS)}; got {got}")
    argv: list[str] = []
    flags: dict[str, bool] = {}
    for name, value in fields.items():
        if name in ("input", "output"):
            continue
        action = columns[name]
        if action.nargs == 0:  # a switch: true/false in the manifest
            flags[action.dest] = _boolean(name, value)
            continue
        flag = max(action.option_strings, key=len)
        argv.append(f"{flag}={_cell(value)}")
    args = parser.parse_args([*argv, "--", _cell(fields["input"])])
    for dest, value in flags.items():
        setattr(args, dest, value)
    for dest in _PATH_COLUMNS:
        value = getattr(args, dest, None)
        if value is not None and not Path(value).is_absolute():
            setattr(args, dest, row.base / value)
    output = _output_path(fields.get("output"), Path(args.input), out_dir)
    args.output = str(output)
    remove_cli._validate_remove(args)  # remove's checks across flags
    settings = remove_cli.remove_settings(args)
    inputs = {dest: getattr(args, dest, None) for dest in _PATH_COLUMNS}
    for dest, value in inputs.items():
        if value is not None and not Path(value).exists():
            raise ManifestError(f"{dest} {value} does not exist")
    check_outputs({"output": output}, inputs)  # remove's rule: no output is or holds an input
    return BatchJob(input=Path(args.input), output=output, masks=settings.masks,
                    config=settings.config, encode=settings.encode,
                    filler=settings.filler.build, where=row.where)


def _output_path(name: object, input: Path, out_dir: Path) -> Path:
    from moebius_video.batch import ManifestError

    text = _cell(name) if name is not None else f"{input.name if input.is_dir() else input.stem}.mp4"
    relative = Path(text)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise ManifestError(f"output {text!r} must be a name inside the output folder")
    if text.endswith(("/", "\\")) and relative.suffix:
        # A Path forgets the trailing separator, and the writer would take "run.v2" for a file.
        raise ManifestError(
            f"output {text!r}: a folder of PNG frames needs a name without an extension"
        )
    return out_dir / relative


def build_jobs(jobs_path: Path, out_dir: Path, args: argparse.Namespace) -> list[BatchJob]:
    """Every job of a manifest or folder, checked row by row with ``remove``'s parser.

    Raises:
        ManifestError: Every bad row, each named (one line).
    """
    from moebius_video.batch import ManifestError, read_jobs

    rows = read_jobs(jobs_path)
    parser, columns = _row_parser(args)
    jobs, problems = [], []
    for row in rows:
        try:
            jobs.append(_row_job(row, parser, columns, out_dir))
        except (MoebiusError, ValueError) as error:
            problems.append(f"{row.where}: {error}")
    if problems:
        head = f"{len(problems)} of {len(rows)} jobs are invalid: " if len(problems) > 1 else ""
        shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise ManifestError(head + "; ".join(shown))
    return jobs


def run_batch_command(args: argparse.Namespace) -> int:
    """``moebius-video batch``."""
    import logging

    from moebius_video.batch import BatchConfig, BatchReport, JobResult, check_jobs, run_batch
    from moebius_video.batch.jobs import PENDING, SKIPPED
    from moebius_video.batch.runner import REPORT_NAME, _output_complete

    out_dir = Path(args.out_dir).absolute()  # workers may run elsewhere: no relative paths
    config = BatchConfig(
        use_ray=not args.no_ray, address=args.address, workers=args.workers,
        cpus_per_job=args.cpus_per_job, gpus_per_job=args.gpus_per_job, retries=args.retries,
        overwrite=args.overwrite, progress=args.progress,
    )
    jobs = build_jobs(args.jobs, out_dir, args)
    if args.dry_run:
        check_jobs(jobs)
        report = BatchReport(
            jobs=[JobResult.for_job(j, SKIPPED if not args.overwrite and _output_complete(j.output)
                                    else PENDING) for j in jobs],
            runner="dry run",
        )
        print(report.format_table(relative_to=out_dir), file=sys.stdout)
        return 0
    try:
        report = run_batch(jobs, out_dir, config)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP (the CLI raises it for them)
        logging.getLogger("moebius_video.cli").warning(
            "batch interrupted; what was done is in %s, and the same command resumes it",
            out_dir / REPORT_NAME)
        raise
    print(report.format_table(relative_to=out_dir), file=sys.stdout)
    print(f"report: {report.path}", file=sys.stdout)
    failed = len(report.jobs) - report.count("done") - report.count("skipped")
    if failed:
        raise MoebiusError(f"{failed} of {len(report.jobs)} jobs failed; see {report.path}")
    return 0
