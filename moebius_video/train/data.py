"""Training and evaluation data for the inpainting model: photos and video frames with holes.

Three kinds of source are found under the data roots (:func:`discover_sources`):

* still images (``.jpg``, ``.png``, ``.bmp``, ``.webp``, ``.tif`` ...), found recursively;
* video files (``.mp4``, ``.avi``, ``.mkv``, ``.mov``, ``.webm``): every ``video_stride``-th
  frame, decoded with PyAV through :func:`moebius_video.io.reader.open_source`;
* frame folders (a folder of consecutively numbered images is one clip), sampled with the
  same stride as videos.

Every source belongs to a *group* (one photo, or one clip with all its frames and
resolutions) and the train/eval split is decided per group by a SHA-1 of its name
(:func:`split_sources`), so no clip leaks from training into evaluation and the split is
the same on every machine. :class:`InpaintingDataset` yields random resized crops with a
random hole mask (:mod:`moebius_video.train.masks`); :func:`eval_samples` gives a fixed,
deterministic set of held-out crops with masks of every kind.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import av
import av.error
import cv2
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from moebius_video.errors import InvalidArgumentError, MoebiusError
from moebius_video.io.reader import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    natural_key,
    open_source,
    probe,
    read_image,
)
from moebius_video.train.masks import (
    MASK_KINDS,
    MaskConfig,
    MaskGenerator,
    object_mask_files,
    read_object_mask,
)
from tracking.data import MASK_DIRS, clip_mask_dir

logger = logging.getLogger(__name__)

DEFAULT_EXCLUDE: tuple[str, ...] = (*MASK_DIRS, "golden", "_licenses", "objects")
"""Folder names that never hold training photos (masks, references, RGBA cut-outs)."""

HOLDOUT_FRACTION = 0.15
"""Default fraction of the groups held out for evaluation."""

#: Decoded pictures are cached with their short side at most this many crop sizes.
CACHE_SIDE_FACTOR = 2

Split = Literal["train", "eval"]


@dataclass(frozen=True)
class ImageSource:
    """One training picture: a still image, a frame of a video or of a frame folder.

    Attributes:
        path: The image file, the video file, or the frame folder.
        frame: Frame index in the video (decoding order) or in the folder (natural order of
            its image files); ``None`` for a still image.
        group: Identity used for the train/eval split (``<root name>/<relative path>``);
            every frame of one clip, and every file of one clip folder, shares it.
    """

    path: Path
    frame: int | None
    group: str

    @property
    def kind(self) -> Literal["image", "video", "frames"]:
        """``"image"`` (still), ``"video"`` (frame of a video file) or ``"frames"``."""
        if self.frame is None:
            return "image"
        return "video" if self.path.suffix.lower() in VIDEO_EXTENSIONS else "frames"

    @property
    def label(self) -> str:
        """A short readable name (group, file and frame)."""
        name = self.group.split("/", 1)[-1]
        if self.kind == "image" and not name.endswith(self.path.stem):
            name = f"{name}-{self.path.stem}"
        return name if self.frame is None else f"{name}-f{self.frame:05d}"


# --------------------------------------------------------------------------------------
# Discovery and split
# --------------------------------------------------------------------------------------


def _is_mask_file(path: Path) -> bool:
    """Whether a file is named like a mask (``mask.mp4``, ``mask_logo.png``)."""
    return path.stem.lower().startswith("mask")


def _photo_files(folder: Path) -> list[Path]:
    """The image files of ``folder`` that may be photos, in natural order."""
    files = [
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and not p.name.startswith(".")
        and not _is_mask_file(p)
        and p.is_file()
    ]
    files.sort(key=lambda p: natural_key(p.name))
    return files


_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def _is_frame_sequence(files: Sequence[Path]) -> bool:
    """Whether images are the frames of one clip: one prefix, nearly consecutive numbers."""
    if len(files) < 3:
        return False
    prefixes, numbers = set(), []
    for file in files:
        match = _NUMBERED.match(file.stem)
        if match is None:
            return False
        prefixes.add(match.group(1))
        numbers.append(int(match.group(2)))
    if len(prefixes) != 1 or len(set(numbers)) != len(numbers):
        return False
    return max(numbers) - min(numbers) + 1 <= 2 * len(numbers)


def _group_name(path: Path, root: Path, label: str) -> str:
    """The last two components of ``path`` (``clips/bmx-trees``, ``images/aero``,
    ``videos/box``), or ``label`` for the root itself.

    Not relative to the root: training on ``data/`` and evaluating on ``data/images`` (or a
    copy of the data elsewhere) must agree on which groups are held out.
    """
    if path.resolve() == root.resolve():
        return label
    return "/".join(path.resolve().parts[-2:])


def _clip_owner(folder: Path, root: Path) -> Path | None:
    """The nearest folder from ``folder`` up to ``root`` that holds a clip's mask folder."""
    current = folder
    while True:
        if clip_mask_dir(current) is not None:
            return current
        if current == root or current.parent == current:
            return None
        current = current.parent


