"""Random hole masks for training and evaluating the inpainting model.

Five kinds, after the masks that LaMa, PixelHacker and Moebius train with:

* ``thin``, ``medium``, ``thick``: free-form brush strokes (random polylines with round
  joints drawn by OpenCV), of widths relative to the image side, so one setting works from
  64 to 512 pixels. Strokes are added until a random target area is reached: about 1-5 %
  of the image for ``thin``, 5-20 % for ``medium`` and 15-40 % for ``thick``.
* ``box``: one to three random rectangles covering 5-40 %.
* ``object``: the silhouette of a real object (a ground-truth segmentation mask or the
  alpha of a photo cut-out) scaled to cover 3-40 %, rotated a little, maybe mirrored,
  moved and dilated by a few pixels, so the model learns the holes that object removal
  actually makes.

Masks are ``H, W`` bool arrays, True = hole. Every random choice comes from the
``numpy.random.Generator`` the caller passes, so a seeded generator gives the same mask.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from moebius_video.errors import InvalidArgumentError, InvalidMaskError
from moebius_video.io.masks import load_mask
from moebius_video.io.reader import VIDEO_EXTENSIONS, list_image_files
from tracking.data import FRAMES_DIR, MASK_DIRS, clip_mask_dir

logger = logging.getLogger(__name__)

MASK_KINDS: tuple[str, ...] = ("thin", "medium", "thick", "box", "object")
"""Every mask kind that :class:`MaskGenerator` can draw."""

KIND_AREA: dict[str, tuple[float, float]] = {
    "thin": (0.01, 0.05),
    "medium": (0.05, 0.20),
    "thick": (0.15, 0.40),
    "box": (0.05, 0.40),
    "object": (0.03, 0.40),
}
"""The hole area of each kind, as a fraction ``(low, high)`` of the image area."""

#: Brush widths of the stroke kinds, as fractions of the image side (``sqrt(H * W)``).
_STROKE_WIDTH: dict[str, tuple[float, float]] = {
    "thin": (0.008, 0.03),
    "medium": (0.03, 0.07),
    "thick": (0.07, 0.15),
}
#: Length of one polyline segment, as a fraction of the image side.
_SEGMENT_LENGTH = (0.05, 0.25)
#: Segments per stroke before a new stroke starts elsewhere.
_SEGMENTS_PER_STROKE = (2, 9)
#: Rotation range of object masks, in degrees either way.
_OBJECT_MAX_ROTATION = 15.0
_ATTEMPTS = 30

#: Folder name holding RGBA photo cut-outs.
_OBJECT_FOLDER = "objects"


@dataclass(frozen=True)
class MaskConfig:
    """Which masks to draw and how large they may be.

    Attributes:
        kinds: Mask kinds to draw, a subset of :data:`MASK_KINDS`.
        weights: Relative frequency of each kind (same length as ``kinds``); ``None`` draws
            the kinds equally often.
        min_area: Smallest hole area, as a fraction of the image; narrows each kind's own
            range (:data:`KIND_AREA`).
        max_area: Largest hole area, as a fraction of the image.

    Raises:
        InvalidArgumentError: An unknown or repeated kind, weights that do not match the
            kinds or are negative or all zero, or area bounds outside ``0 < min < max < 1``.
    """

    kinds: tuple[str, ...] = MASK_KINDS
    weights: tuple[float, ...] | None = None
    min_area: float = 0.01
    max_area: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", tuple(self.kinds))
        if not self.kinds:
            raise InvalidArgumentError("MaskConfig.kinds must name at least one mask kind")
        for kind in self.kinds:
            if kind not in MASK_KINDS:
                raise InvalidArgumentError(
                    f"unknown mask kind {kind!r}; choose from {', '.join(MASK_KINDS)}"
                )
        if len(set(self.kinds)) != len(self.kinds):
            raise InvalidArgumentError(f"MaskConfig.kinds repeats a kind: {self.kinds}")
        if self.weights is not None:
            weights = tuple(float(w) for w in self.weights)
            object.__setattr__(self, "weights", weights)
            if len(weights) != len(self.kinds):
                raise InvalidArgumentError(
                    f"MaskConfig.weights has {len(weights)} values for {len(self.kinds)} kinds"
                )
            if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
                raise InvalidArgumentError(
                    f"MaskConfig.weights must be >= 0 with a positive sum, got {weights}"
                )
        if not 0.0 < self.min_area < self.max_area < 1.0:
            raise InvalidArgumentError(
                "MaskConfig area bounds must satisfy 0 < min_area < max_area < 1, got "
                f"min_area={self.min_area}, max_area={self.max_area}"
            )
        for kind in self.kinds:
            low, high = KIND_AREA[kind]
            if max(low, self.min_area) >= min(high, self.max_area):
                raise InvalidArgumentError(
                    f"mask kind {kind!r} covers {low:.0%}-{high:.0%} of the image, outside "
                    f"min_area={self.min_area} .. max_area={self.max_area}"
                )

    def area_range(self, kind: str) -> tuple[float, float]:
        """The hole area of ``kind`` allowed by this config, as fractions of the image.

        Args:
            kind: One of :data:`MASK_KINDS`.

        Returns:
            ``(low, high)``: the kind's own range narrowed by ``min_area``/``max_area``.
        """
        low, high = KIND_AREA[kind]
        return max(low, self.min_area), min(high, self.max_area)


class MaskGenerator:
    """Draws random hole masks of the configured kinds.

    Args:
        config: Kinds, their weights and the area bounds.
        object_masks: Object silhouettes for the ``object`` kind (``H, W`` bool arrays of any
            size, e.g. from :func:`load_object_masks`). Without any, ``object`` is dropped
            from the kinds with a warning.

    Raises:
        InvalidArgumentError: ``object`` is the only kind and no object mask was given, or an
            object mask is not a non-empty 2-D array.
    """

    def __init__(self, config: MaskConfig, object_masks: Sequence[np.ndarray] = ()) -> None:
        self.config = config
        masks = []
        for index, mask in enumerate(object_masks):
            array = np.asarray(mask)
            if array.ndim != 2 or not array.any():
                raise InvalidArgumentError(
                    f"object_masks[{index}] must be a non-empty H, W array, got shape "
                    f"{array.shape}" + ("" if array.ndim != 2 else " with no True pixel")
                )
            masks.append(np.ascontiguousarray(array.astype(bool)))
        self.object_masks: tuple[np.ndarray, ...] = tuple(masks)
        kinds = list(config.kinds)
        weights = list(config.weights) if config.weights is not None else [1.0] * len(kinds)
        if "object" in kinds and not self.object_masks:
            if kinds == ["object"]:
                raise InvalidArgumentError(
                    "mask kind 'object' needs object masks (see load_object_masks); none given"
                )
            position = kinds.index("object")
            del kinds[position], weights[position]
            logger.warning("no object masks given: mask kind 'object' is not drawn")
        if sum(weights) <= 0:
            raise InvalidArgumentError(
                f"the mask kinds left ({', '.join(kinds)}) all have weight 0"
            )
        self.kinds: tuple[str, ...] = tuple(kinds)
        total = sum(weights)
        self._probabilities = np.array([w / total for w in weights], dtype=np.float64)

    def __call__(
        self, height: int, width: int, rng: np.random.Generator, kind: str | None = None
    ) -> np.ndarray:
        """Draw one mask.

        Args:
            height: Mask height in pixels (>= 8).
            width: Mask width in pixels (>= 8).
            rng: Source of every random choice; the same state gives the same mask.
            kind: Force this kind (one of :attr:`kinds`); ``None`` picks one by weight.

        Returns:
            ``height, width`` bool array, True = hole; never empty and never all True.

        Raises:
            InvalidArgumentError: Too small a size, or a kind this generator does not draw.
        """
        if height < 8 or width < 8:
            raise InvalidArgumentError(f"mask size must be at least 8x8, got {width}x{height}")
        if kind is None:
            kind = self.kinds[int(rng.choice(len(self.kinds), p=self._probabilities))]
        elif kind not in self.kinds:
            raise InvalidArgumentError(
                f"mask kind {kind!r} is not drawn by this generator (kinds: "
                f"{', '.join(self.kinds)})"
            )
        low, high = self.config.area_range(kind)
        if kind in _STROKE_WIDTH:
            mask = _strokes(height, width, rng, _STROKE_WIDTH[kind], low, high)
        elif kind == "box":
            mask = _boxes(height, width, rng, low, high)
        else:
            mask = _object(height, width, rng, self.object_masks, low, high)
        return _never_empty_or_full(mask)


def _area(mask: np.ndarray) -> float:
    return float(np.count_nonzero(mask)) / mask.size


def _never_empty_or_full(mask: np.ndarray) -> np.ndarray:
    """Last guard: an empty mask gets a small central square, a full one loses its border."""
    mask = mask.astype(bool, copy=False)
    height, width = mask.shape
    if not mask.any():
        side_y, side_x = max(1, height // 8), max(1, width // 8)
        top, left = (height - side_y) // 2, (width - side_x) // 2
        mask[top : top + side_y, left : left + side_x] = True
    elif mask.all():
        mask[0, :] = mask[-1, :] = mask[:, 0] = mask[:, -1] = False
    return mask


def _strokes(
    height: int,
    width: int,
    rng: np.random.Generator,
    width_range: tuple[float, float],
    low: float,
    high: float,
) -> np.ndarray:
    """Free-form brush strokes added segment by segment until a random area is covered."""
    side = math.sqrt(height * width)
    best = np.zeros((height, width), dtype=np.uint8)
    for _ in range(_ATTEMPTS):
        target = rng.uniform(low, high)
        canvas = np.zeros((height, width), dtype=np.uint8)
        area = 0.0
        left = 0  # segments left in the current stroke
        x = y = angle = 0.0
        thickness = 1
        for _segment in range(400):
            if left == 0:
                x, y = rng.uniform(0, width - 1), rng.uniform(0, height - 1)
                angle = rng.uniform(0, 2 * math.pi)
                thickness = max(1, round(rng.uniform(*width_range) * side))
                left = int(rng.integers(*_SEGMENTS_PER_STROKE))
            else:
                angle += rng.normal(0.0, 0.9)
            length = rng.uniform(*_SEGMENT_LENGTH) * side
            nx = min(max(x + length * math.cos(angle), 0.0), width - 1.0)
            ny = min(max(y + length * math.sin(angle), 0.0), height - 1.0)
            trial = canvas.copy()
            cv2.line(trial, (round(x), round(y)), (round(nx), round(ny)), 1, thickness)
            trial_area = _area(trial)
            left -= 1
            if trial_area > high:
                if area >= low:
                    break
                left = 0  # too much paint at once: start a fresh stroke instead
                continue
            canvas, area = trial, trial_area
            if nx in (0.0, width - 1.0) or ny in (0.0, height - 1.0):
                # At the border: head back towards the middle.
                angle = math.atan2(height / 2 - ny, width / 2 - nx) + rng.normal(0.0, 0.5)
            x, y = nx, ny
            if area >= target:
                break
        if low <= area <= high:
            return canvas.astype(bool)
        if abs(_area(canvas) - target) < abs(_area(best) - target):
            best = canvas
    return best.astype(bool)


def _boxes(
    height: int, width: int, rng: np.random.Generator, low: float, high: float
) -> np.ndarray:
    """One to three rectangles whose union covers a random area in ``[low, high]``."""
    total = height * width
    target = rng.uniform(low, high)
    for _ in range(_ATTEMPTS):
        canvas = np.zeros((height, width), dtype=bool)
        count = int(rng.integers(1, 4))
        for _box in range(count):
            share = target / count * total
            aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
            box_w = min(width - 1, max(1, round(math.sqrt(share * aspect))))
            box_h = min(height - 1, max(1, round(share / box_w)))
            x0 = int(rng.integers(0, width - box_w + 1))
            y0 = int(rng.integers(0, height - box_h + 1))
            canvas[y0 : y0 + box_h, x0 : x0 + box_w] = True
        if low <= _area(canvas) <= high:
            return canvas
        target = rng.uniform(low, high)
    # Fallback: one centred-ish box of exactly the target area.
    box_w = min(width - 1, max(1, round(math.sqrt(target * total))))
    box_h = min(height - 1, max(1, round(target * total / box_w)))
    canvas = np.zeros((height, width), dtype=bool)
    y0, x0 = (height - box_h) // 2, (width - box_w) // 2
    canvas[y0 : y0 + box_h, x0 : x0 + box_w] = True
    return canvas


def _object(
    height: int,
    width: int,
    rng: np.random.Generator,
    objects: Sequence[np.ndarray],
    low: float,
    high: float,
) -> np.ndarray:
    """A real object silhouette scaled, rotated, mirrored, moved and dilated."""
    side = math.sqrt(height * width)
    best = np.zeros((height, width), dtype=bool)
    for _ in range(_ATTEMPTS):
        shape = objects[int(rng.integers(len(objects)))]
        target = rng.uniform(low, high)
        pixels = float(np.count_nonzero(shape))
        scale = math.sqrt(target * height * width / pixels)
        theta = math.radians(rng.uniform(-_OBJECT_MAX_ROTATION, _OBJECT_MAX_ROTATION))
        flip = -1.0 if rng.random() < 0.5 else 1.0
        src_h, src_w = shape.shape
        linear = scale * np.array(
            [[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]]
        ) @ np.diag([flip, 1.0])
        # Half extents of the transformed bounding box, to keep most of the object inside.
        half_w = 0.5 * (abs(linear[0, 0]) * src_w + abs(linear[0, 1]) * src_h)
        half_h = 0.5 * (abs(linear[1, 0]) * src_w + abs(linear[1, 1]) * src_h)
        cx = rng.uniform(min(half_w, width / 2), max(width - half_w, width / 2))
        cy = rng.uniform(min(half_h, height / 2), max(height - half_h, height / 2))
        offset = np.array([cx, cy]) - linear @ np.array([src_w / 2, src_h / 2])
        matrix = np.hstack([linear, offset[:, None]]).astype(np.float64)
        warped = cv2.warpAffine(
            shape.astype(np.uint8) * 255, matrix, (width, height), flags=cv2.INTER_LINEAR
        )
        mask = warped > 127
        radius = int(rng.integers(1, max(2, round(side / 80)) + 1))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        mask = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
        area = _area(mask)
        if low <= area <= high:
            return mask
        if abs(area - target) < abs(_area(best) - target):
            best = mask
    return best


def _crop_to_content(mask: np.ndarray, margin: float = 0.05) -> np.ndarray | None:
    """Crop a mask to its bounding box plus a small margin; ``None`` when it is empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    pad = max(2, round(margin * max(bottom - top, right - left)))
    top, left = max(0, top - pad), max(0, left - pad)
    bottom, right = min(mask.shape[0], bottom + pad), min(mask.shape[1], right + pad)
    return np.ascontiguousarray(mask[top:bottom, left:right])


