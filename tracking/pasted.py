"""Pasted-object clips: RGBA cut-outs moving over real footage, with an exact ground truth.

A clip is ``n`` consecutive frames of a real video (its camera motion is the footage's own),
centre-cropped to 16:9 and resized (640x360 by default), with an RGBA object pasted on it
along one of :data:`MOTIONS`:

* ``slow``: a slow drift to the right (about 3 px a frame at 640 px) with a small wobble;
* ``fast``: two full crossings, back and forth (about 13 px a frame);
* ``wobble``: a crossing with a strong vertical wobble, a rotation of up to 12 degrees and
  a scale change of up to 12 %;
* ``exit``: out through the right border, fully out for several frames, then back in;
* ``occluded``: a crossing behind a fixed foreground strip (real texture from another
  source), which hides part of the object in the middle frames.

The truth of a frame is the pasted object's alpha >= 128, minus the strip: what a perfect
removal must replace, nothing else.

Sources are the videos of ``DATA/videos`` and the clips of ``DATA/clips`` (frame folders or
a video file). The data is split by source AND object: the ``tune`` split pairs
:data:`TUNE_SOURCES` with the objects of even index (sorted by name), the ``heldout`` split
pairs the other sources with the odd objects. Trackers are tuned on ``tune`` only.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .data import FrameFolder
from .errors import TrackingError

MOTIONS: tuple[str, ...] = ("slow", "fast", "wobble", "exit", "occluded")

#: Sources the trackers were tuned on; every other source is held out.
TUNE_SOURCES: frozenset[str] = frozenset(
    {
        "cup",
        "tree",
        "bmx-trees",
        "car-shadow",
        "dog",
        "drift-chicane",
        "kite-surf",
        "sam2_cups_720p",
        "caps",
        "running_car",
    }
)

SPLITS: tuple[str, ...] = ("tune", "heldout", "all")

#: A draw other than 0 starts each clip at one of this many first frames of its footage.
_DRAW_OFFSETS = 40

#: Leading frames searched for the end of a fade-in.
_DARK_LEAD = 60

_VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


@dataclass(frozen=True)
class Source:
    """A real video to paste on: a video file or a folder of frames.

    Attributes:
        name: the source's name (file stem or clip folder name).
        path: the video file or the ``frames/`` folder.
    """

    name: str
    path: Path

    def read(self, n: int, size: tuple[int, int], offset: int = 0) -> list[np.ndarray]:
        """``n`` consecutive frames, centre-cropped to the aspect of ``size`` and resized.

        A source shorter than ``offset + n`` frames is played back and forth.

        Args:
            n: number of frames.
            size: ``(width, height)`` of the returned frames.
            offset: first frame.

        Returns:
            ``n`` ``H,W,3`` uint8 RGB frames.

        Raises:
            TrackingError: the source cannot be read.
        """
        raw = self._decode(offset + n + _DARK_LEAD)
        if not raw:
            raise TrackingError(f"source {str(self.path)!r} yields no frame")
        # skip a fade-in: start on the first frame that is not (almost) black
        lead = next((i for i, f in enumerate(raw[:_DARK_LEAD]) if f.mean() > 16), 0)
        raw = raw[lead:] if lead < len(raw) else raw
        out = []
        for t in range(offset, offset + n):
            out.append(_fit(raw[_ping_pong(t, len(raw))], size))
        return out

    def _decode(self, limit: int) -> list[np.ndarray]:
        if self.path.is_dir():
            folder = FrameFolder(self.path, limit=limit)
            return [folder[i] for i in range(len(folder))]
        capture = cv2.VideoCapture(str(self.path))
        frames: list[np.ndarray] = []
        try:
            while len(frames) < limit:
                ok, bgr = capture.read()
                if not ok:
                    break
                frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        finally:
            capture.release()
        return frames


def _ping_pong(i: int, n: int) -> int:
    if n == 1:
        return 0
    period = 2 * (n - 1)
    i %= period
    return i if i < n else period - i


def _fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Centre-crop ``image`` to the aspect ratio of ``size`` = ``(w, h)`` and resize it."""
    w, h = size
    ih, iw = image.shape[:2]
    if iw * h > ih * w:  # too wide
        cw = max(1, round(ih * w / h))
        x0 = (iw - cw) // 2
        image = image[:, x0 : x0 + cw]
    else:
        ch = max(1, round(iw * h / w))
        y0 = (ih - ch) // 2
        image = image[y0 : y0 + ch]
    interp = cv2.INTER_AREA if image.shape[1] > w else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(image, (w, h), interpolation=interp))