def _still_group(file: Path, root: Path, label: str) -> str:
    """Group of a still: its folder and its stem without trailing digits (pairs stay
    together: ``aero1``/``aero3``, ``basketball1``/``basketball2``)."""
    base = re.sub(r"[\d_\-. ]+$", "", file.stem) or file.stem
    return _group_name(file.parent / base, root, label)


def _count_video_frames(path: Path) -> int:
    """Frames of a video, by counting its packets without decoding them.

    Container headers can be wrong (an AVI may announce 444 frames and hold 69 packets), so
    the packets are counted; the stated count, or a full decode, is the fallback.

    Raises:
        VideoOpenError: Not a video (from :func:`probe`).
        VideoDecodeError: No decodable frame.
    """
    info = probe(path)
    packets = 0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            packets = sum(1 for packet in container.demux(stream) if packet.size)
    except (av.error.FFmpegError, OSError):
        pass  # keep the packets counted so far
    if packets:
        return packets
    if info.num_frames:
        return info.num_frames
    with open_source(path) as source:
        return sum(1 for _ in source)


def discover_sources(
    roots: Sequence[str | Path],
    *,
    video_stride: int = 10,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
) -> list[ImageSource]:
    """Find the photos, videos and frame folders under ``roots``.

    Folders named in ``exclude`` (and hidden ones) are not entered, and files named like
    masks (``mask*``) are skipped. A folder of consecutively numbered images is a frame
    folder (one clip); its frames and a video's frames are taken every ``video_stride``.
    The frames of a clip whose folder holds ``masks``/``masks_binary`` (even in several
    files or resolutions) share that folder's group. Videos are probed (first frame
    decoded); unreadable ones are skipped with one warning. Images are not read here.

    Args:
        roots: Folders (or single image/video files) to search recursively.
        video_stride: Take every k-th frame of videos and frame folders (>= 1).
        exclude: Folder names to skip.

    Returns:
        The sources, in a stable order (roots in the given order, then natural path order).

    Raises:
        InvalidArgumentError: No roots, a root that does not exist, a bad ``video_stride``,
            or no image or video at all under the roots.
    """
    if video_stride < 1:
        raise InvalidArgumentError(f"video_stride must be >= 1, got {video_stride}")
    root_paths = [Path(r) for r in roots]
    if not root_paths:
        raise InvalidArgumentError("no data roots given")
    for root in root_paths:
        if not root.exists():
            raise InvalidArgumentError(f"data root does not exist: {root}")
    skipped = set(exclude)
    sources: list[ImageSource] = []
    bad_videos: list[tuple[Path, str]] = []

    def add_video(video: Path, root: Path, label: str) -> None:
        try:
            count = _count_video_frames(video)
        except MoebiusError as error:
            bad_videos.append((video, str(error)))
            return
        owner = _clip_owner(video.parent, root)
        group = _group_name(owner if owner is not None else video.with_suffix(""), root, label)
        sources.extend(ImageSource(video, i, group) for i in range(0, count, video_stride))

    for root in root_paths:
        label = root.resolve().name or "root"
        if root.is_file():
            if root.suffix.lower() in VIDEO_EXTENSIONS:
                add_video(root, root.parent, root.parent.resolve().name or "root")
            elif root.suffix.lower() in IMAGE_EXTENSIONS:
                sources.append(ImageSource(root, None, f"{label}"))
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(
                (d for d in dirnames if d not in skipped and not d.startswith(".")),
                key=natural_key,
            )
            folder = Path(dirpath)
            images = _photo_files(folder)
            if _is_frame_sequence(images):
                owner = _clip_owner(folder, root)
                if owner is None:
                    owner = folder.parent if folder.name == "frames" and folder != root else folder
                group = _group_name(owner, root, label)
                sources.extend(
                    ImageSource(folder, i, group) for i in range(0, len(images), video_stride)
                )
            else:
                sources.extend(
                    ImageSource(file, None, _still_group(file, root, label)) for file in images
                )
            videos = sorted(
                (
                    folder / name
                    for name in filenames
                    if Path(name).suffix.lower() in VIDEO_EXTENSIONS
                    and not name.startswith(".")
                    and not _is_mask_file(Path(name))
                ),
                key=lambda p: natural_key(p.name),
            )
            for video in videos:
                add_video(video, root, label)
    if bad_videos:
        first, why = bad_videos[0]
        logger.warning(
            "%d unreadable video(s) skipped, the first: %s (%s)", len(bad_videos), first, why
        )
    if not sources:
        names = ", ".join(str(r) for r in root_paths)
        raise InvalidArgumentError(
            f"no images or videos found in {names} (looked for "
            f"{', '.join(sorted(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS))})"
        )
    return sources


