"""Plain data carried between the reader, the processing stages and the writer."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a source before decoding it.

    Attributes:
        path: The file or folder that was opened.
        width: Width of the decoded frames after rotation, in pixels.
        height: Height of the decoded frames after rotation, in pixels.
        num_frames: Frame count if the container states it (or a folder's file count);
            ``None`` when unknown. An estimate for files: decoding is the truth.
        frame_rate: Average frame rate as an exact fraction (30000/1001, not 29.97),
            ``None`` when unknown.
        time_base: Time base of the frames' ``pts`` (exact), ``None`` for folders.
        rotation: Clockwise rotation in degrees applied to decoded frames (0/90/180/270)
            so that they appear upright, as players show them.
        codec: Name of the video codec (``"h264"``, ``"png"`` for folders...).
        duration: Duration in seconds if known.
        has_audio: Whether the source has an audio stream.
        is_folder: Whether the source is a folder of image files.
        frame_names: For folders, the file stems in natural order; empty for files.
        pix_fmt: The source's pixel format (``"yuv420p10le"``...); ``""`` when unknown.
        bit_depth: Bits per sample of the source (8 for most video, 10 for HDR/pro footage).
    """

    path: Path
    width: int
    height: int
    num_frames: int | None
    frame_rate: Fraction | None
    time_base: Fraction | None
    rotation: int = 0
    codec: str = ""
    duration: float | None = None
    has_audio: bool = False
    is_folder: bool = False
    frame_names: tuple[str, ...] = field(default_factory=tuple)
    pix_fmt: str = ""
    bit_depth: int = 8


@dataclass
class Frame:
    """One decoded picture.

    Attributes:
        index: Position in decoding (presentation) order, from 0.
        image: ``H, W, 3`` uint8 RGB, upright (rotation already applied), C-contiguous.
        pts: Presentation timestamp in ``time_base`` units; ``None`` for image folders.
        time_base: Unit of ``pts`` as an exact fraction; ``None`` for image folders.
        name: A name for per-frame outputs: the file stem for folders, else ``"00000"``...
    """

    index: int
    image: np.ndarray
    pts: int | None = None
    time_base: Fraction | None = None
    name: str = ""

    @property
    def time(self) -> float | None:
        """Presentation time in seconds, or ``None`` when the frame has no timestamp."""
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)
