"""``bench pipeline`` and ``bench memory``: file mode against decode+encode in the same run.

The machines this runs on are shared and noisy, so every figure is also printed as a ratio
to the decode+encode baseline measured moments before on the same clip, and to the causal
``temporal`` fill when it is in the run; the process CPU time per frame (all threads) is
printed too: on a machine whose other jobs take a share of the cores, it is the figure that
other jobs disturb least.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from moebius_video.bench.common import format_table
from moebius_video.engine.remove import MaskInput, RemoveConfig, remove_object
from moebius_video.fill import DEFAULT_FILLER


@dataclass
class ThroughputRow:
    """One measured configuration."""

    size: str
    stage: str
    frames: int
    seconds: float
    fps: float
    ratio_to_decode_encode: float
    #: Process CPU time (every thread) per frame, in ms.
    cpu_ms_per_frame: float = float("nan")
    #: ``fps`` over the ``remove (temporal)`` row's (``None`` when it is not in the run).
    ratio_to_temporal: float | None = None


@dataclass
class MemoryRow:
    """Peak resident memory of one ``remove`` run in a fresh process."""

    frames: int
    size: str
    peak_rss_mib: float
    seconds: float


#: What ``bench pipeline`` compares by default: the causal fill (live mode's propagation)
#: and file mode's default.
DEFAULT_FILLS = ("temporal", DEFAULT_FILLER)


def measure_throughput(
    clip: Path,
    mask: Path,
    *,
    fills: tuple[str, ...] = DEFAULT_FILLS,
    tracker: str | None = None,
    repeats: int = 1,
) -> list[ThroughputRow]:
    """Frames/s of decode alone, decode+encode and the full removal (once per filler).

    Each stage's best run (of ``repeats``) is kept, with its process CPU time.
    """
    from moebius_video.io import open_sink, open_source

    def decode_only() -> tuple[int, float]:
        t0 = time.perf_counter()
        with open_source(clip) as source:
            n = sum(1 for _ in source)
        return n, time.perf_counter() - t0

    def decode_encode() -> tuple[int, float]:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            with open_source(clip) as source:
                with open_sink(Path(tmp) / "out.mp4", like=source.info) as sink:
                    n = 0
                    for frame in source:
                        sink.write(frame)
                        n += 1
            return n, time.perf_counter() - t0

    def remove(fill: str) -> tuple[int, float]:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            result = remove_object(
                clip, Path(tmp) / "out.mp4", MaskInput(mask=mask),
                config=RemoveConfig(fill=fill, tracker=tracker), progress=False,
            )
            return result.frames, time.perf_counter() - t0

    def best(fn: Callable[[], tuple[int, float]]) -> tuple[int, float, float]:
        runs = []
        for _ in range(max(repeats, 1)):
            c0 = time.process_time()
            n, s = fn()
            runs.append((n, s, time.process_time() - c0))
        return min(runs, key=lambda r: r[1])

    with open_source(clip) as source:
        size = f"{source.info.width}x{source.info.height}"
    rows = []
    base_n, base_s, base_cpu = best(decode_encode)
    base_fps = base_n / base_s
    stages = [("decode", decode_only), ("decode+encode", None)]
    stages += [(f"remove ({fill})", lambda fill=fill: remove(fill)) for fill in fills]
    for stage, fn in stages:
        n, s, cpu = (base_n, base_s, base_cpu) if fn is None else best(fn)
        fps = n / s
        rows.append(ThroughputRow(size, stage, n, s, fps, fps / base_fps, 1000.0 * cpu / max(n, 1)))
    causal = next((r for r in rows if r.stage == "remove (temporal)"), None)
    if causal is not None:
        for r in rows:
            r.ratio_to_temporal = r.fps / causal.fps
    return rows


def measure_memory(clip: Path, mask: Path, *, fill: str = DEFAULT_FILLER) -> MemoryRow:
    """Peak RSS of ``moebius-video remove`` on ``clip``, run in a fresh Python process."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "moebius_video", "remove", str(clip), "--mask", str(mask),
               "-o", str(Path(tmp) / "out.mp4"), "--fill", fill, "--no-progress"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"remove failed ({proc.returncode}): {stderr.strip()}")
    from moebius_video.io import probe

    info = probe(clip)
    return MemoryRow(
        frames=info.num_frames or 0,
        size=f"{info.width}x{info.height}",
        peak_rss_mib=usage.ru_maxrss / 1024.0,  # KiB on Linux
        seconds=seconds,
    )


def format_throughput(rows: list[ThroughputRow]) -> str:
    """A text table of throughput rows."""
    return format_table(rows, [("size", "size", "s"), ("stage", "stage", "s"),
                               ("frames", "frames", "d"), ("frames/s", "fps", ".1f"),
                               ("x decode+encode", "ratio_to_decode_encode", ".2f"),
                               ("x temporal", "ratio_to_temporal", ".2f"),
                               ("CPU ms/frame", "cpu_ms_per_frame", ".1f")])


def format_memory(rows: list[MemoryRow]) -> str:
    """A text table of memory rows."""
    return format_table(rows, [("size", "size", "s"), ("frames", "frames", "d"),
                               ("peak RSS MiB", "peak_rss_mib", ".1f"), ("seconds", "seconds", ".1f")])
