"""What a batch is made of: jobs (one ``remove_object`` call each) and their results."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from moebius_video.engine.remove import EncodeConfig, MaskInput, RemoveConfig
from moebius_video.errors import InvalidArgumentError, OutputError
from moebius_video.fill import Filler
from moebius_video.io.paths import resolved

#: Job states in a report.
DONE, FAILED, SKIPPED, INTERRUPTED, PENDING = "done", "failed", "skipped", "interrupted", "pending"


@dataclass(frozen=True)
class BatchJob:
    """One video to clean: the arguments of one :func:`~moebius_video.remove_object` call.

    Paths must be reachable by whichever machine runs the job (on a cluster: shared
    storage mounted at the same path everywhere).

    Attributes:
        input: Video file or frame folder.
        output: Output file, or folder for PNG frames.
        masks: What to remove.
        config: Processing options.
        encode: Output options (``overwrite`` is set by the batch).
        filler: Builds the filler in the process that runs the job (a model is loaded
            there, not pickled); ``None`` = ``config.fill`` by name. Must be picklable.
        where: Where the job was defined (``jobs.csv line 4``), for messages.
    """

    input: Path
    output: Path
    masks: MaskInput
    config: RemoveConfig = field(default_factory=RemoveConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    filler: Callable[[], Filler | None] | None = None
    where: str = ""

    @property
    def label(self) -> str:
        """How messages name the job: where it was defined, else its output."""
        return self.where or str(self.output)

    def input_paths(self) -> list[Path]:
        """Every path the job reads: the input and its mask files or folders."""
        paths = [self.input]
        m = self.masks
        for value in (m.mask, m.keyframes, m.masks_dir, m.mask_video):
            if isinstance(value, (str, os.PathLike)):
                paths.append(Path(value))
        return paths


@dataclass
class JobResult:
    """How one job went.

    Attributes:
        input: The job's input.
        output: The job's output.
        where: Where the job was defined.
        status: ``done``, ``failed``, ``skipped`` (its output existed), ``interrupted``
            (stopped by Ctrl-C) or ``pending`` (never started).
        frames: Frames written.
        seconds: Time the job took where it ran (the filler's construction included).
        cpu_seconds: CPU time (all threads, user + system) of the process that ran it,
            during the job: what the job cost, whatever else the machine was doing.
        error: The one-line error of a failed job.
        warnings: What the job warned about (lost frames, empty masks...).
        attempts: How many times the job was started (more than 1: a worker died).
        host: The machine that ran it.
    """

    input: str
    output: str
    where: str = ""
    status: str = PENDING
    frames: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    attempts: int = 0
    host: str | None = None

    @property
    def frames_per_second(self) -> float:
        """The job's own throughput."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @classmethod
    def for_job(cls, job: BatchJob, status: str = PENDING, **kwargs: object) -> JobResult:
        """A result naming ``job``."""
        return cls(input=str(job.input), output=str(job.output), where=job.where,
                   status=status, **kwargs)  # type: ignore[arg-type]


def check_jobs(jobs: Sequence[BatchJob], *, check_inputs: bool = True) -> None:
    """Refuse a batch that would lose data or cannot start, naming every bad job.

    No two jobs may write the same output (or one inside another's output folder); no
    output may be, or contain, any job's input or mask (after resolving symlinks and
    ``..``); with ``check_inputs``, every input and mask path must exist.

    Raises:
        OutputError: Outputs that collide with each other or with inputs.
        InvalidArgumentError: Missing inputs (``check_inputs``), or no job.
    """
    if not jobs:
        raise InvalidArgumentError("no job to run")
    problems: list[str] = []
    if check_inputs:
        for job in jobs:
            for path in job.input_paths():
                if not path.exists():
                    what = "input" if path == job.input else "mask"
                    problems.append(f"{job.label}: {what} {path} does not exist")
        if problems:
            raise InvalidArgumentError("; ".join(problems))
    owner: dict[Path, BatchJob] = {}
    for job in jobs:
        out = resolved(job.output)
        if out in owner:
            problems.append(
                f"{job.label}: output {job.output} is also the output of {owner[out].label}"
            )
        else:
            owner[out] = job
    # Each path against its own ancestors: linear in the number of jobs.
    for out, job in owner.items():
        for parent in out.parents:
            if parent in owner:
                problems.append(
                    f"{job.label}: output {job.output} is inside the output of {owner[parent].label}"
                )
    for reader in jobs:
        for path in reader.input_paths():
            inp = resolved(path)
            for place in (inp, *inp.parents):
                writer = owner.get(place)
                if writer is not None:
                    whose = "its own input" if writer is reader else f"an input of {reader.label}"
                    problems.append(
                        f"{writer.label}: output {writer.output} is or contains {whose} ({inp})"
                    )
    if problems:
        raise OutputError("; ".join(dict.fromkeys(problems)))


__all__ = ["DONE", "FAILED", "INTERRUPTED", "PENDING", "SKIPPED", "BatchJob", "JobResult",
           "check_jobs"]
