"""One editing session: a video, its keyframes, the tracked masks and the removal result.

Everything here is plain library code (no HTTP): the web app calls it from request threads,
the jobs run in worker threads, and one lock per session keeps them consistent.

Tracking is split in *segments*: the frames before the first keyframe (tracked backward from
it), the frames between two consecutive keyframes (tracked from both and fused) and the
frames after the last (tracked forward). A segment's masks depend only on the keyframes at
its two ends, so a correction on frame ``k`` makes only the two segments next to ``k``
stale: re-tracking redoes those frames and nothing else. Each segment is tracked by
:func:`tracking.iter_track_frames` (the CLI's code and keyframe fusion, with the tracker's
per-frame confidence) on the window of frames
from one end keyframe to the other, so the result is the one the CLI computes for the whole
video with the same keyframes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

import tracking
from moebius_video.errors import (
    InvalidArgumentError,
    InvalidMaskError,
    MoebiusError,
    OutputError,
    VideoDecodeError,
    VideoOpenError,
)
from moebius_video.io.random_access import RandomAccessVideo, open_random_access
from moebius_video.web.jobs import Job, JobBusyError, JobStatus

logger = logging.getLogger(__name__)

#: A frame whose confidence is below this is doubtful (drawn red on the timeline).
DOUBTFUL = tracking.DOUBTFUL_BELOW
#: JPEG previews kept per session (they are small: tens of kB each).
_PREVIEW_CACHE = 96
_KEYFRAME_NAME = re.compile(r"^(\d+)\.png$")
_SESSION_FILE = "session.json"


class UnknownSessionError(MoebiusError, KeyError):
    """No session has that id (it expired, or the server was restarted)."""

    def __str__(self) -> str:  # KeyError quotes its message; this one is a sentence
        return str(self.args[0]) if self.args else ""


def encode_mask_png(mask: np.ndarray) -> bytes:
    """``H, W`` bool -> an 8-bit PNG (0 = keep, 255 = object), fast compression."""
    ok, data = cv2.imencode(".png", mask.astype(np.uint8) * 255, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 image
        raise OutputError("cannot encode a mask as PNG")
    return data.tobytes()


def decode_mask_png(data: bytes, width: int, height: int, *, what: str = "mask") -> np.ndarray:
    """A mask image sent by the page (or read from a keyframe file) -> ``H, W`` bool.

    Any image OpenCV reads; a pixel is object when its alpha is non-zero (for images whose
    alpha varies) or any colour channel is above 127.

    Raises:
        InvalidMaskError: Not an image, or another size than the video's.
    """
    array = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(array, cv2.IMREAD_UNCHANGED) if array.size else None
    if image is None:
        raise InvalidMaskError(f"{what} is not a readable image")
    if image.ndim == 3 and image.shape[2] == 4 and image[..., 3].min() != image[..., 3].max():
        mask = image[..., 3] > 0
    elif image.ndim == 3:
        mask = image[..., :3].max(axis=2) > 127
    else:
        if image.dtype != np.uint8:
            image = (image.astype(np.float64) * (255.0 / max(float(image.max()), 1.0)))
        mask = image > 127
    if mask.shape != (height, width):
        raise InvalidMaskError(
            f"{what} is {mask.shape[1]}x{mask.shape[0]} but the video is {width}x{height}"
        )
    return np.ascontiguousarray(mask)


def snap_to_object(image: np.ndarray, box: tuple[int, int, int, int],
                   *, iterations: int = 5, max_side: int = 480) -> tuple[np.ndarray, bool]:
    """The object inside ``box``, cut out by GrabCut (``cv2.grabCut`` with a rectangle).

    Args:
        image: ``H, W, 3`` uint8 RGB frame.
        box: ``(x, y, w, h)`` in pixels; clipped to the frame.
        iterations: GrabCut iterations.
        max_side: The region is shrunk to this size for speed (the mask is scaled back).

    Returns:
        ``(mask, snapped)``: the ``H, W`` bool mask, and whether GrabCut found an object
        (when it finds nothing usable, the mask is the box itself and ``snapped`` is False).

    Raises:
        InvalidMaskError: The box is empty or outside the frame.
    """
    from tracking.geometry import box_mask

    height, width = image.shape[:2]
    try:
        boxed = box_mask(box, width, height)
    except tracking.TrackingError as error:
        raise InvalidMaskError(str(error)) from None
    ys, xs = np.nonzero(boxed)
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    bw, bh = x1 - x0, y1 - y0
    if bw < 4 or bh < 4:
        return boxed, False
    margin = max(8, int(0.25 * max(bw, bh)))
    cx0, cy0 = max(0, x0 - margin), max(0, y0 - margin)
    cx1, cy1 = min(width, x1 + margin), min(height, y1 + margin)
    crop = np.ascontiguousarray(image[cy0:cy1, cx0:cx1, ::-1])  # BGR for OpenCV
    scale = min(1.0, max_side / max(crop.shape[:2]))
    if scale < 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    rect = (int((x0 - cx0) * scale), int((y0 - cy0) * scale),
            max(2, int(bw * scale)), max(2, int(bh * scale)))
    labels = np.zeros(crop.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(crop, labels, rect, bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT)
    except cv2.error:  # e.g. a uniform region: no colour model can be learned
        return boxed, False
    found = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    if scale < 1.0:
        found = cv2.resize(found.astype(np.uint8), (cx1 - cx0, cy1 - cy0),
                           interpolation=cv2.INTER_NEAREST).astype(bool)
    mask = np.zeros((height, width), bool)
    mask[cy0:cy1, cx0:cx1] = found
    mask &= boxed
    area = int(mask.sum())
    # GrabCut that keeps almost nothing, or almost all of the box, found no object.
    if area < 0.03 * bw * bh or area > 0.97 * bw * bh:
        return boxed, False
    return mask, True


@dataclass(frozen=True)
class Segment:
    """Frames ``first .. last`` (inclusive) tracked from the keyframes ``before``/``after``.

    ``before`` is ``None`` for the frames ahead of the first keyframe, ``after`` for those
    behind the last one. The signature changes whenever either end keyframe changes.
    """

    before: int | None
    after: int | None
    first: int
    last: int
    signature: tuple[int | None, int | None, int, int]

    @property
    def frames(self) -> range:
        """The frames this segment gives masks to."""
        return range(self.first, self.last + 1)


class _Window:
    """Frames ``start .. stop - 1`` of a video, re-indexed from 0; counts the reads."""

    def __init__(self, video: RandomAccessVideo, start: int, stop: int,
                 on_read: Callable[[], None]) -> None:
        self.video, self.start, self.stop, self.on_read = video, start, stop, on_read

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, index: int) -> np.ndarray:
        if not 0 <= index < len(self):
            raise IndexError(index)
        self.on_read()
        return self.video[self.start + index]


@dataclass
class _Result:
    path: Path
    generation: int
    frames: int
    fill: str
    seconds: float
    video: RandomAccessVideo | None = None


@dataclass
class EditSession:
    """The state of one tab's work on one video (see the module docstring).

    Attributes:
        id: Unguessable id (the page keeps it in its URL).
        path: The video (a file or a folder of frames).
        uploaded: Whether ``path`` is an upload in the server's work folder (then it is
            deleted with the session, and "save next to the input" is not offered).
        work_dir: This session's own folder for results and temporary files.
    """

    id: str
    path: Path
    uploaded: bool
    work_dir: Path
    video: RandomAccessVideo
    lock: threading.RLock = field(default_factory=threading.RLock)
    keyframes: dict[int, np.ndarray] = field(default_factory=dict)
    key_versions: dict[int, int] = field(default_factory=dict)
    masks: dict[int, bytes] = field(default_factory=dict)
    mask_signature: dict[int, tuple[int | None, int | None, int, int]] = field(default_factory=dict)
    areas: dict[int, int] = field(default_factory=dict)
    confidence: dict[int, float] = field(default_factory=dict)
    job: Job | None = None
    result: _Result | None = None
    generation: int = 0
    last_seen: float = field(default_factory=time.monotonic)
    gone_since: float | None = None
    _version: int = 0
    _previews: OrderedDict[tuple[str, int, int], bytes] = field(default_factory=OrderedDict)
    _video_lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ description

    @property
    def num_frames(self) -> int:
        """Frames of the video (by random access)."""
        return len(self.video)

    @property
    def width(self) -> int:
        """Frame width."""
        return int(self.video.info.width)

    @property
    def height(self) -> int:
        """Frame height."""
        return int(self.video.info.height)

    def describe(self) -> dict[str, object]:
        """The video's facts for the page."""
        info = self.video.info
        rate = getattr(info, "frame_rate", None)
        return {
            "id": self.id,
            "name": self.path.name if not self.uploaded else self.path.name.split("-", 1)[-1],
            "path": None if self.uploaded else str(self.path),
            "uploaded": self.uploaded,
            "frames": self.num_frames,
            "width": self.width,
            "height": self.height,
            "fps": float(rate) if rate else 25.0,
        }

    def touch(self) -> None:
        """The page is alive (heartbeat)."""
        self.last_seen = time.monotonic()
        self.gone_since = None

    def check_frame(self, index: int) -> int:
        """``index`` if the video has that frame.

        Raises:
            InvalidArgumentError: No such frame (the message gives the valid range).
        """
        if not 0 <= index < self.num_frames:
            raise InvalidArgumentError(
                f"frame {index} does not exist: the video has frames 0 to {self.num_frames - 1}"
            )
        return index

    # ------------------------------------------------------------------ pictures

    def _cached(self, key: tuple[str, int, int], make: Callable[[], bytes]) -> bytes:
        with self.lock:
            data = self._previews.get(key)
            if data is not None:
                self._previews.move_to_end(key)
                return data
        data = make()
        with self.lock:
            self._previews[key] = data
            while len(self._previews) > _PREVIEW_CACHE:
                self._previews.popitem(last=False)
        return data

    def frame_image(self, index: int) -> np.ndarray:
        """Frame ``index`` (``H, W, 3`` uint8 RGB), decoded by random access."""
        self.check_frame(index)
        with self._video_lock:
            return self.video[index]

    def frame_jpeg(self, index: int, max_width: int = 0, *, result: bool = False) -> bytes:
        """Frame ``index`` (of the input, or of the removal result) as a JPEG preview.

        Raises:
            InvalidArgumentError: No such frame, or no result yet.
        """
        self.check_frame(index)
        if result:
            with self.lock:
                res = self.result
                if res is None:
                    raise InvalidArgumentError("no removal result yet: run the removal first")
                gen = res.generation

        def make() -> bytes:
            if result:
                image = self._result_image(index)
            else:
                image = self.frame_image(index)
            if max_width and image.shape[1] > max_width:
                scale = max_width / image.shape[1]
                image = cv2.resize(image, (max_width, max(1, round(image.shape[0] * scale))),
                                   interpolation=cv2.INTER_AREA)
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                    [cv2.IMWRITE_JPEG_QUALITY, 88])
            assert ok
            return data.tobytes()

        kind = f"result{gen}" if result else "frame"
        return self._cached((kind, index, max_width), make)

    def _result_image(self, index: int) -> np.ndarray:
        with self.lock:
            res = self.result
            if res is None:
                raise InvalidArgumentError("no removal result yet: run the removal first")
            if res.video is None:
                res.video = open_random_access(res.path)
            video = res.video
        if not 0 <= index < len(video):
            raise InvalidArgumentError(f"the result has no frame {index}")
        with self._video_lock:
            return video[index]

    # ------------------------------------------------------------------ keyframes

    def mask_png(self, index: int) -> tuple[bytes, str] | None:
        """The mask shown on frame ``index`` and its kind (``key``, ``tracked``, ``stale``)."""
        self.check_frame(index)
        with self.lock:
            if index in self.keyframes:
                return encode_mask_png(self.keyframes[index]), "key"
            data = self.masks.get(index)
            if data is None:
                return None
            fresh = self._fresh_signatures().get(index) == self.mask_signature.get(index)
            return data, "tracked" if fresh else "stale"

    def set_keyframe(self, index: int, mask: np.ndarray) -> None:
        """Make ``mask`` the truth on frame ``index`` (a correction, or a first mark).

        Raises:
            InvalidArgumentError: No such frame.
            InvalidMaskError: Wrong size, empty, or covering the whole frame.
        """
        self.check_frame(index)
        if mask.shape != (self.height, self.width):
            raise InvalidMaskError(
                f"the mark is {mask.shape[1]}x{mask.shape[0]} but the video is "
                f"{self.width}x{self.height}"
            )
        if not mask.any():
            raise InvalidMaskError(
                f"the mark on frame {index} is empty: draw over the object, or delete the keyframe"
            )
        if mask.all():
            raise InvalidMaskError(
                f"the mark on frame {index} covers the whole frame: nothing would be left to fill it from"
            )
        with self.lock:
            self._version += 1
            self.keyframes[index] = np.ascontiguousarray(mask, dtype=bool)
            self.key_versions[index] = self._version
            self.areas[index] = int(mask.sum())
            self.generation += 1

    def delete_keyframe(self, index: int) -> bool:
        """Forget the keyframe on ``index``; whether there was one."""
        self.check_frame(index)
        with self.lock:
            if index not in self.keyframes:
                return False
            del self.keyframes[index]
            del self.key_versions[index]
            self.areas.pop(index, None)
            self.generation += 1
            return True

    # ------------------------------------------------------------------ tracking plan

    def segments(self) -> list[Segment]:
        """The tracking segments for the current keyframes (see the module docstring)."""
        with self.lock:
            keys = sorted(self.keyframes)
            versions = dict(self.key_versions)
        n = self.num_frames
        out: list[Segment] = []
        if not keys:
            return out
        ends: list[tuple[int | None, int | None]] = [(None, keys[0])]
        ends += list(zip(keys[:-1], keys[1:]))
        ends.append((keys[-1], None))
        for before, after in ends:
            first = 0 if before is None else before + 1
            last = n - 1 if after is None else after - 1
            if first > last:
                continue
            signature = (before, after, versions.get(before, 0) if before is not None else 0,
                         versions.get(after, 0) if after is not None else 0)
            out.append(Segment(before, after, first, last, signature))
        return out

    def _fresh_signatures(self) -> dict[int, tuple[int | None, int | None, int, int]]:
        """Frame -> the signature its mask must carry to be up to date."""
        out = {}
        for seg in self.segments():
            for t in seg.frames:
                out[t] = seg.signature
        return out

    def stale_segments(self) -> list[Segment]:
        """Segments with at least one frame whose mask is missing or out of date."""
        with self.lock:
            return [
                seg for seg in self.segments()
                if any(self.mask_signature.get(t) != seg.signature for t in seg.frames)
            ]

    def timeline(self) -> dict[str, object]:
        """Per-frame state for the page: ``k`` keyframe, ``t`` tracked, ``s`` stale (an old
        mask, its keyframes changed since), ``-`` nothing; the tracker's confidence (``None``
        where there is no up-to-date mask); doubtful ranges with suggested keyframes."""
        with self.lock:
            wanted = self._fresh_signatures()
            n = self.num_frames
            states, fresh, areas = [], [], []
            confidence: list[float | None] = []
            for t in range(n):
                if t in self.keyframes:
                    states.append("k")
                    fresh.append(True)
                    confidence.append(1.0)
                elif t in self.masks:
                    ok = self.mask_signature.get(t) == wanted.get(t)
                    states.append("t" if ok else "s")
                    fresh.append(ok)
                    confidence.append(round(self.confidence.get(t, 0.0), 3) if ok else None)
                else:
                    states.append("-")
                    fresh.append(False)
                    confidence.append(None)
                areas.append(self.areas.get(t, 0))
            keyframes = sorted(self.keyframes)
            result = self.result
            result_info = None
            if result is not None:
                result_info = {"frames": result.frames, "fill": result.fill,
                               "seconds": round(result.seconds, 2),
                               "stale": result.generation != self.generation}
        # Frames without an up-to-date mask are not doubtful: they are not tracked yet.
        ranges = tracking.doubtful_ranges([1.0 if c is None else c for c in confidence])
        return {
            "states": "".join(states),
            "confidence": confidence,
            "doubtful": [r.to_dict() for r in ranges],
            "keyframes": keyframes,
            "areas": areas,
            "ready": bool(keyframes) and all(fresh),
            "result": result_info,
        }

    # ------------------------------------------------------------------ jobs

    def job_status(self) -> JobStatus | None:
        """The current (or last) job's status."""
        with self.lock:
            return self.job.status() if self.job is not None else None

    def _claim(self, kind: str) -> None:
        if self.job is not None and self.job.running:
            raise JobBusyError(
                f"a {self.job.kind} job is already running in this session; wait or cancel it"
            )

    def track_work(self, tracker: str | None) -> Callable[[Job], str]:
        """The work of a tracking job: every stale segment, in order.

        Raises:
            InvalidMaskError: No keyframe yet.
        """
        with self.lock:
            if not self.keyframes:
                raise InvalidMaskError(
                    "mark the object first: draw a box or paint it on a frame"
                )
            plan = self.stale_segments()
            keys = {k: v.copy() for k, v in self.keyframes.items()}
        tracker_name = tracker or tracking.DEFAULT_TRACKER
        try:
            tracking.get_tracker(tracker_name)
        except tracking.TrackingError as error:
            raise InvalidArgumentError(str(error)) from None

        def work(job: Job) -> str:
            total = sum(len(s.frames) for s in plan)
            job.progress(0, total)
            if not plan:
                return "every frame is already tracked"
            reads = [0]
            # The job decodes with its own reader: the page's previews keep theirs.
            with open_random_access(self.path) as video:
                if len(video) != self.num_frames:
                    raise VideoOpenError(f"{self.path} changed on disk while it was being edited")
                done_before = 0
                for seg in plan:
                    lo = seg.before if seg.before is not None else seg.first
                    hi = seg.after if seg.after is not None else seg.last
                    window_keys = {}
                    if seg.before is not None:
                        window_keys[0] = keys[seg.before]
                    if seg.after is not None:
                        window_keys[hi - lo] = keys[seg.after]
                    passes = 2 if len(window_keys) == 2 else 1
                    expected = passes * (hi - lo + 1)
                    reads[0] = 0
                    size = len(seg.frames)

                    def on_read(base: int = done_before, size: int = size,
                                expected: int = expected) -> None:
                        reads[0] += 1
                        job.progress(base + min(size - 1, size * reads[0] // expected), total)

                    window = _Window(video, lo, hi + 1, on_read)
                    masks = tracking.iter_track_frames(window, window_keys, tracker=tracker_name)
                    try:
                        for offset, tracked in enumerate(masks):
                            t, mask = lo + offset, tracked.mask
                            if t in (seg.before, seg.after):
                                continue
                            data = encode_mask_png(mask)
                            with self.lock:
                                current = {s.first: s for s in self.segments()}.get(seg.first)
                                if current is None or current.signature != seg.signature:
                                    break  # the keyframes changed meanwhile: this is stale
                                self.masks[t] = data
                                self.mask_signature[t] = seg.signature
                                self.areas[t] = int(mask.sum())
                                self.confidence[t] = float(tracked.confidence)
                                self.generation += 1
                    except tracking.TrackingError as error:
                        raise InvalidMaskError(str(error)) from None
                    finally:
                        masks.close()
                    done_before += size
                    job.progress(done_before, total)
            return f"tracked {total} frames"

        return work

    def remove_work(self, fill: str, dilate: int, removal_lock: threading.Lock) -> Callable[[Job], str]:
        """The work of a removal job, with the masks as they are now.

        Raises:
            InvalidMaskError: Some frames are not tracked (or stale).
        """
        from moebius_video.engine.remove import EncodeConfig, MaskInput, RemoveConfig
        from moebius_video.fill import get_filler

        config = RemoveConfig(dilate=dilate, fill=fill)  # checks dilate
        get_filler(fill)  # checks the name now, not in the thread
        with self.lock:
            info = self.timeline()
            if not info["ready"]:
                states = str(info["states"])
                missing = [t for t, s in enumerate(states) if s in "-s"]
                if not self.keyframes:
                    raise InvalidMaskError("mark the object first, then track it")
                raise InvalidMaskError(
                    f"{len(missing)} frames have no up-to-date mask (first: frame {missing[0]}): "
                    "track first"
                )
            masks = {
                t: encode_mask_png(self.keyframes[t]) if t in self.keyframes else self.masks[t]
                for t in range(self.num_frames)
            }
            generation = self.generation
        if not removal_lock.acquire(blocking=False):
            raise JobBusyError(
                "another removal is running on this server; wait for it to finish or cancel it"
            )

        def work(job: Job) -> str:
            from moebius_video.engine.remove import remove_object

            try:
                started = time.monotonic()
                folder = Path(os.fspath(self.work_dir)) / f"masks-{job.id}"
                folder.mkdir(parents=True)
                try:
                    for t in range(self.num_frames):
                        (folder / f"{t:05d}.png").write_bytes(masks[t])
                        job.check()
                    out = self.work_dir / f"{_stem(self)}.removed-{job.id}.mp4"
                    job.progress(0, self.num_frames)
                    result = remove_object(
                        self.path, out, MaskInput(masks_dir=folder), config=config,
                        encode=EncodeConfig(overwrite=True), progress=False,
                        callback=lambda done, total: job.progress(done, total or self.num_frames),
                    )
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
                if result.frames < self.num_frames:
                    # The file failed part way (damaged, or changed since it was opened):
                    # a shorter video is not what the user reviewed.
                    out.unlink(missing_ok=True)
                    why = "; ".join(result.warnings[:2]) or "the decoder stopped early"
                    raise VideoDecodeError(
                        f"{self.path.name} could be decoded only up to frame {result.frames} "
                        f"of {self.num_frames} ({why}); no result was written"
                    )
                with self.lock:
                    old = self.result
                    self.result = _Result(out, generation, result.frames, fill,
                                          time.monotonic() - started)
                    self._previews = OrderedDict(
                        (k, v) for k, v in self._previews.items() if not k[0].startswith("result")
                    )
                if old is not None:
                    _drop_result(old)
                summary = f"removed the object from {result.frames} frames"
                if result.warnings:
                    summary += " (" + "; ".join(result.warnings[:3]) + ")"
                return summary
            finally:
                removal_lock.release()

        return work

    def start_job(self, kind: str, work: Callable[[Job], str], job_id: int,
                  on_end: Callable[[Job], None] | None = None) -> Job:
        """Start ``work`` as this session's job.

        Raises:
            JobBusyError: A job is running in this session.
        """
        with self.lock:
            self._claim(kind)
            self.job = Job(job_id, kind, work, on_end=on_end)
            return self.job.start()

    def cancel_job(self, reason: str = "cancelled") -> bool:
        """Cancel the running job, if any; whether one was running."""
        with self.lock:
            job = self.job
        if job is not None and job.running:
            job.cancel(reason)
            return True
        return False

    # ------------------------------------------------------------------ files

    def result_file(self) -> Path:
        """The removal result (in the session's work folder).

        Raises:
            InvalidArgumentError: No result yet.
        """
        with self.lock:
            if self.result is None:
                raise InvalidArgumentError("no removal result yet: run the removal first")
            return self.result.path

    def save_result_next_to_input(self) -> Path:
        """Copy the result next to the input as ``NAME.removed.mp4`` (``-2``, ``-3``... when
        taken); never replaces an existing file, never the input.

        Raises:
            InvalidArgumentError: The video was uploaded (there is no "next to it").
            OutputError: The folder is not writable.
        """
        if self.uploaded:
            raise InvalidArgumentError("this video was uploaded: download the result instead")
        source = self.result_file()
        return _copy_new(source, self.path.parent, f"{_stem(self)}.removed", ".mp4")

    def default_keyframes_folder(self) -> Path | None:
        """``NAME.keyframes`` next to the input (``None`` for uploads)."""
        if self.uploaded:
            return None
        return self.path.parent / f"{_stem(self)}.keyframes"

    def save_keyframes(self, folder: Path) -> Path:
        """Write the keyframes as ``00014.png`` masks (0/255) plus ``session.json``.

        The folder is what ``moebius-video remove --keyframes DIR`` reads. It is written
        under a temporary name and renamed into place; an existing folder is replaced only
        when it holds nothing but keyframe files (it was written by this editor).

        Raises:
            InvalidMaskError: No keyframe.
            OutputError: The folder exists with other files in it, or cannot be written.
        """
        from moebius_video.engine.remove import MaskFolderWriter

        with self.lock:
            keys = {k: v.copy() for k, v in self.keyframes.items()}
        if not keys:
            raise InvalidMaskError("there is no keyframe to save yet")
        folder = Path(folder)
        if folder.resolve() == self.path.resolve() or self.path.resolve().is_relative_to(
            folder.resolve()
        ):
            raise OutputError(f"{folder} is (or holds) the input video; choose another folder")
        if folder.exists():
            if not folder.is_dir():
                raise OutputError(f"{folder} exists and is not a folder")
            foreign = [p.name for p in folder.iterdir()
                       if not (_KEYFRAME_NAME.match(p.name) or p.name == _SESSION_FILE)]
            if foreign:
                raise OutputError(
                    f"{folder} holds other files ({', '.join(sorted(foreign)[:3])}): "
                    "choose an empty or new folder"
                )
        writer = MaskFolderWriter(folder, overwrite=True)
        try:
            for index, mask in sorted(keys.items()):
                writer.write(f"{index:05d}", mask)
            meta = {"video": None if self.uploaded else str(self.path),
                    "frames": self.num_frames, "width": self.width, "height": self.height,
                    "keyframes": sorted(keys)}
            (writer._tmp / _SESSION_FILE).write_text(json.dumps(meta, indent=1) + "\n")
            writer.close()
        except BaseException:
            writer.abort()
            raise
        return folder

    def load_keyframes(self, folder: Path) -> list[int]:
        """Replace the keyframes by the masks of ``folder`` (named by frame index).

        All or nothing: every file is checked before any keyframe changes.

        Raises:
            InvalidMaskError: Missing folder, a name that is not a frame index, a frame the
                video does not have, a mask of another size, an empty or full mask.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise InvalidMaskError(f"keyframe folder not found: {folder}")
        loaded: dict[int, np.ndarray] = {}
        for path in sorted(folder.iterdir()):
            if path.name == _SESSION_FILE or path.name.startswith("."):
                continue
            stem = path.stem
            if not stem.isdigit() or path.suffix.lower() not in (".png", ".bmp", ".tif", ".tiff"):
                raise InvalidMaskError(
                    f"{path.name} in {folder}: keyframes are PNGs named by frame index (00014.png)"
                )
            index = int(stem)
            if not 0 <= index < self.num_frames:
                raise InvalidMaskError(
                    f"keyframe {path.name} is for frame {index}, but the video has frames "
                    f"0 to {self.num_frames - 1}"
                )
            mask = decode_mask_png(path.read_bytes(), self.width, self.height,
                                   what=f"keyframe {path.name}")
            if not mask.any() or mask.all():
                raise InvalidMaskError(f"keyframe {path.name} is {'empty' if not mask.any() else 'all white'}")
            loaded[index] = mask
        if not loaded:
            raise InvalidMaskError(f"{folder} holds no keyframe PNG")
        with self.lock:
            for index in list(self.keyframes):
                self.delete_keyframe(index)
            for index, mask in loaded.items():
                self.set_keyframe(index, mask)
        return sorted(loaded)

    def close(self) -> None:
        """Cancel the job, release decoders, delete the session's work folder."""
        job = self.job
        if job is not None and job.running:
            job.cancel("the session was closed")
            job.join(30.0)
        with self.lock:
            res, self.result = self.result, None
            self.video.close()
        if res is not None:
            _drop_result(res)
        shutil.rmtree(self.work_dir, ignore_errors=True)


def _stem(session: EditSession) -> str:
    name = session.path.name
    if session.uploaded:
        name = name.split("-", 1)[-1]
    return Path(name).stem if session.path.is_file() else name


def _drop_result(res: _Result) -> None:
    if res.video is not None:
        res.video.close()
    res.path.unlink(missing_ok=True)


def _copy_new(source: Path, folder: Path, stem: str, suffix: str) -> Path:
    """Copy ``source`` into ``folder`` as ``stem+suffix`` or ``stem-N+suffix``, whichever is
    free; through a temporary file and a hard link, so nothing is ever replaced and no
    half-written file carries the final name."""
    if not folder.is_dir():
        raise OutputError(f"cannot save into {folder}: not a folder")
    fd, tmp_name = _mkstemp(folder, f".{stem}.partial-", suffix)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        for n in range(1, 1000):
            target = folder / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
            try:
                os.link(tmp, target)
                return target
            except FileExistsError:
                continue
        raise OutputError(f"cannot find a free name for {stem}{suffix} in {folder}")
    except OSError as error:
        if isinstance(error, OutputError):
            raise
        raise OutputError(f"cannot save into {folder}: {error.strerror or error}") from error
    finally:
        tmp.unlink(missing_ok=True)


def _mkstemp(folder: Path, prefix: str, suffix: str) -> tuple[int, str]:
    import tempfile

    try:
        return tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    except OSError as error:
        raise OutputError(f"cannot save into {folder}: {error.strerror or error}") from error


class SessionStore:
    """The server's sessions, its work folder, and the reaper that ends abandoned jobs.

    Args:
        work_dir: Where uploads, results and temporary files go (created; deleted by
            :meth:`close`).
        heartbeat_timeout: A running job whose tab has not been heard from for this many
            seconds is cancelled (a closed tab does not leave a job running).
        session_ttl: A session not heard from for this long is closed and its files deleted.
    """

    def __init__(self, work_dir: Path, *, heartbeat_timeout: float = 20.0,
                 session_ttl: float = 3600.0) -> None:
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.heartbeat_timeout = heartbeat_timeout
        self.session_ttl = session_ttl
        self.removal_lock = threading.Lock()
        self._sessions: dict[str, EditSession] = {}
        self._lock = threading.Lock()
        self._job_ids = iter(range(1, 1 << 62))
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="web-reaper", daemon=True)
        self._reaper.start()

    def next_job_id(self) -> int:
        """A fresh job number."""
        with self._lock:
            return next(self._job_ids)

    def open(self, path: Path, *, uploaded: bool = False) -> EditSession:
        """Open ``path`` in a new session.

        Raises:
            VideoOpenError: Not a video (or folder of frames) that can be decoded.
        """
        path = Path(path)
        if not path.exists():
            raise VideoOpenError(f"{path} does not exist")
        try:
            video = open_random_access(path)
        except MoebiusError as error:
            raise VideoOpenError(f"cannot open {path.name}: {error}") from None
        try:
            if len(video) == 0:
                raise VideoOpenError(f"{path.name} holds no video frame")
            video[0]  # noqa: B018 - a file that opens but does not decode fails now
        except (MoebiusError, IndexError) as error:
            video.close()
            raise VideoOpenError(f"cannot decode {path.name}: {error}") from None
        sid = secrets.token_urlsafe(12)
        session = EditSession(sid, path, uploaded, self.work_dir / f"s-{sid}", video)
        session.work_dir.mkdir(parents=True)
        with self._lock:
            self._sessions[sid] = session
        logger.info("session %s: opened %s (%d frames)", sid, path, len(video))
        return session

    def get(self, sid: str) -> EditSession:
        """The session ``sid`` (and it counts as a sign of life).

        Raises:
            UnknownSessionError: No such session.
        """
        with self._lock:
            session = self._sessions.get(sid)
        if session is None:
            raise UnknownSessionError(
                "this editing session no longer exists (the server was restarted, or it "
                "expired): open the video again"
            )
        session.touch()
        return session

    def peek(self, sid: str) -> EditSession | None:
        """The session without counting as a sign of life."""
        with self._lock:
            return self._sessions.get(sid)

    def close_session(self, sid: str) -> None:
        """Close and forget one session."""
        with self._lock:
            session = self._sessions.pop(sid, None)
        if session is not None:
            session.close()
            if session.uploaded:
                shutil.rmtree(session.path.parent, ignore_errors=True)

    def sessions(self) -> list[EditSession]:
        """All open sessions."""
        with self._lock:
            return list(self._sessions.values())

    def reap(self, now: float | None = None) -> None:
        """Cancel jobs of silent tabs; close sessions silent for longer than the TTL."""
        now = time.monotonic() if now is None else now
        for session in self.sessions():
            silent = now - session.last_seen
            gone = session.gone_since is not None and now - session.gone_since > 5.0
            if silent > self.heartbeat_timeout or gone:
                if session.cancel_job("the page was closed (no heartbeat)"):
                    logger.warning("session %s: page gone; its job was cancelled", session.id)
            if silent > self.session_ttl:
                logger.info("session %s: expired", session.id)
                self.close_session(session.id)

    def _reap_loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.reap()
            except Exception:  # never let the reaper die
                logger.exception("reaper failed")

    def close(self) -> None:
        """Cancel every job, close every session, delete the work folder."""
        self._stop.set()
        for session in self.sessions():
            session.cancel_job("the server is stopping")
        for session in self.sessions():
            self.close_session(session.id)
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def __iter__(self) -> Iterator[EditSession]:
        return iter(self.sessions())


__all__ = [
    "DOUBTFUL",
    "EditSession",
    "Segment",
    "SessionStore",
    "UnknownSessionError",
    "decode_mask_png",
    "encode_mask_png",
    "snap_to_object",
]
