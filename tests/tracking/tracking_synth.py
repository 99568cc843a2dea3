"""Synthetic clips with an exact ground truth for the tracking tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data"


@dataclass(frozen=True)
class SynthClip:
    """Frames (``N,H,W,3`` uint8 RGB) and true masks (``N,H,W`` bool)."""

    frames: np.ndarray
    masks: np.ndarray


def _texture(rng: np.random.Generator, h: int, w: int, low: int, high: int) -> np.ndarray:
    """Smooth colour noise in ``[low, high]``: something optical flow can lock on to."""
    noise = rng.random((h, w, 3)).astype(np.float32)
    coarse = cv2.resize(rng.random((h // 8 + 1, w // 8 + 1, 3)).astype(np.float32), (w, h))
    tex = 0.5 * cv2.GaussianBlur(noise, (0, 0), 1.2) + 0.5 * coarse
    tex = (tex - tex.min()) / (tex.max() - tex.min() + 1e-6)
    return (low + tex * (high - low)).astype(np.uint8)


def make_clip(
    n: int = 16,
    h: int = 96,
    w: int = 128,
    pan: tuple[float, float] = (2.0, 0.0),
    velocity: tuple[float, float] = (3.0, 1.0),
    start: tuple[float, float] = (40.0, 40.0),
    radii: tuple[int, int] = (18, 13),
    seed: int = 0,
) -> SynthClip:
    """A textured ellipse moving over a textured, panning background.

    Args:
        n: number of frames.
        h: frame height.
        w: frame width.
        pan: background displacement per frame (x, y), the camera pan.
        velocity: object displacement per frame (x, y) in the image.
        start: object centre on the first frame.
        radii: ellipse radii (x, y).
        seed: random seed.

    Returns:
        The clip.
    """
    rng = np.random.default_rng(seed)
    big = _texture(rng, h + 8 + int(abs(pan[1]) * n), w + 8 + int(abs(pan[0]) * n), 30, 200)
    big[..., 2] = big[..., 2] // 2  # background: little blue
    obj_tex = _texture(rng, 2 * radii[1] + 1, 2 * radii[0] + 1, 60, 255)
    obj_tex[..., 0] = obj_tex[..., 0] // 3  # object: little red, strong blue
    frames = np.zeros((n, h, w, 3), np.uint8)
    masks = np.zeros((n, h, w), bool)
    yy, xx = np.mgrid[0:h, 0:w]
    for t in range(n):
        ox, oy = int(round(abs(pan[0]) * t)), int(round(abs(pan[1]) * t))
        frame = big[oy : oy + h, ox : ox + w].copy()
        cx = start[0] + velocity[0] * t
        cy = start[1] + velocity[1] * t
        inside = ((xx - cx) / radii[0]) ** 2 + ((yy - cy) / radii[1]) ** 2 <= 1.0
        ty = np.clip(np.round(yy[inside] - cy).astype(int) + radii[1], 0, 2 * radii[1])
        tx = np.clip(np.round(xx[inside] - cx).astype(int) + radii[0], 0, 2 * radii[0])
        frame[inside] = obj_tex[ty, tx]
        frames[t] = frame
        masks[t] = inside
    return SynthClip(frames, masks)