def _shrink(mask: np.ndarray, size: int | None) -> np.ndarray:
    """Downscale a mask so that its longer side is at most ``size`` pixels."""
    if size is None or max(mask.shape) <= size:
        return mask
    factor = size / max(mask.shape)
    new_w = max(1, round(mask.shape[1] * factor))
    new_h = max(1, round(mask.shape[0] * factor))
    resized = cv2.resize(mask.astype(np.uint8) * 255, (new_w, new_h), interpolation=cv2.INTER_AREA)
    return resized > 127


def _evenly(items: Sequence[Path], count: int | None) -> list[Path]:
    """At most ``count`` items spread evenly over the sequence (all when ``None``)."""
    if count is None or len(items) <= count:
        return list(items)
    picks = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in sorted(set(picks.tolist()))]


def object_mask_files(
    roots: Sequence[str | Path], *, per_folder: int | None = 10
) -> list[tuple[Path, Path]]:
    """Find the files that hold object masks, with the folder that owns each.

    Found recursively under each root: per-frame ground-truth masks of clips (a folder
    named ``masks_binary``, else ``masks``, beside the clip's ``frames`` folder or video
    file; L mode 0/255 or palette by index) and RGBA cut-outs in folders named
    ``objects``. A free-standing ``masks`` folder (e.g. hole masks beside a folder of
    photos) is not an object-mask folder.

    Args:
        roots: Folders to search.
        per_folder: At most this many masks per clip, spread over the clip (neighbouring
            frames have nearly the same mask); ``None`` keeps all. Cut-outs are all kept.

    Returns:
        ``(file, owner)`` pairs in a stable order; ``owner`` is the clip folder (the parent
        of its mask folder) or, for a cut-out, the file itself.

    Raises:
        InvalidArgumentError: A root does not exist.
    """
    found: list[tuple[Path, Path]] = []
    for root in (Path(r) for r in roots):
        if not root.exists():
            raise InvalidArgumentError(f"object mask root does not exist: {root}")
        folders = [root, *sorted(p for p in root.rglob("*") if p.is_dir())]
        for folder in folders:
            if folder.name == _OBJECT_FOLDER:
                for file in list_image_files(folder):
                    if file.suffix.lower() == ".png":
                        found.append((file, file))
                continue
            if not _is_clip_folder(folder):
                continue
            for name in MASK_DIRS:
                masks = folder / name
                if masks.is_dir():
                    files = [f for f in list_image_files(masks) if f.suffix.lower() == ".png"]
                    found.extend((file, folder) for file in _evenly(files, per_folder))
                    break
    return found


