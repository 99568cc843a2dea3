"""Reading, checking and shaping the masks that say what to remove.

White / non-zero means *remove*. Every mask is turned into an ``H, W`` bool array
explicitly, whatever its file format: a grey level is thresholded, an alpha channel is
used when it carries the shape, and a palette image is read by palette *index* (index 0 is
background, any other index is an object), never by the grey level of its colours. Lossy
sources (JPEG files, mask videos) are thresholded at mid-grey so compression noise does not
turn into mask pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from moebius_video.errors import InvalidArgumentError, InvalidMaskError
from moebius_video.io.reader import list_image_files, open_source

logger = logging.getLogger(__name__)

LOSSY_SUFFIXES = (".jpg", ".jpeg", ".webp")
#: Threshold for lossy sources (JPEG, mask videos): a pixel > 127 is part of the mask.
LOSSY_THRESHOLD = 127
#: Default dilation radius in pixels. A missed object pixel leaves a visible ghost while an
#: extra background pixel costs almost nothing, so the mask is grown a little by default.
DEFAULT_DILATE = 4


def binarize(values: np.ndarray, threshold: int = 0) -> np.ndarray:
    """``values > threshold`` as a C-contiguous bool array (``values``: ``H, W``)."""
    return np.ascontiguousarray(values > threshold)


def mask_from_pil(image: Image.Image, *, threshold: int = 0) -> np.ndarray:
    """Turn a PIL image of any mode into an ``H, W`` bool mask (True = remove).

    Args:
        image: The mask picture. Modes: ``1``, ``L``, ``LA``, ``P`` (palette, by index),
            ``RGB``, ``RGBA`` (alpha when it is not constant, else the colours), 16-bit ``I``.
        threshold: A value strictly above it is part of the mask (0 = any non-zero value).

    Returns:
        ``H, W`` bool array.
    """
    mode = image.mode
    if mode == "1":
        return np.array(image, dtype=bool)
    if mode == "P":
        # A palette index is a label, not a grey level: index 0 is background. A palette
        # image with transparency is still read by index.
        return binarize(np.array(image), 0)
    if mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        values = np.array(image).astype(np.float64)
        scale = 255.0 / 65535.0 if values.max(initial=0) > 255 else 1.0
        return binarize(values * scale, threshold)
    if mode in ("LA", "RGBA", "PA"):
        alpha = np.array(image.getchannel("A"))
        if alpha.min() != alpha.max():
            return binarize(alpha, threshold)
        image = image.convert("L" if mode == "LA" else "RGB")
        mode = image.mode
    if mode == "L":
        return binarize(np.array(image), threshold)
    rgb = np.array(image.convert("RGB"))
    # Any channel above the threshold counts: a red stroke on black is a mask too.
    return binarize(rgb.max(axis=2), threshold)


def load_mask(path: str | Path, *, threshold: int | None = None) -> np.ndarray:
    """Read a mask image file.

    Args:
        path: PNG (any mode), JPEG, BMP, TIFF or WebP file.
        threshold: Override of the binarisation threshold; by default 0 for lossless files
            (any non-zero pixel is removed) and 127 for lossy ones.

    Returns:
        ``H, W`` bool mask, True = remove.

    Raises:
        InvalidMaskError: The file is missing or is not a readable image.
    """
    path = Path(path)
    if not path.exists():
        raise InvalidMaskError(f"mask file not found: {path}")
    if path.is_dir():
        raise InvalidMaskError(f"mask {path} is a folder; use --masks for per-frame masks")
    if threshold is None:
        threshold = LOSSY_THRESHOLD if path.suffix.lower() in LOSSY_SUFFIXES else 0
    try:
        with Image.open(path) as image:
            image.load()
            return mask_from_pil(image, threshold=threshold)
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise InvalidMaskError(f"cannot read mask {path}: not an image ({error})") from None


def parse_box(text: str) -> tuple[int, int, int, int]:
    """Parse ``"x,y,w,h"`` (pixels, top-left corner and size).

    Raises:
        InvalidArgumentError: Not four integers, or a non-positive width or height.
    """
    parts = [p.strip() for p in str(text).replace(" ", ",").split(",") if p.strip()]
    try:
        x, y, w, h = (int(round(float(p))) for p in parts)
    except ValueError:
        raise InvalidArgumentError(f"--box must be x,y,w,h in pixels, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise InvalidArgumentError(f"--box width and height must be positive, got {text!r}")
    return x, y, w, h


def fit_mask(
    mask: np.ndarray, width: int, height: int, *, resize: bool = False, what: str = "mask"
) -> np.ndarray:
    """Check a mask against the frame size, or resize it (nearest) when asked to.

    Raises:
        InvalidMaskError: Sizes differ and ``resize`` is False.
    """
    if mask.shape == (height, width):
        return mask
    if not resize:
        raise InvalidMaskError(
            f"{what} is {mask.shape[1]}x{mask.shape[0]} but the video is {width}x{height} "
            "(use --resize-mask to scale it)"
        )
    resized = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
    return resized.astype(bool)


def check_fillable(mask: np.ndarray, *, dilate: int, where: str) -> None:
    """Refuse a (dilated) mask that covers the whole frame: nothing would be left to fill it from.

    Args:
        mask: The mask as it will be filled (after dilation).
        dilate: The dilation radius that was applied (named in the message).
        where: What the mask is (``"frame 12"``, ``"the box"``...).

    Raises:
        InvalidMaskError: Every pixel is masked.
    """
    if mask.size and mask.all():
        grown = f", grown by {dilate} px (dilate)," if dilate else ""
        raise InvalidMaskError(
            f"{where}: the mask{grown} covers the whole frame: nothing would be left to fill "
            "it from" + (" (use a smaller --dilate or a smaller mask)" if dilate else "")
        )


def save_mask(path: str | Path, mask: np.ndarray) -> None:
    """Write ``mask`` as an 8-bit PNG with 0 = keep and 255 = removed.

    The PNG is encoded in memory and written with :func:`~moebius_video.io.paths.write_file`,
    which checks that every byte reached the disk.

    Raises:
        OutputError: The file cannot be written (a full disk says "no space left on
            device"); no partial file is left.
    """
    from moebius_video.errors import OutputError
    from moebius_video.io.paths import write_file

    ok, data = cv2.imencode(".png", np.ascontiguousarray(mask, dtype=np.uint8) * 255)
    if not ok:
        raise OutputError(f"PNG encoding failed for mask {path}")
    write_file(path, data)


class MaskFolder:
    """Per-frame masks from a folder, matched to frames by name or by order.

    A frame named ``00012`` takes ``00012.png`` (any image suffix) when the folder has masks
    named like the frames; otherwise the i-th mask (natural order) goes with the i-th frame.

    Args:
        folder: The folder of mask images.
        threshold: Binarisation threshold override (see :func:`load_mask`).
    """

    def __init__(self, folder: str | Path, *, threshold: int | None = None) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InvalidMaskError(f"mask folder not found: {self.folder}")
        self.files = list_image_files(self.folder)
        if not self.files:
            raise InvalidMaskError(f"mask folder {self.folder} holds no image files")
        self.by_stem = {p.stem: p for p in self.files}
        self.threshold = threshold

    def __len__(self) -> int:
        return len(self.files)

    def path_for(self, index: int, name: str) -> Path:
        """The mask file for frame ``index`` called ``name``.

        Raises:
            InvalidMaskError: No mask for that frame.
        """
        if name and name in self.by_stem:
            return self.by_stem[name]
        if 0 <= index < len(self.files):
            return self.files[index]
        raise InvalidMaskError(
            f"no mask for frame {index} ({name or 'unnamed'}) in {self.folder}: "
            f"it has {len(self.files)} masks"
        )

    def get(self, index: int, name: str = "") -> np.ndarray:
        """The bool mask for frame ``index`` called ``name``."""
        return load_mask(self.path_for(index, name), threshold=self.threshold)


def iter_mask_video(path: str | Path, *, threshold: int = LOSSY_THRESHOLD) -> Iterator[np.ndarray]:
    """Masks from a (lossy) mask video, one per frame: grey level > ``threshold``.

    Raises:
        InvalidMaskError: The mask video cannot be opened.
    """
    from moebius_video.errors import MoebiusError

    try:
        source = open_source(path)
    except MoebiusError as error:
        raise InvalidMaskError(f"cannot read mask video: {error}") from None
    with source:
        for frame in source:
            grey = frame.image.max(axis=2)
            yield binarize(grey, threshold)