def list_sources(data_dir: str | Path) -> list[Source]:
    """The videos of ``DATA/videos`` and the clips of ``DATA/clips``, sorted by name.

    Args:
        data_dir: the data folder (holding ``videos/`` and/or ``clips/``).

    Returns:
        The sources.

    Raises:
        TrackingError: ``data_dir`` is not a folder.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise TrackingError(f"data_dir {str(root)!r} is not a folder")
    sources: list[Source] = []
    videos = root / "videos"
    if videos.is_dir():
        for path in sorted(videos.iterdir()):
            if path.suffix.lower() in _VIDEO_SUFFIXES:
                sources.append(Source(path.stem, path))
    clips = root / "clips"
    if clips.is_dir():
        for folder in sorted(p for p in clips.iterdir() if p.is_dir()):
            if folder.name.startswith("_"):
                continue
            if (folder / "frames").is_dir():
                sources.append(Source(folder.name, folder / "frames"))
                continue
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() in _VIDEO_SUFFIXES)
            if files:
                sources.append(Source(folder.name, files[0]))
    return sorted(sources, key=lambda s: s.name)


def list_objects(data_dir: str | Path) -> list[Path]:
    """The RGBA cut-outs of ``DATA/objects``, sorted by name.

    Args:
        data_dir: the data folder.

    Returns:
        The PNG paths (empty when there is no ``objects/`` folder).
    """
    folder = Path(data_dir) / "objects"
    return sorted(folder.glob("*.png")) if folder.is_dir() else []


def load_object(path: str | Path) -> np.ndarray:
    """An RGBA cut-out, cropped to its alpha's bounding box.

    Args:
        path: a PNG with an alpha channel.

    Returns:
        ``h,w,4`` uint8 RGBA.

    Raises:
        TrackingError: unreadable, no alpha channel, or fully transparent.
    """
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise TrackingError(f"cannot read object {str(path)!r}")
    if image.ndim != 3 or image.shape[2] != 4:
        raise TrackingError(f"object {str(path)!r} has no alpha channel")
    if image.dtype != np.uint8:
        image = (image / 257).astype(np.uint8)
    rgba = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    ys, xs = np.nonzero(rgba[..., 3] >= 128)
    if ys.size == 0:
        raise TrackingError(f"object {str(path)!r} is fully transparent")
    return np.ascontiguousarray(rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])


@dataclass(frozen=True)
class Placement:
    """Where the object is on one frame.

    Attributes:
        cx: centre x (px).
        cy: centre y (px).
        scale: size factor on top of the base size.
        angle: rotation (degrees, counter-clockwise).
    """

    cx: float
    cy: float
    scale: float = 1.0
    angle: float = 0.0


def placements(motion: str, n: int, size: tuple[int, int], obj_w: float) -> list[Placement]:
    """The object's placement on each of ``n`` frames for one motion.

    Args:
        motion: one of :data:`MOTIONS`, or ``"issue"`` (the crossing of issue 13: left to
            right over the whole clip with a gentle vertical wobble).
        n: number of frames.
        size: ``(width, height)`` of the frames.
        obj_w: the object's base width (px), to place it fully out of the frame.

    Returns:
        ``n`` placements.

    Raises:
        TrackingError: unknown motion.
    """
    w, h = size
    out = []
    for t in range(n):
        u = t / max(n - 1, 1)
        if motion == "slow":
            p = Placement(w * (0.35 + 0.3 * u), h * (0.55 + 0.02 * math.sin(2 * math.pi * u)))
        elif motion == "fast":
            tri = 1 - abs(1 - 2 * u)  # 0 -> 1 -> 0: two crossings
            p = Placement(w * (0.2 + 0.6 * tri), h * (0.55 + 0.03 * math.sin(4 * math.pi * u)))
        elif motion == "wobble":
            p = Placement(
                w * (0.3 + 0.4 * u),
                h * (0.5 + 0.12 * math.sin(4 * math.pi * u)),
                1.0 + 0.12 * math.sin(6 * math.pi * u),
                12.0 * math.sin(6 * math.pi * u + 1.0),
            )
        elif motion == "exit":
            out_x = w + 0.7 * obj_w
            if u < 0.4:
                cx = w * 0.5 + (out_x - w * 0.5) * (u / 0.4)
            elif u < 0.55:
                cx = out_x
            else:
                cx = out_x + (w * 0.55 - out_x) * ((u - 0.55) / 0.45)
            p = Placement(cx, h * (0.55 + 0.03 * math.sin(2 * math.pi * u)))
        elif motion == "occluded":
            p = Placement(w * (0.15 + 0.7 * u), h * (0.55 + 0.03 * math.sin(2 * math.pi * u)))
        elif motion == "issue":
            p = Placement(w * (0.15 + 0.7 * u), h * (0.5 + 0.05 * math.sin(2 * math.pi * u)))
        else:
            raise TrackingError(f"motion must be one of {MOTIONS}, got {motion!r}")
        out.append(p)
    return out


def paste(
    frame: np.ndarray, rgba: np.ndarray, place: Placement, base_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Composite an RGBA object over ``frame`` at ``place``.

    Args:
        frame: ``H,W,3`` uint8 RGB.
        rgba: ``h,w,4`` uint8 RGBA object.
        place: its placement.
        base_scale: object pixels to frame pixels before ``place.scale``.

    Returns:
        ``(composited frame, truth mask)``, the mask = warped alpha >= 128.
    """
    h, w = frame.shape[:2]
    oh, ow = rgba.shape[:2]
    matrix = cv2.getRotationMatrix2D((ow / 2, oh / 2), place.angle, base_scale * place.scale)
    matrix[0, 2] += place.cx - ow / 2
    matrix[1, 2] += place.cy - oh / 2
    warped = cv2.warpAffine(
        rgba, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    alpha = warped[..., 3:4].astype(np.float32) / 255.0
    out = alpha * warped[..., :3].astype(np.float32) + (1 - alpha) * frame.astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), warped[..., 3] >= 128


