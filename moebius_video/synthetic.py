"""Procedural test footage: a textured scene, a camera pan and a moving object.

Used by ``moebius-video demo``, the benchmarks and the tests. Every frame comes with the
object's exact mask and the clean background, so a removal can be scored against the truth.
Frames are generated one at a time: a 3000-frame clip costs no more memory than a short one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from moebius_video.errors import InvalidArgumentError


@dataclass(frozen=True)
class SceneConfig:
    """Shape of a generated clip.

    Attributes:
        width: Frame width in pixels (any value >= 16, odd allowed).
        height: Frame height in pixels (any value >= 16, odd allowed).
        num_frames: Number of frames.
        pan_speed: Camera pan in pixels per frame (horizontal).
        object_fraction: Area of the object as a fraction of the frame (0.1 = 10 %).
        seed: Seed of the texture.
    """

    width: int = 640
    height: int = 360
    num_frames: int = 90
    pan_speed: float = 2.0
    object_fraction: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.width < 16 or self.height < 16:
            raise InvalidArgumentError(f"scene size must be at least 16x16, got {self.width}x{self.height}")
        if self.num_frames < 1:
            raise InvalidArgumentError(f"num_frames must be >= 1, got {self.num_frames}")
        if not 0.0 < self.object_fraction < 0.5:
            raise InvalidArgumentError(
                f"object_fraction must be in (0, 0.5), got {self.object_fraction}"
            )


@dataclass
class SceneFrame:
    """One generated frame: the picture, the object's mask, and the frame without it."""

    image: np.ndarray
    mask: np.ndarray
    background: np.ndarray


def _texture(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A natural-looking colour texture: multi-scale smooth noise plus some hard edges."""
    canvas = np.zeros((height, width, 3), np.float32)
    for scale, weight in ((64, 0.5), (16, 0.3), (4, 0.2)):
        small = rng.random((max(height // scale, 2), max(width // scale, 2), 3), dtype=np.float32)
        canvas += weight * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    canvas = 40 + 170 * (canvas - canvas.min()) / max(float(np.ptp(canvas)), 1e-6)
    # Rectangles and lines: edges and corners for optical flow to lock on.
    for _ in range(max(width * height // 6000, 8)):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(6, 60)), int(rng.integers(6, 60))
        colour = rng.integers(20, 235, 3).tolist()
        if rng.random() < 0.7:
            cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, -1)
        else:
            cv2.line(canvas, (x, y), (x + 3 * w, y + h), colour, int(rng.integers(1, 4)))
    return np.clip(canvas, 0, 255).astype(np.uint8)


class SyntheticScene:
    """Generates the frames of a panning textured scene with one moving object.

    Args:
        config: The clip's shape.
    """

    def __init__(self, config: SceneConfig | None = None) -> None:
        self.config = config or SceneConfig()
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        pan = int(np.ceil(abs(cfg.pan_speed) * cfg.num_frames)) + 2
        self._world = cv2.GaussianBlur(_texture(cfg.width + pan, cfg.height, rng), (3, 3), 0)
        area = cfg.object_fraction * cfg.width * cfg.height
        # An ellipse of aspect 1.4 with that area.
        self._ry = float(np.sqrt(area / (np.pi * 1.4)))
        self._rx = 1.4 * self._ry
        colours = rng.integers(0, 255, (2, 3))
        self._colours = [tuple(int(v) for v in c) for c in colours]

    def __len__(self) -> int:
        return self.config.num_frames

    def object_centre(self, index: int) -> tuple[float, float]:
        """Centre ``(x, y)`` of the object in frame ``index`` (a slow Lissajous path)."""
        cfg = self.config
        t = index / max(cfg.num_frames - 1, 1)
        margin_x = self._rx + 2
        margin_y = self._ry + 2
        cx = margin_x + (cfg.width - 2 * margin_x) * (0.5 + 0.4 * np.sin(np.pi * t - 0.5 * np.pi))
        cy = margin_y + (cfg.height - 2 * margin_y) * (0.5 + 0.3 * np.sin(2 * np.pi * t))
        return float(cx), float(cy)

    def frame(self, index: int) -> SceneFrame:
        """Frame ``index`` with its exact object mask and clean background."""
        cfg = self.config
        offset = abs(cfg.pan_speed) * index
        if cfg.pan_speed < 0:
            offset = self._world.shape[1] - cfg.width - offset
        # Sub-pixel pan by an affine warp of the world strip.
        matrix = np.float32([[1, 0, -offset], [0, 1, 0]])
        background = cv2.warpAffine(
            self._world, matrix, (cfg.width, cfg.height), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )
        cx, cy = self.object_centre(index)
        mask8 = np.zeros((cfg.height, cfg.width), np.uint8)
        angle = 20.0 * np.sin(index / 15.0)
        centre = (int(round(cx)), int(round(cy)))
        axes = (int(round(self._rx)), int(round(self._ry)))
        cv2.ellipse(mask8, centre, axes, angle, 0, 360, 255, -1)
        mask = mask8 > 0
        image = background.copy()
        obj = np.empty_like(image)
        obj[:] = self._colours[0]
        # Stripes fixed to the object (it moves rigidly), so it has texture of its own.
        yy = np.arange(cfg.height)[:, None] - int(round(cy))
        stripes = (yy // 6) % 2 == 0
        obj[np.broadcast_to(stripes, mask.shape)] = self._colours[1]
        image[mask] = obj[mask]
        return SceneFrame(image=image, mask=mask, background=background)

    def __iter__(self) -> Iterator[SceneFrame]:
        for index in range(self.config.num_frames):
            yield self.frame(index)


def write_scene_clip(
    path: str | object,
    scene: SyntheticScene,
    *,
    frame_rate: object = None,
    audio: bool = True,
    crf: int = 16,
) -> None:
    """Encode ``scene`` to an H.264 file (with a quiet 440 Hz tone when ``audio``).

    This writes *test input*, directly with PyAV; the product's writer is
    ``moebius_video.io.open_sink``.

    Args:
        path: Output file (``.mp4``, ``.mkv``, ``.mov``).
        scene: The scene to render.
        frame_rate: Exact frame rate (``Fraction``); default 30000/1001.
        audio: Add an AAC audio track as long as the video.
        crf: x264 quality (lower = closer to the generated pixels).
    """
    from fractions import Fraction

    import av

    rate = Fraction(frame_rate) if frame_rate is not None else Fraction(30000, 1001)
    cfg = scene.config
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = cfg.width, cfg.height
        even = cfg.width % 2 == 0 and cfg.height % 2 == 0
        stream.pix_fmt = "yuv420p" if even else "yuv444p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        astream = None
        if audio:
            astream = container.add_stream("aac", rate=48000)
            astream.layout = "mono"
        for index in range(cfg.num_frames):
            frame = av.VideoFrame.from_ndarray(scene.frame(index).image, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if astream is not None:
            seconds = float(cfg.num_frames / rate)
            samples = int(round(seconds * 48000))
            t = np.arange(samples) / 48000.0
            tone = (0.1 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
            chunk = 1024
            for offset in range(0, samples, chunk):
                part = tone[offset : offset + chunk][None, :]
                aframe = av.AudioFrame.from_ndarray(part, format="fltp", layout="mono")
                aframe.sample_rate = 48000
                aframe.pts = offset
                for packet in astream.encode(aframe):
                    container.mux(packet)
            for packet in astream.encode():
                container.mux(packet)
