"""Random-access frame sequences and clip folders (frames/ + masks/), for offline use.

A clip folder holds ``frames/*.jpg|png`` and ``masks/*.png`` or ``masks_binary/*.png`` whose
file stems match the frames'. Frames are decoded lazily, one per ``__getitem__``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import cv2
import numpy as np

from .errors import TrackingError

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class FrameFolder(Sequence[np.ndarray]):
    """The images of a folder, sorted by name, decoded on access as ``H,W,3`` uint8 RGB."""

    def __init__(self, folder: str | Path, limit: int | None = None) -> None:
        """List the images (nothing is decoded here).

        Args:
            folder: a folder of image files.
            limit: keep only the first ``limit`` images.

        Raises:
            TrackingError: when the folder holds no image.
        """
        self.folder = Path(folder)
        paths = (
            sorted(p for p in self.folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
            if self.folder.is_dir()
            else []
        )
        if not paths:
            raise TrackingError(f"folder {str(self.folder)!r} holds no image")
        self.paths: list[Path] = paths[:limit] if limit is not None else paths

    def __len__(self) -> int:
        """Number of frames."""
        return len(self.paths)

    @overload
    def __getitem__(self, index: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, index: slice) -> list[np.ndarray]: ...

    def __getitem__(self, index: int | slice) -> np.ndarray | list[np.ndarray]:
        """Decode frame ``index`` (``H,W,3`` uint8 RGB); a slice gives a list."""
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        image = cv2.imread(str(self.paths[index]), cv2.IMREAD_COLOR)
        if image is None:
            raise TrackingError(f"cannot decode frame {str(self.paths[index])!r}")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_mask(path: str | Path) -> np.ndarray:
    """Read a mask image as ``H,W`` bool (non-black = object).

    Args:
        path: a PNG (L 0/255, or palette / colour where non-zero marks the object).

    Returns:
        ``H,W`` bool mask.

    Raises:
        TrackingError: unreadable file.
    """
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise TrackingError(f"cannot read mask {str(path)!r}")
    return image > 0


@dataclass(frozen=True)
class Clip:
    """A clip folder with ground-truth masks.

    Attributes:
        name: folder name.
        frames: the lazily decoded frames.
        mask_paths: frame index to mask file, for every frame that has one.
    """

    name: str
    frames: FrameFolder
    mask_paths: dict[int, Path]

    @property
    def has_all_masks(self) -> bool:
        """True when every frame has a mask."""
        return len(self.mask_paths) == len(self.frames)

    def mask(self, index: int) -> np.ndarray:
        """Ground-truth mask of frame ``index`` (``H,W`` bool)."""
        return read_mask(self.mask_paths[index])


#: The clip-folder layout (DAVIS-style), shared by the tracker, the evaluations and training:
#: ``<clip>/frames/`` holds the frames, ``<clip>/masks_binary/`` or ``<clip>/masks/`` one
#: mask per frame (most binary first); a data folder keeps its clips in ``clips/``.
FRAMES_DIR = "frames"
MASK_DIRS = ("masks_binary", "masks")
CLIPS_DIR = "clips"


def clip_mask_dir(folder: str | Path) -> Path | None:
    """The mask folder of a clip folder (``masks_binary/`` before ``masks/``), or ``None``."""
    for sub in MASK_DIRS:
        if (Path(folder) / sub).is_dir():
            return Path(folder) / sub
    return None


def load_clip(folder: str | Path, max_frames: int | None = None) -> Clip:
    """Open a clip folder (``frames/`` and ``masks_binary/`` or ``masks/``).

    Args:
        folder: the clip folder.
        max_frames: keep only the first frames.

    Returns:
        The :class:`Clip`.

    Raises:
        TrackingError: no ``frames/`` folder or no mask folder.
    """
    folder = Path(folder)
    frames = FrameFolder(folder / FRAMES_DIR, limit=max_frames)
    mask_dir = clip_mask_dir(folder)
    if mask_dir is None:
        raise TrackingError(f"clip {str(folder)!r} has no masks/ or masks_binary/ folder")
    by_stem = {p.stem: p for p in mask_dir.iterdir() if p.suffix.lower() == ".png"}
    mask_paths = {i: by_stem[p.stem] for i, p in enumerate(frames.paths) if p.stem in by_stem}
    return Clip(folder.name, frames, mask_paths)


def list_clips(data_dir: str | Path) -> tuple[list[Path], dict[str, str]]:
    """Clip folders of a data directory that have a mask for every frame.

    ``manifest.json`` (when present) says which clips have per-frame masks; otherwise the
    folders are inspected.

    Args:
        data_dir: a folder of clip folders (or a folder containing ``clips/``).

    Returns:
        ``(usable, skipped)``: the usable clip folders, sorted, and the skipped ones by name
        with the reason.

    Raises:
        TrackingError: when ``data_dir`` is not a folder.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise TrackingError(f"data_dir {str(root)!r} is not a folder")
    if not (root / "manifest.json").exists() and (root / CLIPS_DIR).is_dir():
        root = root / CLIPS_DIR
    manifest: dict[str, dict[str, object]] = {}
    if (root / "manifest.json").exists():
        manifest = json.loads((root / "manifest.json").read_text())
    usable: list[Path] = []
    skipped: dict[str, str] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
        info = manifest.get(sub.name)
        if info is not None and info.get("n_masks") != info.get("n_frames"):
            n_masks = info.get("n_masks") or 0
            skipped[sub.name] = (
                f"masks on {n_masks} of {info.get('n_frames')} frames"
                if n_masks
                else "no per-frame masks"
            )
            continue
        if not (sub / FRAMES_DIR).is_dir():
            skipped[sub.name] = "no frames/ folder"
            continue
        try:
            clip = load_clip(sub)
        except TrackingError as error:
            skipped[sub.name] = str(error)
            continue
        if not clip.has_all_masks:
            skipped[sub.name] = f"masks on {len(clip.mask_paths)} of {len(clip.frames)} frames"
            continue
        usable.append(sub)
    return usable, skipped


__all__ = [
    "CLIPS_DIR",
    "FRAMES_DIR",
    "MASK_DIRS",
    "Clip",
    "FrameFolder",
    "clip_mask_dir",
    "list_clips",
    "load_clip",
    "read_mask",
]