@dataclass(frozen=True)
class PastedClip:
    """One generated clip.

    Attributes:
        name: ``source/object/motion``.
        source: source name.
        object: object file stem.
        motion: the motion.
        split: ``"tune"`` or ``"heldout"``.
        frames: ``H,W,3`` uint8 RGB frames.
        masks: ``H,W`` bool truth masks (may be empty while the object is out).
    """

    name: str
    source: str
    object: str
    motion: str
    split: str
    frames: list[np.ndarray]
    masks: list[np.ndarray]


def make_clip(
    source: Source,
    object_path: str | Path,
    motion: str,
    *,
    n: int = 60,
    size: tuple[int, int] = (640, 360),
    height_fraction: float = 1 / 3,
    strip_from: Source | None = None,
    split: str = "",
    offset: int = 0,
) -> PastedClip:
    """Paste one object along one motion over one source.

    Args:
        source: the footage.
        object_path: the RGBA cut-out.
        motion: one of :data:`MOTIONS` (or ``"issue"``).
        n: frames.
        size: ``(width, height)``.
        height_fraction: the object's height as a fraction of the frame's (its width is
            capped at 35 % of the frame's).
        strip_from: where the occluding strip's texture comes from (``occluded`` only;
            default: the source's own last frame, mirrored).
        split: the split's name, stored in the clip.
        offset: first frame of the source.

    Returns:
        The :class:`PastedClip`.
    """
    rgba = load_object(object_path)
    w, h = size
    oh, ow = rgba.shape[:2]
    base = min(height_fraction * h / oh, 0.35 * w / ow)
    frames = source.read(n, size, offset)
    places = placements(motion, n, size, ow * base)
    strip = None
    if motion == "occluded":
        donor = (strip_from or source).read(1, size)[0]
        if strip_from is None:
            donor = donor[:, ::-1]
        x0, x1 = int(0.45 * w), int(0.53 * w)
        strip = (x0, x1, np.ascontiguousarray(donor[:, x0:x1]))
    out_frames, masks = [], []
    for frame, place in zip(frames, places, strict=True):
        image, mask = paste(frame, rgba, place, base)
        if strip is not None:
            x0, x1, texture = strip
            image[:, x0:x1] = texture
            mask[:, x0:x1] = False
        out_frames.append(image)
        masks.append(mask)
    stem = Path(object_path).stem
    return PastedClip(
        f"{source.name}/{stem}/{motion}", source.name, stem, motion, split, out_frames, masks
    )