def _holdout_score(group: str) -> float:
    """A number in ``[0, 1)`` fixed by the group name (SHA-1, the same everywhere)."""
    digest = hashlib.sha1(group.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _check_fraction(fraction: float) -> None:
    if not 0.0 <= fraction < 1.0:
        raise InvalidArgumentError(f"holdout fraction must be in [0, 1), got {fraction}")


def in_split(group: str, split: Split, fraction: float = HOLDOUT_FRACTION) -> bool:
    """Whether a group belongs to ``split``.

    Args:
        group: A group name (:attr:`ImageSource.group`).
        split: ``"train"`` or ``"eval"``.
        fraction: Fraction of the groups held out for ``"eval"``.

    Returns:
        True when the group is in that split.

    Raises:
        InvalidArgumentError: Unknown split or a fraction outside ``[0, 1)``.
    """
    if split not in ("train", "eval"):
        raise InvalidArgumentError(f"split must be 'train' or 'eval', got {split!r}")
    _check_fraction(fraction)
    held_out = _holdout_score(group) < fraction
    return held_out if split == "eval" else not held_out


def split_sources(
    sources: Sequence[ImageSource], split: Split, fraction: float = HOLDOUT_FRACTION
) -> list[ImageSource]:
    """The sources of one split, decided per group by a SHA-1 hash of its name.

    Args:
        sources: Sources from :func:`discover_sources`.
        split: ``"train"`` or ``"eval"``.
        fraction: Fraction of the groups (not of the sources) held out for ``"eval"``.

    Returns:
        The sources whose group is in ``split``, in their original order.

    Raises:
        InvalidArgumentError: Unknown split or a fraction outside ``[0, 1)``.
    """
    return [s for s in sources if in_split(s.group, split, fraction)]


# --------------------------------------------------------------------------------------
# Loading with a bounded cache
# --------------------------------------------------------------------------------------


def _header_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` from an image file's header, or ``None`` when unreadable."""
    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None


def _shrink(image: np.ndarray, short_side: int | None) -> np.ndarray:
    """Downscale (area filter) so that the short side is at most ``short_side``."""
    height, width = image.shape[:2]
    if short_side is None or min(height, width) <= short_side:
        return image
    factor = short_side / min(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


class _ImageStore:
    """Decodes sources on first use and keeps them as uint8 ``H, W, 3`` RGB in memory.

    Each picture is downscaled so that its short side is at most ``short_side`` before it
    is kept. A video is decoded once, keeping only the frames that sources ask for.
    """

    def __init__(self, sources: Sequence[ImageSource], short_side: int | None) -> None:
        self.short_side = short_side
        self._cache: dict[tuple[Path, int | None], np.ndarray | None] = {}
        self._folders: dict[Path, list[Path]] = {}
        self._wanted: dict[Path, set[int]] = {}
        for source in sources:
            if source.kind == "video":
                self._wanted.setdefault(source.path, set()).add(int(source.frame or 0))

    def file_of(self, source: ImageSource) -> Path:
        """The image file of a still or of a frame-folder frame."""
        if source.kind == "image":
            return source.path
        files = self._folders.get(source.path)
        if files is None:
            files = self._folders[source.path] = _photo_files(source.path)
        return files[int(source.frame or 0)]

    def get(self, source: ImageSource) -> np.ndarray | None:
        """The (downscaled) picture, or ``None`` when it cannot be decoded."""
        key = (source.path, source.frame)
        if key not in self._cache:
            if source.kind == "video":
                self._decode_video(source.path)
            else:
                image = read_image(self.file_of(source))
                self._cache[key] = None if image is None else _shrink(image, self.short_side)
        return self._cache[key]

    def _decode_video(self, path: Path) -> None:
        wanted = self._wanted.get(path, set())
        kept: dict[int, np.ndarray] = {}
        try:
            with open_source(path) as frames:
                last = max(wanted, default=0)
                for frame in frames:
                    if frame.index in wanted:
                        kept[frame.index] = _shrink(frame.image, self.short_side)
                    if frame.index >= last:
                        break
        except MoebiusError as error:
            logger.warning("cannot decode video %s: %s", path, error)
        missing = sorted(wanted - kept.keys())
        if missing and kept:
            logger.warning(
                "%s: %d sampled frame(s) not decoded (from %d on); using the nearest ones",
                path,
                len(missing),
                missing[0],
            )
        for index in wanted:
            if index in kept:
                self._cache[(path, index)] = kept[index]
            elif kept:
                nearest = min(kept, key=lambda k: abs(k - index))
                self._cache[(path, index)] = kept[nearest]
            else:
                self._cache[(path, index)] = None


def _measure(
    sources: Sequence[ImageSource], store: _ImageStore
) -> list[tuple[int, int] | None]:
    """The ``(width, height)`` of each source from headers (videos: probed once each)."""
    video_sizes: dict[Path, tuple[int, int] | None] = {}
    sizes: list[tuple[int, int] | None] = []
    for source in sources:
        if source.kind == "video":
            if source.path not in video_sizes:
                try:
                    info = probe(source.path)
                    video_sizes[source.path] = (info.width, info.height)
                except MoebiusError:
                    video_sizes[source.path] = None
            sizes.append(video_sizes[source.path])
        else:
            sizes.append(_header_size(store.file_of(source)))
    return sizes


def _usable(
    sources: Sequence[ImageSource], store: _ImageStore, crop_size: int, where: str
) -> list[ImageSource]:
    """Drop unreadable sources and those smaller than the crop, with one warning each.

    Raises:
        InvalidArgumentError: Nothing readable is left, or every picture is too small.
    """
    sizes = _measure(sources, store)
    unreadable = [s for s, size in zip(sources, sizes) if size is None]
    readable = [(s, size) for s, size in zip(sources, sizes) if size is not None]
    if unreadable:
        first = unreadable[0]
        logger.warning(
            "%d unreadable image(s) skipped, the first: %s",
            len(unreadable),
            store.file_of(first) if first.kind != "video" else first.path,
        )
    if not readable:
        raise InvalidArgumentError(
            f"no readable image in {where}: all {len(sources)} files are unreadable or "
            f"corrupt (the first: {unreadable[0].path})"
        )
    usable = [s for s, (w, h) in readable if min(w, h) >= crop_size]
    small = [(w, h) for _s, (w, h) in readable if min(w, h) < crop_size]
    if small:
        smallest = min(small, key=lambda wh: min(wh))
        logger.warning(
            "%d image(s) smaller than the %dx%d crop skipped, the smallest %dx%d",
            len(small),
            crop_size,
            crop_size,
            *smallest,
        )
    if not usable:
        largest = max((size for _s, size in readable), key=lambda wh: min(wh))
        raise InvalidArgumentError(
            f"every image in {where} is smaller than crop_size={crop_size}: the largest is "
            f"{largest[0]}x{largest[1]}; use a smaller crop_size or larger images"
        )
    return usable


def _object_masks_for_split(
    roots: Sequence[Path],
    split: Split | None,
    fraction: float,
    size: int,
) -> list[np.ndarray]:
    """Object masks under ``roots`` whose clip/cut-out group is in ``split`` (all when
    ``split`` is None, or when the split has none)."""
    chosen: list[Path] = []
    others: list[Path] = []
    for root in roots:
        label = root.resolve().name or "root"
        for file, owner in object_mask_files([root]):
            group = _group_name(owner, root, label)
            if split is None or in_split(group, split, fraction):
                chosen.append(file)
            else:
                others.append(file)
    if not chosen and others:
        logger.info("no object masks in the %s split; using all %d", split, len(others))
        chosen = others
    masks = [read_object_mask(file, size=size) for file in chosen]
    return [m for m in masks if m is not None]


# --------------------------------------------------------------------------------------
# Training dataset
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataConfig:
    """What the training data is and how it is cropped and masked.

    Attributes:
        roots: Folders (or files) searched by :func:`discover_sources`.
        crop_size: Side of the square training crops in pixels (multiple of 8, >= 16).
        min_scale: Smallest crop window, as a fraction of the picture's short side (the
            window is then resized to ``crop_size``, so large photos give downscaled views
            rather than tiny detail patches).
        max_scale: Largest crop window, as a fraction of the short side (<= 1).
        hflip: Mirror half of the crops left-right.
        video_stride: Take every k-th frame of videos and frame folders.
        split: ``"train"``, ``"eval"`` (the held-out groups) or ``"all"``.
        holdout_fraction: Fraction of the groups held out for evaluation.
        mask: The hole masks to draw.
        seed: Base seed; item ``i`` of epoch ``e`` uses ``(seed, e, i)``.
        object_roots: Where to find object masks for the ``object`` kind; ``None`` = the
            roots (clip ``masks`` and ``objects`` cut-outs of the same split).
        exclude: Folder names that :func:`discover_sources` skips.

    Raises:
        InvalidArgumentError: Any value out of range.
    """

    roots: tuple[Path, ...]
    crop_size: int = 128
    min_scale: float = 0.5
    max_scale: float = 1.0
    hflip: bool = True
    video_stride: int = 10
    split: Literal["train", "eval", "all"] = "train"
    holdout_fraction: float = HOLDOUT_FRACTION
    mask: MaskConfig = field(default_factory=MaskConfig)
    seed: int = 0
    object_roots: tuple[Path, ...] | None = None
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE

    def __post_init__(self) -> None:
        if isinstance(self.roots, (str, Path)):
            object.__setattr__(self, "roots", (self.roots,))
        object.__setattr__(self, "roots", tuple(Path(r) for r in self.roots))
        if self.object_roots is not None:
            object.__setattr__(self, "object_roots", tuple(Path(r) for r in self.object_roots))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        if not self.roots:
            raise InvalidArgumentError("DataConfig.roots must name at least one folder")
        if self.crop_size < 16 or self.crop_size % 8:
            raise InvalidArgumentError(
                f"crop_size must be a multiple of 8 and >= 16, got {self.crop_size}"
            )
        if not 0.0 < self.min_scale <= self.max_scale <= 1.0:
            raise InvalidArgumentError(
                "scales must satisfy 0 < min_scale <= max_scale <= 1, got "
                f"min_scale={self.min_scale}, max_scale={self.max_scale}"
            )
        if self.video_stride < 1:
            raise InvalidArgumentError(f"video_stride must be >= 1, got {self.video_stride}")
        if self.split not in ("train", "eval", "all"):
            raise InvalidArgumentError(
                f"split must be 'train', 'eval' or 'all', got {self.split!r}"
            )
        _check_fraction(self.holdout_fraction)


class InpaintingDataset(Dataset):
    """Random crops of photos and video frames, each with a random hole mask.

    A map-style dataset, so a ``DistributedSampler`` can shard it. Item ``i`` is fully
    determined by ``(config.seed, epoch, i)`` (call :meth:`set_epoch` each epoch, as for
    the sampler): the crop window, the flip and the mask all come from that generator.

    Memory: every picture is decoded on first use and cached as uint8, downscaled so that
    its short side is at most ``2 * crop_size`` (about 0.4 MB per picture at 128, 6 MB at
    512); a video is decoded once and only its sampled frames are kept. Each DataLoader
    worker has its own cache.

    Construction discovers the sources (unless given), keeps the configured split, reads
    every image header to drop unreadable pictures and pictures smaller than the crop
    (one warning for each kind of problem), and loads the object masks.

    Args:
        config: The data configuration.
        sources: Use these sources instead of discovering them (the split still applies).
        object_masks: Silhouettes for the ``object`` mask kind instead of those found under
            ``config.object_roots``/``config.roots``.

    Raises:
        InvalidArgumentError: Missing roots, no image or video, an empty split, nothing
            readable, or every picture smaller than ``crop_size`` (see the message).
    """

    def __init__(
        self,
        config: DataConfig,
        *,
        sources: Sequence[ImageSource] | None = None,
        object_masks: Sequence[np.ndarray] | None = None,
    ) -> None:
        self.config = config
        where = ", ".join(str(r) for r in config.roots)
        if sources is None:
            sources = discover_sources(
                config.roots, video_stride=config.video_stride, exclude=config.exclude
            )
        found = len(sources)
        if config.split != "all":
            sources = split_sources(sources, config.split, config.holdout_fraction)
        if not sources:
            raise InvalidArgumentError(
                f"the {config.split} split of {where} is empty ({found} sources, "
                f"holdout_fraction={config.holdout_fraction}); add data or change the fraction"
            )
        store = _ImageStore(sources, CACHE_SIDE_FACTOR * config.crop_size)
        self.sources: tuple[ImageSource, ...] = tuple(
            _usable(sources, store, config.crop_size, where)
        )
        self._store = _ImageStore(self.sources, CACHE_SIDE_FACTOR * config.crop_size)
        if object_masks is None:
            object_masks = []
            if "object" in config.mask.kinds:
                split = None if config.split == "all" else config.split
                object_masks = _object_masks_for_split(
                    config.object_roots or config.roots,
                    split,
                    config.holdout_fraction,
                    size=max(64, CACHE_SIDE_FACTOR * config.crop_size),
                )
        self.masks = MaskGenerator(config.mask, object_masks)
        self.epoch = 0
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.sources)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch, which changes every item's crop, flip and mask.

        Args:
            epoch: The epoch number (>= 0).
        """
        if epoch < 0:
            raise InvalidArgumentError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def picture(self, index: int) -> np.ndarray | None:
        """The cached picture of source ``index`` (``H, W, 3`` uint8 RGB, downscaled), or
        ``None`` when it cannot be decoded."""
        return self._store.get(self.sources[index])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """One training example.

        Args:
            index: Item index in ``[0, len(self))``.

        Returns:
            ``{"image": 3, S, S float32 RGB in [-1, 1], "mask": 1, S, S float32, 1 = hole}``
            with ``S = crop_size``.

        Raises:
            IndexError: ``index`` out of range.
            InvalidArgumentError: No picture of the dataset can be decoded.
        """
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        index %= len(self)
        rng = np.random.default_rng([self.config.seed, self.epoch, index])
        picture = self._load(index)
        crop = _random_crop(
            picture, self.config.crop_size, self.config.min_scale, self.config.max_scale, rng
        )
        if self.config.hflip and rng.random() < 0.5:
            crop = crop[:, ::-1]
        mask = self.masks(self.config.crop_size, self.config.crop_size, rng)
        # In NumPy: tiny torch ops pay thread start-up costs in every DataLoader worker.
        image = crop.transpose(2, 0, 1).astype(np.float32) * (1.0 / 127.5) - 1.0
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image)),
            "mask": torch.from_numpy(mask[None].astype(np.float32)),
        }

    def _load(self, index: int) -> np.ndarray:
        """The picture of ``index`` or, if it does not decode, of the next one that does."""
        for step in range(len(self)):
            candidate = (index + step) % len(self)
            if candidate in self._bad:
                continue
            picture = self.picture(candidate)
            if picture is not None:
                return picture
            self._bad.add(candidate)
            logger.warning("cannot decode %s; using another picture", self.sources[candidate].path)
        raise InvalidArgumentError(
            f"none of the {len(self)} pictures of {', '.join(map(str, self.config.roots))} "
            "can be decoded"
        )


def _random_crop(
    picture: np.ndarray,
    size: int,
    min_scale: float,
    max_scale: float,
    rng: np.random.Generator,
    *,
    upscale: bool = False,
) -> np.ndarray:
    """A random square window of ``scale * short side`` resized to ``size x size``.

    The window is never smaller than ``size`` (no upscaling) unless the picture itself is
    smaller and ``upscale`` is set.
    """
    height, width = picture.shape[:2]
    short = min(height, width)
    scale = rng.uniform(min_scale, max_scale)
    window = min(short, max(size, round(scale * short)))
    if window < size and not upscale:
        raise InvalidArgumentError(f"picture {width}x{height} is smaller than the {size} crop")
    top = int(rng.integers(0, height - window + 1))
    left = int(rng.integers(0, width - window + 1))
    patch = picture[top : top + window, left : left + window]
    if window != size:
        interpolation = cv2.INTER_AREA if window > size else cv2.INTER_CUBIC
        patch = cv2.resize(patch, (size, size), interpolation=interpolation)
    return np.ascontiguousarray(patch)


# --------------------------------------------------------------------------------------
# Evaluation samples
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalSample:
    """One fixed evaluation example.

    Attributes:
        name: Unique, file-name-safe name (``0003_box_clips-dog-f00030``).
        image: ``S, S, 3`` uint8 RGB crop of a held-out picture.
        mask: ``S, S`` bool hole mask, True = hole.
        kind: The mask kind (one of :data:`moebius_video.train.masks.MASK_KINDS`).
    """

    name: str
    image: np.ndarray
    mask: np.ndarray
    kind: str


def eval_samples(
    roots: Sequence[str | Path],
    crop_size: int,
    count: int,
    *,
    seed: int = 0,
    kinds: Sequence[str] = MASK_KINDS,
    holdout_fraction: float = HOLDOUT_FRACTION,
    object_roots: Sequence[str | Path] | None = None,
    video_stride: int = 10,
) -> list[EvalSample]:
    """A deterministic set of held-out crops with masks, for evaluation during training.

    Only sources of the ``"eval"`` split are used. Sample ``i`` takes the next picture of
    a seeded shuffle (cycling when ``count`` exceeds them), a random square window of 60 to
    100 % of its short side resized to ``crop_size`` (pictures smaller than the crop are
    upscaled), and a mask of kind ``kinds[i % len(kinds)]``, so every kind is equally
    represented. Object masks come from the held-out clips/cut-outs when there are any.

    Args:
        roots: Data folders (see :func:`discover_sources`).
        crop_size: Side of the square samples in pixels (>= 16).
        count: Number of samples (>= 1).
        seed: Seed of the shuffle, crops and masks.
        kinds: Mask kinds to cycle through.
        holdout_fraction: Fraction of the groups held out (must match training).
        object_roots: Where to find object masks; ``None`` = the roots.
        video_stride: Frame stride for videos and frame folders.

    Returns:
        ``count`` samples; the same arguments give the same samples on every machine.

    Raises:
        InvalidArgumentError: Bad arguments, no held-out source, no decodable held-out
            picture, or ``object`` requested with no object mask found.
    """
    if count < 1:
        raise InvalidArgumentError(f"count must be >= 1, got {count}")
    if crop_size < 16:
        raise InvalidArgumentError(f"crop_size must be >= 16, got {crop_size}")
    config = MaskConfig(kinds=tuple(kinds))
    all_sources = discover_sources(roots, video_stride=video_stride)
    sources = split_sources(all_sources, "eval", holdout_fraction)
    where = ", ".join(str(r) for r in roots)
    if not sources:
        raise InvalidArgumentError(
            f"no held-out (eval) pictures among the {len(all_sources)} sources in {where} "
            f"with holdout_fraction={holdout_fraction}; add data or raise the fraction"
        )
    sources.sort(key=lambda s: (s.group, str(s.path), -1 if s.frame is None else s.frame))
    object_masks: list[np.ndarray] = []
    if "object" in config.kinds:
        mask_roots = [Path(r) for r in (object_roots if object_roots is not None else roots)]
        object_masks = _object_masks_for_split(
            mask_roots, "eval", holdout_fraction, size=max(64, CACHE_SIDE_FACTOR * crop_size)
        )
        if not object_masks:
            raise InvalidArgumentError(
                f"mask kind 'object' needs object masks but none were found under "
                f"{', '.join(map(str, mask_roots))}; pass object_roots or drop 'object'"
            )
    generator = MaskGenerator(config, object_masks)
    store = _ImageStore(sources, CACHE_SIDE_FACTOR * crop_size)
    order = np.random.default_rng(seed).permutation(len(sources))
    samples: list[EvalSample] = []
    position = 0
    failures = 0
    while len(samples) < count:
        source = sources[int(order[position % len(order)])]
        position += 1
        picture = store.get(source)
        if picture is None:
            failures += 1
            if failures == 1:
                logger.warning("cannot decode held-out picture %s; skipped", source.path)
            if failures >= len(sources) and not samples:
                raise InvalidArgumentError(f"no held-out picture in {where} can be decoded")
            continue
        i = len(samples)
        rng = np.random.default_rng([seed, i])
        image = _random_crop(picture, crop_size, 0.6, 1.0, rng, upscale=True)
        kind = config.kinds[i % len(config.kinds)]
        mask = generator(crop_size, crop_size, rng, kind)
        slug = re.sub(r"[^A-Za-z0-9]+", "-", source.label).strip("-")
        samples.append(EvalSample(f"{i:04d}_{kind}_{slug}", image, mask, kind))
    return samples


def summarize(sources: Sequence[ImageSource]) -> dict[str, int]:
    """Counts of sources per kind and of distinct groups, for logs and reports.

    Args:
        sources: Sources from :func:`discover_sources`.

    Returns:
        ``{"image": n, "video": n, "frames": n, "groups": n, "total": n}``.
    """
    counts = {"image": 0, "video": 0, "frames": 0}
    for source in sources:
        counts[source.kind] += 1
    counts["groups"] = len({s.group for s in sources})
    counts["total"] = len(sources)
    return counts


__all__ = [
    "CACHE_SIDE_FACTOR",
    "DEFAULT_EXCLUDE",
    "HOLDOUT_FRACTION",
    "VIDEO_EXTENSIONS",
    "DataConfig",
    "EvalSample",
    "ImageSource",
    "InpaintingDataset",
    "discover_sources",
    "eval_samples",
    "in_split",
    "split_sources",
    "summarize",
]
