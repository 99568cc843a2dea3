"""What every benchmark shares: tables and JSON, timers, the synthetic scenes.

Benchmarks return rows (dataclasses); the command line (``moebius_video.cli.bench``)
prints them with :func:`format_table` or :func:`to_json`. Sizes arrive as ``(width,
height)`` pairs: parsing ``"640x360"`` is the command line's job.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, is_dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np

from moebius_video.io.masks import save_mask
from moebius_video.synthetic import SceneConfig, SyntheticScene, write_scene_clip

T = TypeVar("T")

#: A table column: header, row attribute, format spec (``"9.1f"``; width from the header).
Column = tuple[str, str, str]


def format_table(rows: Sequence[Any], columns: Sequence[Column]) -> str:
    """Rows as a plain-text table, one right-aligned column per ``(header, attribute,
    format)``; ``None`` prints as ``-``."""
    cells = [[head for head, _, _ in columns]]
    cells += [["-" if getattr(r, attr) is None else format(getattr(r, attr), spec)
               for _, attr, spec in columns] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(f"{c:>{w}}" for c, w in zip(line, widths, strict=True))
                     for line in cells)


def to_json(rows: Sequence[Any]) -> str:
    """Rows (dataclasses or dicts) as indented JSON."""
    return json.dumps([asdict(r) if is_dataclass(r) else r for r in rows], indent=2)


def best_of(fn: Callable[[], tuple[int, float]], repeats: int) -> tuple[int, float]:
    """The fastest of ``repeats`` runs of ``fn() -> (items, seconds)``."""
    return min((fn() for _ in range(max(repeats, 1))), key=lambda r: r[1])


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """``(fn(), seconds it took)``."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


# ---- synthetic footage ------------------------------------------------------------------


def scene_clip(folder: Path, width: int, height: int, frames: int,
               object_fraction: float = 0.10) -> tuple[Path, Path]:
    """Encode a :class:`~moebius_video.synthetic.SyntheticScene` (H.264, 30 fps, no audio)
    and its first-frame mask into ``folder``; returns ``(clip, mask)``."""
    scene = SyntheticScene(SceneConfig(width=width, height=height, num_frames=frames,
                                       object_fraction=object_fraction))
    clip = folder / f"clip_{width}x{height}_{frames}.mp4"
    write_scene_clip(clip, scene, frame_rate=Fraction(30), audio=False, crf=20)
    mask = folder / f"mask_{width}x{height}.png"
    save_mask(mask, scene.frame(0).mask)
    return clip, mask


def panning_frames(n: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` RGB frames of a textured background panning 2 px per frame (fill benchmarks)."""
    rng = np.random.default_rng(seed)
    big = rng.integers(0, 256, (height // 4 + 8, (width + 2 * n) // 4 + 8, 3), dtype=np.uint8)
    big = cv2.resize(big, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    big = cv2.GaussianBlur(big, (0, 0), 1.0)
    return [np.ascontiguousarray(big[8 : 8 + height, 2 * i : 2 * i + width]) for i in range(n)]


def moving_ellipse_masks(n: int, width: int, height: int, fraction: float) -> list[np.ndarray]:
    """``n`` masks: an ellipse of ``fraction`` of the frame area moving left to right."""
    area = fraction * width * height
    ax = int(np.sqrt(area / np.pi * 1.5))
    ay = max(1, int(area / (np.pi * max(ax, 1))))
    masks = []
    for i in range(n):
        m = np.zeros((height, width), np.uint8)
        cx = int(width * (0.25 + 0.5 * i / max(n - 1, 1)))
        cv2.ellipse(m, (cx, height // 2), (ax, ay), 0, 0, 360, 1, -1)
        masks.append(m > 0)
    return masks


def object_frames(n: int, width: int, height: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """A textured ellipse (about 6 % of the frame) going back and forth over a panning
    textured background (tracker benchmarks); returns the ``n`` frames and the object's
    first-frame mask.

    The object carries its own texture (fixed, moving with it) and bounces between a quarter
    and three quarters of the frame's width, so a tracker can follow it: an object whose
    texture slid with the background and that jumped back every half width, as before, was
    lost by every tracker after ~20 frames and the benchmark timed lost trackers.
    """
    rng = np.random.default_rng(seed)
    pan = max(1, width // 320)
    big_w, big_h = width + pan * n + 8, height + 8
    coarse = rng.random((big_h // 16 + 2, big_w // 16 + 2, 3)).astype(np.float32)
    fine = rng.random((big_h, big_w, 3)).astype(np.float32)
    tex = 0.6 * cv2.resize(coarse, (big_w, big_h)) + 0.4 * cv2.GaussianBlur(fine, (0, 0), 1.5)
    background = (tex / tex.max() * 220).astype(np.uint8)
    rx, ry = width // 8, height // 6
    # the object's own texture: the background's negative, from the other end of the strip
    patch = background[-(2 * ry + 1) :, -(2 * rx + 1) :]
    patch = ((255 - patch) // 2 + np.array([0, 0, 120], np.uint8)).astype(np.uint8)
    py, px = np.mgrid[-ry : ry + 1, -rx : rx + 1]
    shape = (px / max(rx, 1)) ** 2 + (py / max(ry, 1)) ** 2 <= 1
    span = max(1, width // 2)
    frames: list[np.ndarray] = []
    first = np.zeros((height, width), bool)
    for t in range(n):
        frame = background[4 : 4 + height, 4 + pan * t : 4 + pan * t + width].copy()
        step = (t * 2 * pan) % (2 * span)
        cx = width // 4 + (step if step <= span else 2 * span - step)
        cy = height // 2
        inside = np.zeros((height, width), bool)
        y0, x0 = cy - ry, cx - rx
        ys = slice(max(0, y0), min(height, y0 + 2 * ry + 1))
        xs = slice(max(0, x0), min(width, x0 + 2 * rx + 1))
        part = shape[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
        inside[ys, xs] = part
        frame[ys, xs][part] = patch[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0][part]
        frames.append(frame)
        if t == 0:
            first = inside
    return frames, first


__all__ = [
    "Column",
    "best_of",
    "format_table",
    "moving_ellipse_masks",
    "object_frames",
    "panning_frames",
    "scene_clip",
    "timed",
    "to_json",
]
