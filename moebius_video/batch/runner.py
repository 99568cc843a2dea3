"""Running a batch: every job is one :func:`~moebius_video.remove_object` call, run as a Ray
task (a local Ray, or a cluster's) or, without Ray, one after another in this process.

The engine knows nothing of this: a task calls the public API on paths that the machine
running it can reach. What makes a batch safe to stop and run again:

- a job's output is written under a temporary name and renamed when complete (as by
  ``remove``), so an existing output *is* a complete one, and a re-run skips it;
- a job that fails records its error and the others go on;
- a job whose worker process dies is run again by Ray (``retries``), after the temporary
  file the dead worker left behind is deleted;
- ``report.json`` in the output folder is rewritten (atomically) as jobs finish, and on
  Ctrl-C; a lock file keeps two batches from writing into one folder at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import shutil
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moebius_video.batch.jobs import (
    DONE,
    FAILED,
    INTERRUPTED,
    PENDING,
    SKIPPED,
    BatchJob,
    JobResult,
    check_jobs,
)
from moebius_video.errors import InvalidArgumentError, MoebiusError, OutputError

logger = logging.getLogger(__name__)

#: Where a batch keeps its bookkeeping, inside the output folder.
STATE_DIR = ".moebius-batch"
REPORT_NAME = "report.json"
INSTALL_HINT = 'pip install "moebius-video[batch]"'
#: How often the progress bar and the running count are refreshed, and the report rewritten.
_POLL_SECONDS = 0.5
_REPORT_EVERY_SECONDS = 2.0
#: How long Ctrl-C waits for running jobs to delete their temporary outputs.
_CANCEL_WAIT_SECONDS = 10.0


class RayNotInstalledError(MoebiusError, ImportError):
    """``batch`` was asked to use Ray, which is not installed."""


@dataclass(frozen=True)
class BatchConfig:
    """How a batch runs.

    Attributes:
        use_ray: Run the jobs as Ray tasks; ``False`` runs them one after another here.
        address: A Ray cluster to join (``"auto"``, ``"ray://head:10001"``, ``"head:6379"``);
            ``None`` starts a local Ray for this batch (shut down at the end). An
            already initialised Ray (``ray.init`` by the caller) is used as it is.
        workers: Jobs at once on the local Ray (default: the CPU count divided by
            ``cpus_per_job``). Not for a cluster: its size is its nodes'.
        cpus_per_job: CPUs Ray reserves for each job (a job's stages run as threads; its
            OpenCV threads are limited to this number).
        gpus_per_job: GPUs Ray reserves for each job (model fills); jobs then run only
            on nodes with a GPU free.
        retries: Times a job is run again when its worker process dies (Ray's
            ``max_retries``). A job that fails with an error is not retried: it would
            fail again.
        overwrite: Run every job, replacing existing outputs (default: skip jobs whose
            output exists).
        progress: One progress bar for the batch (``None`` = only on a terminal).
    """

    use_ray: bool = True
    address: str | None = None
    workers: int | None = None
    cpus_per_job: float = 1.0
    gpus_per_job: float = 0.0
    retries: int = 2
    overwrite: bool = False
    progress: bool | None = None

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise InvalidArgumentError(f"workers must be >= 1, got {self.workers}")
        if self.workers is not None and self.address is not None:
            raise InvalidArgumentError(
                "workers sets the size of a local Ray; a cluster's size is its nodes' "
                f"(got workers={self.workers} and address={self.address!r})"
            )
        if not self.cpus_per_job > 0:
            raise InvalidArgumentError(f"cpus_per_job must be > 0, got {self.cpus_per_job}")
        if self.gpus_per_job < 0:
            raise InvalidArgumentError(f"gpus_per_job must be >= 0, got {self.gpus_per_job}")
        if self.retries < 0:
            raise InvalidArgumentError(f"retries must be >= 0, got {self.retries}")
        if not self.use_ray and self.address is not None:
            raise InvalidArgumentError("address is for Ray; it cannot go with use_ray=False")

    def local_workers(self) -> int:
        """Jobs at once on a local Ray."""
        if self.workers is not None:
            return self.workers
        return max(1, int((os.cpu_count() or 1) // self.cpus_per_job))


@dataclass
class BatchReport:
    """What a batch did.

    Attributes:
        jobs: One result per job, in the jobs' order.
        runner: What ran the jobs (``ray local, 2 workers``, ``ray auto``, ``sequential``).
        seconds: Wall time of the run, Ray's start-up included.
        startup_seconds: Time to start (or join) Ray.
        state: ``finished``, ``interrupted`` (Ctrl-C) or ``stopped by an error``.
        path: Where the report was written.
    """

    jobs: list[JobResult]
    runner: str = ""
    seconds: float = 0.0
    startup_seconds: float = 0.0
    state: str = "running"
    path: Path | None = None

    def count(self, status: str) -> int:
        """Jobs with this status."""
        return sum(1 for j in self.jobs if j.status == status)

    @property
    def frames(self) -> int:
        """Frames written by the jobs run in this batch (skipped ones not counted)."""
        return sum(j.frames for j in self.jobs if j.status == DONE)

    @property
    def frames_per_second(self) -> float:
        """Frames written per second of the whole run, start-up included."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Every job is done or was skipped."""
        return all(j.status in (DONE, SKIPPED) for j in self.jobs)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``report.json``)."""
        return {
            "state": self.state,
            "runner": self.runner,
            "summary": {
                "jobs": len(self.jobs),
                **{s: self.count(s) for s in (DONE, FAILED, SKIPPED, INTERRUPTED, PENDING)},
                "frames": self.frames,
                "seconds": round(self.seconds, 3),
                "startup_seconds": round(self.startup_seconds, 3),
                "frames_per_second": round(self.frames_per_second, 2),
            },
            "jobs": [
                {**dataclasses.asdict(j), "seconds": round(j.seconds, 3),
                 "cpu_seconds": round(j.cpu_seconds, 3),
                 "frames_per_second": round(j.frames_per_second, 2)}
                for j in self.jobs
            ],
        }

    def write(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON, atomically (temporary name, then rename)."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.partial-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.to_dict(), f, indent=2)
                f.write("\n")
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.path = path
        return path

    def format_table(self, *, relative_to: Path | None = None, max_rows: int = 50) -> str:
        """A table of the jobs (all of them up to ``max_rows``, else the ones not done)
        and a summary line."""
        def name(j: JobResult) -> str:
            if relative_to is not None:
                with contextlib.suppress(ValueError):
                    return str(Path(j.output).relative_to(relative_to))
            return j.output

        shown = self.jobs if len(self.jobs) <= max_rows else [
            j for j in self.jobs if j.status not in (DONE, SKIPPED)
        ]
        rows = [("job", "output", "status", "frames", "seconds", "frames/s", "error")]
        for j in shown:
            ran = j.status in (DONE, FAILED, INTERRUPTED) and j.seconds > 0
            error = (j.error or "").replace("\n", " ")
            if j.status == DONE and j.warnings:
                error = f"{len(j.warnings)} warning(s): {j.warnings[0]}"
            if j.attempts > 1:
                error = f"[{j.attempts} attempts] {error}".strip()
            rows.append((
                j.where or "-", name(j), j.status, str(j.frames) if j.frames else "-",
                f"{j.seconds:.1f}" if ran else "-",
                f"{j.frames_per_second:.1f}" if ran and j.frames else "-",
                error if len(error) <= 100 else error[:97] + "...",
            ))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        right = {3, 4, 5}
        lines = []
        for r in rows:
            cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
            lines.append(("  ".join(cells) + "  " + r[-1]).rstrip())
        if len(shown) < len(self.jobs):
            lines.append(f"({len(self.jobs) - len(shown)} done or skipped jobs not listed; "
                         "see the report)")
        counts = ", ".join(f"{self.count(s)} {s}" for s in (DONE, FAILED, SKIPPED, INTERRUPTED, PENDING)
                           if self.count(s) or s in (DONE, FAILED))
        lines.append(
            f"{len(self.jobs)} jobs: {counts}; {self.frames} frames in {self.seconds:.1f} s "
            f"({self.frames_per_second:.1f} frames/s overall, {self.runner}"
            + (f", Ray ready after {self.startup_seconds:.1f} s" if self.startup_seconds else "")
            + ")"
        )
        return "\n".join(lines)


# --------------------------------------------------------------------------------------
# One job (runs in a Ray worker, or in this process)
# --------------------------------------------------------------------------------------


def _first_line(text: str) -> str:
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return str(text).strip()


def execute_job(
    job: BatchJob, key: str, state_dir: str | None = None, threads: int | None = None
) -> JobResult:
    """Run one job; never raises for the job's own errors (they are in the result).

    Args:
        job: The job.
        key: Its name in ``state_dir``'s bookkeeping.
        state_dir: The batch's bookkeeping folder: the job marks itself running there
            (``running/<key>``: host and process id) and counts its attempts.
        threads: Limit OpenCV's (and torch's) threads to this many (Ray's reservation).

    Returns:
        The job's result (``done`` or ``failed``).

    Raises:
        KeyboardInterrupt: The job was cancelled (Ctrl-C); its temporary output is deleted.
    """
    from moebius_video.engine.remove import remove_object
    from moebius_video.io.writer import partial_outputs

    host = socket.gethostname()
    marker = None
    attempts = 1
    if state_dir is not None:
        state = Path(state_dir)
        with open(state / "attempts" / key, "a", encoding="utf-8") as f:
            f.write(f"{host} {os.getpid()} {time.time():.3f}\n")
        attempts = len((state / "attempts" / key).read_text(encoding="utf-8").splitlines())
        marker = state / "running" / key
        marker.write_text(f"{host} {os.getpid()}\n", encoding="utf-8")
    if threads is not None:
        import cv2
        import torch

        cv2.setNumThreads(threads)
        torch.set_num_threads(threads)
    result = JobResult.for_job(job, FAILED, attempts=attempts, host=host)
    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        # Left by an attempt whose process was killed; the batch's lock says none is running.
        for stale in partial_outputs(job.output):
            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
        filler = job.filler() if job.filler is not None else None
        done = remove_object(job.input, job.output, job.masks, config=job.config,
                             encode=job.encode, filler=filler, progress=False)
        result.status, result.frames = DONE, done.frames
        result.warnings = list(done.warnings)
    except MoebiusError as error:
        result.error = _first_line(str(error))
    except Exception as error:  # noqa: BLE001 - a job's bug must not stop the batch
        result.error = f"{type(error).__name__}: {_first_line(str(error))}"
        logger.debug("job %s failed:\n%s", job.label, traceback.format_exc())
    finally:
        result.seconds = time.perf_counter() - t0
        result.cpu_seconds = time.process_time() - cpu0
        if marker is not None:
            marker.unlink(missing_ok=True)
    return result


# --------------------------------------------------------------------------------------
# The batch
# --------------------------------------------------------------------------------------


def _output_complete(path: Path) -> bool:
    """An output exists (written atomically by ``remove``, so complete)."""
    if path.is_dir():
        return any(path.iterdir())
    return path.exists()


@contextlib.contextmanager
def _locked(state: Path) -> Iterator[None]:
    """Hold ``state/lock`` (an exclusive ``flock``) for the batch; refuse if it is held."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the batch runs unguarded
        yield
        return
    with open(state / "lock", "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise OutputError(
                f"another batch is writing to {state.parent} (it holds {state / 'lock'})"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{socket.gethostname()} {os.getpid()}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class _Progress:
    """The batch's one progress bar: jobs finished of those to run, with the counts of
    done / failed / running jobs and frames/s overall in its postfix."""

    def __init__(self, total: int, enabled: bool | None) -> None:
        from tqdm import tqdm

        if enabled is None:
            enabled = sys.stderr.isatty()
        self.bar = tqdm(total=total, desc="batch", unit="job", disable=not enabled,
                        dynamic_ncols=True, file=sys.stderr)
        self.t0 = time.perf_counter()

    def update(self, results: Sequence[JobResult], running: int, finished_now: int = 0) -> None:
        frames = sum(r.frames for r in results if r.status == DONE)
        rate = frames / max(time.perf_counter() - self.t0, 1e-9)
        done = sum(r.status == DONE for r in results)
        failed = sum(r.status == FAILED for r in results)
        self.bar.set_postfix_str(
            f"done {done}, failed {failed}, running {running}, {rate:.1f} frames/s", refresh=False
        )
        self.bar.update(finished_now)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _previous_results(path: Path) -> dict[str, dict[str, Any]]:
    """The jobs of an earlier report.json, by output (to keep a skipped job's figures)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {j["output"]: j for j in data.get("jobs", []) if isinstance(j, dict) and "output" in j}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


class _Run:
    """Bookkeeping of one batch run, shared by the Ray and the sequential runner."""

    def __init__(self, jobs: Sequence[BatchJob], out_dir: Path, state: Path,
                 report: BatchReport, config: BatchConfig) -> None:
        self.jobs, self.out_dir, self.state, self.report = jobs, out_dir, state, report
        self.config = config
        self.keys = [f"{i:06d}" for i in range(len(jobs))]
        self.t0 = time.perf_counter()
        self.last_write = 0.0

    def running(self, indices: Sequence[int]) -> int:
        """How many of these jobs have marked themselves running (one listing, not a
        look-up per job: the folder may be on network storage)."""
        try:
            marked = set(os.listdir(self.state / "running"))
        except OSError:
            return 0
        return sum(self.keys[i] in marked for i in indices)

    def finish(self, index: int, result: JobResult) -> None:
        self.report.jobs[index] = result
        job = self.jobs[index]
        if result.status == FAILED:
            logger.info("%s failed: %s", job.label, result.error)
        else:
            logger.info("%s: %s (%d frames in %.1f s)", job.label, result.status,
                        result.frames, result.seconds)
        self.write(force=False)

    def write(self, *, force: bool = True) -> None:
        now = time.perf_counter()
        self.report.seconds = now - self.t0
        if force or now - self.last_write >= _REPORT_EVERY_SECONDS:
            self.report.write(self.out_dir / REPORT_NAME)
            self.last_write = now

    def started(self, index: int) -> bool:
        return (self.state / "attempts" / self.keys[index]).exists()


def run_batch(
    jobs: Sequence[BatchJob], out_dir: str | Path, config: BatchConfig | None = None
) -> BatchReport:
    """Run every job; return (and write to ``out_dir/report.json``) what happened.

    Jobs whose output exists are skipped (unless ``config.overwrite``); a failed job does
    not stop the others. Ctrl-C cancels the running jobs (they delete their temporary
    outputs), writes the report and re-raises.

    Args:
        jobs: The jobs (outputs usually inside ``out_dir``).
        out_dir: Receives ``report.json`` and the batch's bookkeeping (``.moebius-batch/``);
            created if missing.
        config: How to run them.

    Returns:
        The report (``report.ok`` is False when a job failed).

    Raises:
        RayNotInstalledError: ``config.use_ray`` without Ray installed.
        OutputError: Outputs that collide, ``out_dir`` not writable, another batch
            running into ``out_dir``.
        InvalidArgumentError: Missing inputs, no job.
        KeyboardInterrupt: Ctrl-C (after cancelling the jobs and writing the report).
    """
    config = config or BatchConfig()
    out_dir = Path(out_dir)
    check_jobs(jobs)
    if config.use_ray:
        _import_ray()  # fail before anything is written
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        state = out_dir / STATE_DIR
        for sub in ("running", "attempts"):
            (state / sub).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot write to {out_dir}: {error.strerror}") from None
    reserved = {(out_dir / REPORT_NAME).resolve(), state.resolve()}
    for job in jobs:
        if Path(os.path.abspath(job.output)).resolve() in reserved:
            raise OutputError(f"{job.label}: output {job.output} is where the batch keeps its report")
    if config.overwrite:
        jobs = [dataclasses.replace(j, encode=dataclasses.replace(j.encode, overwrite=True))
                for j in jobs]

    with _locked(state):
        previous = _previous_results(out_dir / REPORT_NAME)
        report = BatchReport(jobs=[JobResult.for_job(j) for j in jobs])
        run = _Run(jobs, out_dir, state, report, config)
        todo = []
        for i, job in enumerate(jobs):
            for stale in (state / "running" / run.keys[i], state / "attempts" / run.keys[i]):
                stale.unlink(missing_ok=True)
            if not config.overwrite and _output_complete(job.output):
                old = previous.get(str(job.output), {})
                report.jobs[i] = JobResult.for_job(
                    job, SKIPPED,
                    frames=int(old.get("frames", 0) or 0) if old.get("status") in (DONE, SKIPPED) else 0,
                    error=None,
                )
            else:
                todo.append(i)
        skipped = len(jobs) - len(todo)
        if skipped:
            logger.info("skipping %d of %d jobs: their output exists (--overwrite to redo them)",
                        skipped, len(jobs))
        try:
            if not todo:
                report.runner = "nothing to run"
            elif config.use_ray:
                _run_ray(run, todo)
            else:
                report.runner = "sequential"
                _run_sequential(run, todo)
            report.state = "finished"
        except KeyboardInterrupt:
            report.state = "interrupted"
            raise
        except BaseException:
            report.state = "stopped by an error"  # e.g. a cluster that cannot be joined
            raise
        finally:
            run.write(force=True)
    return report


def _run_sequential(run: _Run, todo: list[int]) -> None:
    bar = _Progress(len(todo), run.config.progress)
    try:
        for n, i in enumerate(todo):
            bar.update(run.report.jobs, running=1)
            try:
                result = execute_job(run.jobs[i], run.keys[i], str(run.state))
            except KeyboardInterrupt:
                run.report.jobs[i].status = INTERRUPTED
                raise
            run.finish(i, result)
            bar.update(run.report.jobs, running=0 if n == len(todo) - 1 else 1, finished_now=1)
    finally:
        bar.close()


# --------------------------------------------------------------------------------------
# Ray
# --------------------------------------------------------------------------------------


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayNotInstalledError(
            f"batch runs its jobs on Ray, which is not installed: {INSTALL_HINT} "
            "(or add --no-ray to run them one after another here)"
        ) from None
    return ray


@contextlib.contextmanager
def _quiet_logger(name: str, level: int) -> Iterator[None]:
    log = logging.getLogger(name)
    old = log.level
    log.setLevel(level)
    try:
        yield
    finally:
        log.setLevel(old)


@contextlib.contextmanager
def ray_session(config: BatchConfig) -> Iterator[tuple[str, float]]:
    """Ray for a batch: the caller's if already initialised, else a cluster's
    (``config.address``) or a local one, quiet (no dashboard, workers' output not copied
    here) and shut down on exit, Ctrl-C included.

    Yields:
        A description of the runner and the seconds it took to start or join Ray.
    """
    ray = _import_ray()
    if ray.is_initialized():
        cpus = ray.cluster_resources().get("CPU", 0)
        yield f"ray (already running, {cpus:g} CPUs)", 0.0
        return
    t0 = time.perf_counter()
    kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    if config.address is None:
        workers = config.local_workers()
        kwargs.update(num_cpus=max(1, math.ceil(workers * config.cpus_per_job)),
                      include_dashboard=False)
        what = f"ray local, {workers} worker{'s' if workers != 1 else ''}"
    else:
        kwargs["address"] = config.address
        what = f"ray {config.address}"
    try:
        # Ray logs a security notice and its start-up as warnings; errors still show.
        with _quiet_logger("ray", logging.ERROR):
            ray.init(**kwargs)
    except ConnectionError as error:
        if config.address is None:
            raise MoebiusError(f"Ray could not start: {_first_line(str(error))}") from None
        raise MoebiusError(
            f"cannot join the Ray cluster at {config.address}: {_first_line(str(error))} "
            "(is `ray start --head` running there? A cluster with token authentication also "
            "needs its token here, ~/.ray/auth_token, and RAY_AUTH_MODE=token with an "
            "explicit address)"
        ) from None
    except Exception as error:  # noqa: BLE001 - Ray's start-up errors are plain Exceptions
        # e.g. "The current node timed out during startup" on an overloaded machine.
        raise MoebiusError(
            f"Ray could not start: {_first_line(str(error))} (run the command again, or use "
            "--no-ray)"
        ) from None
    try:
        if config.address is not None:
            cpus = ray.cluster_resources().get("CPU", 0)
            what += f", {cpus:g} CPUs"
        yield what, time.perf_counter() - t0
    finally:
        ray.shutdown()


def _ray_failure(ray: Any, error: BaseException, retries: int) -> tuple[str, str]:
    """A job's status and one-line error for an exception from ``ray.get``."""
    exc = ray.exceptions
    if isinstance(error, exc.TaskCancelledError):
        return INTERRUPTED, "cancelled"
    if isinstance(error, (exc.WorkerCrashedError, exc.NodeDiedError, exc.OutOfMemoryError)):
        tries = f"{retries + 1} attempt{'s' if retries else ''}"
        return FAILED, f"its worker died ({tries}): {_first_line(str(error))}"
    cause = getattr(error, "cause", None)  # RayTaskError: what the task raised
    if cause is not None:
        return FAILED, f"{type(cause).__name__}: {_first_line(str(cause))}"
    return FAILED, f"{type(error).__name__}: {_first_line(str(error))}"


def _run_ray(run: _Run, todo: list[int]) -> None:
    ray = _import_ray()
    config = run.config
    with ray_session(config) as (what, startup):
        run.report.runner, run.report.startup_seconds = what, startup
        task = ray.remote(execute_job).options(
            num_cpus=config.cpus_per_job, num_gpus=config.gpus_per_job or None,
            max_retries=config.retries, retry_exceptions=False, name="moebius-video batch job",
        )
        threads = max(1, int(config.cpus_per_job))
        pending: dict[Any, int] = {}
        bar = _Progress(len(todo), config.progress)
        try:
            for i in todo:
                try:
                    ref = task.remote(run.jobs[i], run.keys[i], str(run.state), threads)
                except Exception as error:  # noqa: BLE001 - e.g. a filler that cannot be pickled
                    run.finish(i, JobResult.for_job(
                        run.jobs[i], FAILED, error=f"cannot be sent to Ray: {_first_line(str(error))}"))
                    bar.update(run.report.jobs, running=0, finished_now=1)
                    continue
                pending[ref] = i
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=_POLL_SECONDS)
                for ref in ready:
                    i = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as error:  # noqa: BLE001 - recorded, the others go on
                        status, message = _ray_failure(ray, error, config.retries)
                        result = JobResult.for_job(run.jobs[i], status, error=message,
                                                   attempts=config.retries + 1)
                    run.finish(i, result)
                bar.update(run.report.jobs, running=run.running(list(pending.values())),
                           finished_now=len(ready))
        except KeyboardInterrupt:
            _cancel(ray, run, pending)
            raise
        finally:
            bar.close()


def _cancel(ray: Any, run: _Run, pending: dict[Any, int]) -> None:
    """Cancel the pending jobs; running ones get a KeyboardInterrupt, so that they delete
    their temporary outputs, and a few seconds to do it."""
    for ref in pending:
        with contextlib.suppress(Exception):
            ray.cancel(ref)
    with contextlib.suppress(Exception):
        ray.wait(list(pending), num_returns=len(pending), timeout=_CANCEL_WAIT_SECONDS)
    for ref, i in pending.items():
        status = INTERRUPTED if run.started(i) else PENDING
        try:
            result = ray.get(ref, timeout=0)
        except Exception:  # noqa: BLE001 - cancelled, or still running: not finished
            result = JobResult.for_job(run.jobs[i], status)
        run.report.jobs[i] = result


def load_report(path: str | Path) -> dict[str, Any]:
    """Read a ``report.json``."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


__all__ = [
    "INSTALL_HINT",
    "REPORT_NAME",
    "STATE_DIR",
    "BatchConfig",
    "BatchReport",
    "RayNotInstalledError",
    "execute_job",
    "load_report",
    "ray_session",
    "run_batch",
]
