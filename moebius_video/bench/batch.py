"""``bench batch``: many clips on Ray against ``remove`` on each in sequence.

Both run in the same invocation on the same generated clips: first every clip through
:func:`~moebius_video.remove_object` one after another in this process (what a loop of
``remove`` commands does, without their Python start-up), then the same jobs as a batch on
a local Ray with ``--workers`` workers. Ray's start-up (``ray.init``) and shut-down are
timed apart from the batch itself, whose time includes starting the worker processes and
importing the engine in them. The machine's CPU use in each phase (from ``/proc/stat``,
all processes: other load on a shared machine shows up there) says what limits the
speed-up; the CPU time per frame of the processes that ran the jobs (the sequential
run's own, the Ray workers' as each job measured it) does not depend on that other load,
and shows what Ray costs per job.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path


@dataclass
class BatchBenchRow:
    """One measured phase."""

    phase: str
    seconds: float
    frames: int = 0
    fps: float = 0.0
    speedup: float | None = None
    cpu_busy: float | None = None  # cores busy, machine-wide, during the phase
    process_cpu: float | None = None  # this process's cores (user + system) during the phase
    cpu_ms_per_frame: float | None = None  # CPU time of the jobs' processes per frame written


def _cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine, or None without /proc."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


class _Phase:
    """Wall time, machine-wide busy cores and this process's CPU over a ``with`` block."""

    def __enter__(self) -> _Phase:
        self.ticks = _cpu_ticks()
        self.usage = resource.getrusage(resource.RUSAGE_SELF)
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
        usage = resource.getrusage(resource.RUSAGE_SELF)
        used = (usage.ru_utime - self.usage.ru_utime) + (usage.ru_stime - self.usage.ru_stime)
        self.process_cpu = used / self.seconds if self.seconds > 0 else 0.0
        end = _cpu_ticks()
        self.cpu_busy = None
        if self.ticks is not None and end is not None and end[1] > self.ticks[1]:
            share = (end[0] - self.ticks[0]) / (end[1] - self.ticks[1])
            self.cpu_busy = share * (os.cpu_count() or 1)


def _make_clips(folder: Path, count: int, width: int, height: int, frames: int) -> list[tuple[Path, Path]]:
    from moebius_video.io.masks import save_mask
    from moebius_video.synthetic import SceneConfig, SyntheticScene, write_scene_clip

    clips = []
    for i in range(count):
        scene = SyntheticScene(SceneConfig(width=width, height=height, num_frames=frames,
                                           object_fraction=0.10, seed=i))
        clip = folder / f"clip{i:02d}.mp4"
        write_scene_clip(clip, scene, frame_rate=Fraction(30), audio=False, crf=20)
        mask = folder / f"clip{i:02d}.mask.png"
        save_mask(mask, scene.frame(0).mask)
        clips.append((clip, mask))
    return clips


def _frame_count(path: Path) -> int:
    from moebius_video.io import open_source

    with open_source(path) as source:
        return sum(1 for _ in source)