def issue_clip(data_dir: str | Path, n: int = 120) -> PastedClip:
    """The reproduction of issue 13: the dog crossing ``videos/box.mp4`` (640x360 crop).

    Args:
        data_dir: the data folder.
        n: frames.

    Returns:
        The clip (``split`` ``"issue"``).

    Raises:
        TrackingError: ``box.mp4`` or the dog cut-out is missing.
    """
    root = Path(data_dir)
    video = root / "videos" / "box.mp4"
    dog = root / "objects" / "animals_mammals_dogs_dog.png"
    for path in (video, dog):
        if not path.exists():
            raise TrackingError(f"{str(path)!r} is missing")
    return make_clip(Source("box", video), dog, "issue", n=n, split="issue")


def _source_split(name: str) -> str:
    return "tune" if name in TUNE_SOURCES else "heldout"


def _draw_seed(source_name: str, motion: str, draw: int) -> int:
    key = f"{source_name}/{motion}" + (f"/{draw}" if draw else "")
    return zlib.crc32(key.encode())


def draw_offset(source_name: str, motion: str, draw: int) -> int:
    """The first frame of its footage that draw ``draw``'s clip of ``motion`` over the source
    ``source_name`` starts at (0 for draw 0, the reference set); see :func:`iter_clips`."""
    return (_draw_seed(source_name, motion, draw) >> 8) % _DRAW_OFFSETS if draw else 0


def iter_clips(
    data_dir: str | Path,
    split: str = "heldout",
    motions: tuple[str, ...] = MOTIONS,
    *,
    n: int = 60,
    size: tuple[int, int] = (640, 360),
    max_sources: int | None = None,
    draw: int = 0,
) -> Iterator[PastedClip]:
    """Generate the clips of one split, one at a time (one object per source and motion).

    Which object goes with which source and motion is fixed for a given ``draw``: draw 0 is
    the split's reference set (the one the README's figures are from); any other draw pairs
    the same split's sources and objects differently and starts each clip at another frame
    of its footage, for as many more clips as wanted that nothing was tuned on.

    Args:
        data_dir: the data folder (``videos/``, ``clips/``, ``objects/``).
        split: ``"tune"``, ``"heldout"`` or ``"all"``.
        motions: the motions to generate.
        n: frames per clip.
        size: ``(width, height)``.
        max_sources: only the first sources of the split.
        draw: which pairing of objects, sources and start frames (0: the reference set).

    Yields:
        :class:`PastedClip` s.

    Raises:
        TrackingError: unknown split or motion, no source or no object.
    """
    if split not in SPLITS:
        raise TrackingError(f"split must be one of {SPLITS}, got {split!r}")
    if draw < 0:
        raise TrackingError(f"draw must be >= 0, got {draw}")
    for motion in motions:
        if motion not in MOTIONS:
            raise TrackingError(f"motion must be one of {MOTIONS}, got {motion!r}")
    sources = list_sources(data_dir)
    objects = list_objects(data_dir)
    if not sources:
        raise TrackingError(f"data_dir {str(data_dir)!r} has no videos/ or clips/ source")
    if not objects:
        raise TrackingError(f"data_dir {str(data_dir)!r} has no objects/*.png cut-out")
    by_split = {
        "tune": [o for i, o in enumerate(objects) if i % 2 == 0],
        "heldout": [o for i, o in enumerate(objects) if i % 2 == 1] or objects,
    }
    chosen = [s for s in sources if split == "all" or _source_split(s.name) == split]
    chosen = chosen[:max_sources] if max_sources is not None else chosen
    for k, source in enumerate(chosen):
        which = _source_split(source.name)
        pool = by_split[which]
        donor = sources[(sources.index(source) + 1) % len(sources)]
        for j, motion in enumerate(motions):
            seed = _draw_seed(source.name, motion, draw)
            obj = pool[(seed + 7 * j + k) % len(pool)]
            offset = draw_offset(source.name, motion, draw)
            yield make_clip(
                source, obj, motion, n=n, size=size, strip_from=donor, split=which, offset=offset
            )


__all__ = [
    "MOTIONS",
    "PastedClip",
    "Placement",
    "SPLITS",
    "Source",
    "TUNE_SOURCES",
    "draw_offset",
    "issue_clip",
    "iter_clips",
    "list_objects",
    "list_sources",
    "load_object",
    "make_clip",
    "paste",
    "placements",
]