def _is_clip_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a clip: a ``frames`` folder or a video file beside masks."""
    if clip_mask_dir(folder) is None:
        return False
    if (folder / FRAMES_DIR).is_dir():
        return True
    return any(
        p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file() for p in folder.iterdir()
    )


def read_object_mask(path: Path, *, size: int | None = None) -> np.ndarray | None:
    """Read one object mask file, cropped to its content.

    Args:
        path: A PNG: L/palette mask (non-zero = object) or RGBA cut-out (alpha > 127).
        size: Downscale so that the longer side is at most this many pixels.

    Returns:
        The cropped ``h, w`` bool mask, or ``None`` when it is empty or unreadable.
    """
    try:
        mask = load_mask(path, threshold=127)
    except InvalidMaskError as error:
        logger.warning("object mask skipped: %s", error)
        return None
    cropped = _crop_to_content(mask)
    if cropped is None:
        return None
    cropped = _shrink(cropped, size)
    return cropped if cropped.any() else None


def load_object_masks(
    roots: Sequence[str | Path],
    limit: int | None = None,
    size: int | None = None,
    *,
    per_folder: int | None = 10,
) -> list[np.ndarray]:
    """Load object silhouettes for the ``object`` mask kind.

    See :func:`object_mask_files` for the layouts that are searched. Each mask is cropped
    to its bounding box (with a margin of about 5 %); empty masks are skipped.

    Args:
        roots: Folders to search recursively.
        limit: At most this many masks, spread over everything found; ``None`` = all.
        size: Downscale each mask so that its longer side is at most ``size`` pixels
            (saves memory; ``None`` keeps them as they are).
        per_folder: At most this many masks per clip (see :func:`object_mask_files`).

    Returns:
        ``h, w`` bool arrays, possibly none.

    Raises:
        InvalidArgumentError: A root does not exist, or ``limit``/``size`` is not positive.
    """
    if limit is not None and limit < 1:
        raise InvalidArgumentError(f"limit must be >= 1 or None, got {limit}")
    if size is not None and size < 8:
        raise InvalidArgumentError(f"size must be >= 8 or None, got {size}")
    files = [file for file, _owner in object_mask_files(roots, per_folder=per_folder)]
    masks = []
    for file in _evenly(files, limit):
        mask = read_object_mask(file, size=size)
        if mask is not None:
            masks.append(mask)
    return masks


__all__ = [
    "KIND_AREA",
    "MASK_KINDS",
    "MaskConfig",
    "MaskGenerator",
    "load_object_masks",
    "object_mask_files",
    "read_object_mask",
]
