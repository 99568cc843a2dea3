"""``moebius-video bench soak``: the live engine over a long run, resources sampled as it goes.

A generated 640x360 scene (its object tracked and removed with the live defaults) is
H.264-encoded in memory once and delivered by :class:`~moebius_video.io.capture.FakeCapture`
at ``--fps`` in ``live`` mode (newest frame wins), decoding one packet per frame and looping,
for ``--frames`` frames (default 20 000) or ``--minutes``. The output is encoded to an
MPEG-TS file, as ``stream`` does. Every ``--every`` frames captured (default 1000) one row
is printed: resident memory, threads, open file descriptors, and the window's latency
percentiles (of the frames written in it), frames/s out and drops. A leak shows as a column that keeps growing; the verdict
compares the last steady window with the first one after warm-up.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from moebius_video.bench.live import EncodedClip
from moebius_video.engine.live import LiveConfig, LiveEngine, LiveOutput
from moebius_video.fill import DEFAULT_LIVE_FILLER
from moebius_video.io.capture import FakeCapture
from moebius_video.io.stream_out import AVStreamSink
from moebius_video.synthetic import SceneConfig, SyntheticScene


@dataclass
class SoakRow:
    """Resources and latency over one window of frames."""

    frames_out: int
    frames_in: int
    elapsed_s: float
    rss_mib: float
    threads: int
    open_files: int
    latency_ms_p50: float
    latency_ms_p95: float
    latency_ms_max: float
    fps_out: float
    dropped: int


def _proc_status(field: str) -> int:
    """A number from /proc/self/status (``VmRSS`` in kB, ``Threads``); 0 where unavailable."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _open_files() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


class _Sampler:
    """Observer of the engine's outputs: one :class:`SoakRow` each time another ``every``
    frames were captured (checked as frames come out)."""

    def __init__(self, engine: LiveEngine, every: int, on_row) -> None:  # type: ignore[no-untyped-def]
        self.engine, self.every, self.on_row = engine, every, on_row
        self.latencies: list[float] = []
        self.count = 0
        self.t0 = time.monotonic()
        self.t_window = self.t0
        self.dropped_before = 0
        self.rows: list[SoakRow] = []

    def __call__(self, out: LiveOutput) -> None:
        self.latencies.append(out.latency_ms)
        self.count += 1
        stats = self.engine.stats()
        if stats.frames_in < (len(self.rows) + 1) * self.every:
            return
        now = time.monotonic()
        lat = np.asarray(self.latencies)
        row = SoakRow(
            frames_out=self.count,
            frames_in=stats.frames_in,
            elapsed_s=round(now - self.t0, 1),
            rss_mib=round(_proc_status("VmRSS") / 1024, 1),
            threads=_proc_status("Threads") or threading.active_count(),
            open_files=_open_files(),
            latency_ms_p50=round(float(np.percentile(lat, 50)), 1),
            latency_ms_p95=round(float(np.percentile(lat, 95)), 1),
            latency_ms_max=round(float(lat.max()), 1),
            fps_out=round(len(lat) / max(now - self.t_window, 1e-9), 1),
            dropped=stats.dropped - self.dropped_before,
        )
        self.latencies.clear()
        self.t_window, self.dropped_before = now, stats.dropped
        self.rows.append(row)
        self.on_row(row)


def soak(
    *,
    frames: int | None = 20_000,
    minutes: float | None = None,
    width: int = 640,
    height: int = 360,
    fps: float = 30.0,
    every: int = 1000,
    fill: str = DEFAULT_LIVE_FILLER,
    tracker: str | None = None,
    loop: int = 300,
    on_row=lambda row: None,  # type: ignore[no-untyped-def]
) -> list[SoakRow]:
    """Run the live engine for ``frames`` captured frames (or ``minutes``) and sample it.

    Args:
        frames: Frames to capture (``None`` with ``minutes``: until the time is up).
        minutes: Stop after this long instead.
        width: Frame width.
        height: Frame height.
        fps: Source rate (``live`` mode: frames the engine cannot keep up with are dropped).
        every: Frames captured per row.
        fill: Filler.
        tracker: Tracker (default: the package's).
        loop: Distinct frames of the generated scene (delivered in a loop).
        on_row: Called with each row as it is measured (to print progress).

    Returns:
        The rows, one per ``every`` frames captured.
    """
    scene = SyntheticScene(SceneConfig(width=width, height=height, num_frames=loop,
                                       object_fraction=0.05, pan_speed=1.0))
    clip = EncodedClip(scene, loop)
    source = FakeCapture(clip, num_frames=frames, frame_rate=Fraction(fps).limit_denominator(1001))
    with tempfile.TemporaryDirectory(prefix="moebius-soak-") as tmp:
        sink = AVStreamSink(Path(tmp) / "soak.ts", width, height, overwrite=True,
                            frame_rate=Fraction(fps).limit_denominator(1001))
        config = LiveConfig(mode="live", fill=fill, tracker=tracker,
                            duration=minutes * 60 if minutes else None)
        engine = LiveEngine(source, [sink], config, mask=scene.frame(0).mask)
        sampler = _Sampler(engine, every, on_row)
        engine.observers.append(sampler)
        with engine:  # __enter__ starts it; leaving closes it, whatever happened
            engine.finish()
    return sampler.rows


def verdict(rows: list[SoakRow]) -> str:
    """Whether memory, threads and open files stayed flat.

    The first window (warm-up: buffers, the model, the encoder fill up) and the last one
    (the source ended, threads are stopping) are left out; among the others, the last is
    compared with the first: memory may not grow by more than max(20 MiB, 5 %), and the
    thread and open-file counts must be back where they were (the highest seen is reported).
    """
    steady = rows[1:-1]
    if len(steady) < 2:
        return "too few windows for a verdict"
    base, last = steady[0], steady[-1]
    growth = last.rss_mib - base.rss_mib
    flat = (growth <= max(20.0, 0.05 * base.rss_mib) and last.threads == base.threads
            and last.open_files == base.open_files)
    return (f"{'flat' if flat else 'NOT flat'}: RSS {base.rss_mib:.1f} -> {last.rss_mib:.1f} MiB "
            f"({growth:+.1f}; peak {max(r.rss_mib for r in steady):.1f}), threads {base.threads} "
            f"-> {last.threads} (peak {max(r.threads for r in steady)}), open files "
            f"{base.open_files} -> {last.open_files} (peak {max(r.open_files for r in steady)}), "
            f"latency p95 {base.latency_ms_p95:.0f} -> {last.latency_ms_p95:.0f} ms "
            f"(frames in {base.frames_in} and {last.frames_in})")


def header() -> str:
    """The column titles of :func:`format_row`."""
    return (f"{'out':>7} {'in':>7} {'s':>7} {'RSS MiB':>8} {'threads':>7} {'files':>5} "
            f"{'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'fps':>6} {'dropped':>7}")


def format_row(row: SoakRow) -> str:
    """One window as a table row."""
    return (f"{row.frames_out:>7} {row.frames_in:>7} {row.elapsed_s:>7.1f} {row.rss_mib:>8.1f} "
            f"{row.threads:>7} {row.open_files:>5} {row.latency_ms_p50:>7.1f} "
            f"{row.latency_ms_p95:>7.1f} {row.latency_ms_max:>7.1f} {row.fps_out:>6.1f} "
            f"{row.dropped:>7}")


__all__ = ["SoakRow", "format_row", "header", "soak", "verdict"]
