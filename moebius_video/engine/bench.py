"""Throughput and memory of the file pipeline, against decode+encode measured in the same run.

The machines this runs on are shared and noisy, so every figure is also printed as a ratio
to the decode+encode baseline measured moments before on the same clip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from moebius_video.engine.remove import MaskInput, RemoveConfig, remove_object
from moebius_video.io.masks import save_mask
from moebius_video.synthetic import SceneConfig, SyntheticScene, write_scene_clip


@dataclass
class ThroughputRow:
    """One measured configuration."""

    size: str
    stage: str
    frames: int
    seconds: float
    fps: float
    ratio_to_decode_encode: float


@dataclass
class MemoryRow:
    """Peak resident memory of one ``remove`` run in a fresh process."""

    frames: int
    size: str
    peak_rss_mib: float
    seconds: float


def make_clip(folder: Path, width: int, height: int, frames: int, object_fraction: float = 0.10) -> tuple[Path, Path]:
    """Write a generated clip and its first-frame mask into ``folder``; return both paths."""
    scene = SyntheticScene(SceneConfig(width=width, height=height, num_frames=frames,
                                       object_fraction=object_fraction))
    clip = folder / f"clip_{width}x{height}_{frames}.mp4"
    write_scene_clip(clip, scene, frame_rate=Fraction(30), audio=False, crf=20)
    mask = folder / f"mask_{width}x{height}.png"
    save_mask(mask, scene.frame(0).mask)
    return clip, mask


def measure_throughput(
    clip: Path,
    mask: Path,
    *,
    fills: tuple[str, ...] = ("telea", "temporal"),
    tracker: str | None = None,
    repeats: int = 1,
) -> list[ThroughputRow]:
    """Frames/s of decode alone, decode+encode and the full removal (once per filler)."""
    from moebius_video.io import open_sink, open_source

    def best(fn) -> tuple[int, float]:  # type: ignore[no-untyped-def]
        runs = [fn() for _ in range(repeats)]
        return min(runs, key=lambda r: r[1])

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

    with open_source(clip) as source:
        size = f"{source.info.width}x{source.info.height}"
    rows = []
    base_n, base_s = best(decode_encode)
    base_fps = base_n / base_s
    stages = [("decode", decode_only), ("decode+encode", None)]
    stages += [(f"remove ({fill})", lambda fill=fill: remove(fill)) for fill in fills]
    for stage, fn in stages:
        n, s = (base_n, base_s) if fn is None else best(fn)
        fps = n / s
        rows.append(ThroughputRow(size, stage, n, s, fps, fps / base_fps))
    return rows


def measure_memory(clip: Path, mask: Path, *, fill: str = "telea") -> MemoryRow:
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
    lines = [f"{'size':>10}  {'stage':<22} {'frames':>6} {'frames/s':>9} {'x decode+encode':>16}"]
    for r in rows:
        lines.append(f"{r.size:>10}  {r.stage:<22} {r.frames:>6} {r.fps:>9.1f} {r.ratio_to_decode_encode:>16.2f}")
    return "\n".join(lines)


def format_memory(rows: list[MemoryRow]) -> str:
    """A text table of memory rows."""
    lines = [f"{'size':>10}  {'frames':>6} {'peak RSS MiB':>13} {'seconds':>8}"]
    for r in rows:
        lines.append(f"{r.size:>10}  {r.frames:>6} {r.peak_rss_mib:>13.1f} {r.seconds:>8.1f}")
    return "\n".join(lines)


def rows_as_dicts(rows: list) -> list[dict]:  # type: ignore[type-arg]
    """Rows as plain dicts (for ``--json``)."""
    return [asdict(r) for r in rows]