def measure(clips: int = 8, frames: int = 300, size: tuple[int, int] = (640, 360), workers: int = 2,
            fill: str = "temporal", folder: Path | None = None) -> tuple[list[BatchBenchRow], dict]:
    """Run both ways; return the phases and facts about the run (load, identical outputs)."""
    import ray

    from moebius_video.batch import BatchConfig, BatchJob, run_batch
    from moebius_video.batch.runner import ray_session
    from moebius_video.engine.remove import MaskInput, RemoveConfig, remove_object

    with tempfile.TemporaryDirectory(prefix="moebius-bench-batch-") as tmp:
        root = Path(folder) if folder is not None else Path(tmp)
        src, seq_out, ray_out = root / "clips", root / "sequential", root / "ray"
        for d in (src, seq_out, ray_out):
            d.mkdir(parents=True, exist_ok=True)
        made = _make_clips(src, clips, size[0], size[1], frames)
        facts = {"clips": clips, "frames_per_clip": frames, "size": f"{size[0]}x{size[1]}",
                 "fill": fill, "workers": workers, "cpus": os.cpu_count(),
                 "load_average_at_start": os.getloadavg()}
        config = RemoveConfig(fill=fill)
        rows = []

        with _Phase() as seq:
            total = 0
            for clip, mask in made:
                total += remove_object(clip, seq_out / clip.name, MaskInput(mask=mask),
                                       config=config, progress=False).frames
        rows.append(BatchBenchRow(f"remove x{clips}, in sequence", seq.seconds, total,
                                  total / seq.seconds, 1.0, seq.cpu_busy, seq.process_cpu,
                                  1000 * seq.process_cpu * seq.seconds / total))

        jobs = [BatchJob(input=clip, output=ray_out / clip.name, masks=MaskInput(mask=mask),
                         config=config, where=clip.name) for clip, mask in made]
        batch_config = BatchConfig(workers=workers, progress=False)
        if ray.is_initialized():
            ray.shutdown()
        with _Phase() as whole:
            session = ray_session(batch_config)
            with _Phase() as start:
                session.__enter__()
            try:
                with _Phase() as run:
                    report = run_batch(jobs, ray_out, batch_config)
            finally:
                with _Phase() as stop:
                    session.__exit__(None, None, None)
        if not report.ok:
            failed = [f"{j.where}: {j.error}" for j in report.jobs if j.status != "done"]
            raise RuntimeError(f"the Ray batch failed: {'; '.join(failed)}")
        rows.append(BatchBenchRow("ray start (ray.init)", start.seconds, cpu_busy=start.cpu_busy))
        job_cpu = sum(j.cpu_seconds for j in report.jobs)
        rows.append(BatchBenchRow(f"ray batch ({workers} workers)", run.seconds, report.frames,
                                  report.frames / run.seconds, seq.seconds / run.seconds,
                                  run.cpu_busy, run.process_cpu, 1000 * job_cpu / report.frames))
        rows.append(BatchBenchRow("ray shutdown", stop.seconds))
        rows.append(BatchBenchRow("ray end to end", whole.seconds, report.frames,
                                  report.frames / whole.seconds, seq.seconds / whole.seconds,
                                  whole.cpu_busy))
        job_seconds = [j.seconds for j in report.jobs]
        facts["ray_job_seconds_mean"] = sum(job_seconds) / len(job_seconds)
        facts["sequential_job_seconds_mean"] = seq.seconds / clips
        # x264 output is not bit-reproducible here (see README, Status): compare frame counts.
        facts["outputs_complete"] = all(
            _frame_count(seq_out / c.name) == _frame_count(ray_out / c.name) == frames
            for c, _ in made
        )
        facts["load_average_at_end"] = os.getloadavg()
    return rows, facts


def format_rows(rows: list[BatchBenchRow], facts: dict) -> str:
    """The table."""
    load = facts["load_average_at_start"]
    lines = [
        f"bench batch: {facts['clips']} clips x {facts['frames_per_clip']} frames at {facts['size']}, "
        f"fill {facts['fill']}; machine: {facts['cpus']} CPUs, load average "
        f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} at start",
        f"{'phase':<28}{'seconds':>9}{'frames/s':>10}{'speed-up':>10}{'busy cores':>12}"
        f"{'this proc':>11}{'CPU ms/frame':>14}",
    ]
    for r in rows:
        lines.append((
            f"{r.phase:<28}{r.seconds:>9.1f}"
            + (f"{r.fps:>10.1f}" if r.frames else f"{'':>10}")
            + (f"{r.speedup:>10.2f}" if r.speedup is not None else f"{'':>10}")
            + (f"{r.cpu_busy:>12.2f}" if r.cpu_busy is not None else f"{'':>12}")
            + (f"{r.process_cpu:>11.2f}" if r.process_cpu is not None else f"{'':>11}")
            + (f"{r.cpu_ms_per_frame:>14.1f}" if r.cpu_ms_per_frame is not None else "")
        ).rstrip())
    lines.append(
        f"mean seconds per job: {facts['sequential_job_seconds_mean']:.1f} in sequence, "
        f"{facts['ray_job_seconds_mean']:.1f} on Ray; every output has all its frames: "
        f"{'yes' if facts['outputs_complete'] else 'NO'}"
    )
    return "\n".join(lines)
