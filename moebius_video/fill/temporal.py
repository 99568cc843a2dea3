"""Temporal fill: the hole is filled with real background seen in other frames.

``--fill temporal`` (causal, usable live) and ``--fill temporal-offline`` (also looks at
``lookahead`` future frames). What no frame showed goes to a spatial filler (Telea by
default; the Moebius model plugs in there).

How it works, per frame ``t``:

1. **Background motion** between ``t-1`` and ``t`` (:mod:`moebius_video.fill.flow`): DIS
   flow on a downscaled grey frame, both directions; the flow inside the (dilated) holes is
   discarded and completed from the surrounding background; a forward-backward check marks
   where it can be trusted; scene cuts are detected on the way.
2. **Background memory** (past): one canvas in the coordinates of the current frame that
   holds, per pixel, the last value seen *outside* the mask, with its age. Each frame it is
   carried along by the background flow (a recursive form of chained-flow propagation:
   memory is one frame's worth whatever the video length, and a pixel is forgotten once
   its flow chain breaks or it is older than ``max_age_moving`` frames). When the camera is
   static (median background motion below ``static_motion`` px) the canvas is not
   resampled at all: it is the classic "last unoccluded value" background model, exact,
   blur-free and kept up to ``max_age`` frames. A scene cut, or motion that cannot be
   estimated (whole frame masked) while the camera was moving, resets it.
3. **Future memory** (offline only): the same canvas built backwards from ``t+N`` to
   ``t+1`` and carried into ``t``; per pixel the source nearest in time wins.
4. **Exposure and seams**: a global exposure drift is tracked frame to frame (median
   difference on pixels seen in consecutive frames) and each remembered pixel is corrected
   by the drift since it was seen; the local colour difference that remains between the
   frame and the source around the hole is carried smoothly into the hole
   (:mod:`moebius_video.fill.blend`).
5. The rest of the hole goes to the spatial filler, with the propagated pixels as context.

Only pixels of the current frame outside its mask ever enter the memory, so filled
content never feeds back (no drift).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from moebius_video.errors import InvalidArgumentError
from moebius_video.fill.base import Filler, FillResult, FutureFrame, check_frame_and_mask
from moebius_video.fill.blend import SEAM_BAND, paste_compensated
from moebius_video.fill.flow import (
    BackgroundFlowConfig,
    FlowEstimator,
    LowResFrame,
    PairFlow,
    flow_shape,
    to_low_res,
)
from moebius_video.fill.opencv import OpenCVFiller
from tracking.geometry import mask_box

logger = logging.getLogger(__name__)

_INVALID_AGE = 255
#: The default spatial filler's largest remainder filled in one full-resolution Telea pass
#: (larger ones: the interior at a reduced scale, a 4-px band along the border at full
#: resolution; :class:`~moebius_video.fill.opencv.OpenCVFiller`). What no frame showed
#: is mostly the trailing side of a moving object, several thousand pixels at 640x360;
#: Telea on it was the fill's costliest step after the flows. 3000 against Telea's own
#: default of 6000, ``eval completion --protocol masks --size 640x360 --max-frames 40``
#: (10 clips, file default): PSNR 32.37 both, hole 20.93 against 20.92 dB, hole SSIM
#: 0.7781 against 0.7788, flicker 1.292 against 1.315; Telea on the bench clip's
#: remainders 8.4 against 12.7 ms a frame (1500: hole SSIM 0.7776, 6.8 ms).
SPATIAL_MAX_PIXELS = 3000
#: Context kept around the hole for the seam compensation (its band and blur radius).
_SEAM_MARGIN = 112
#: Margin (px) around the hole of the window a warp resamples (at least ``SEAM_BAND``: the
#: paste reads the memory within that band of the hole; the rest is context for tracking
#: the exposure).
_ROI_MARGIN = 24


def _count(mask: np.ndarray) -> int:
    return cv2.countNonZero(mask.view(np.uint8))


def _median_int(values: np.ndarray) -> np.ndarray:
    """``np.median(values, axis=0)`` of an ``n, c`` int16 array in [-255, 255], by histogram."""
    n = values.shape[0]
    out = np.empty(values.shape[1], np.float64)
    for c in range(values.shape[1]):
        cum = np.cumsum(np.bincount(values[:, c] + 255, minlength=511))
        lo = np.searchsorted(cum, (n - 1) // 2, side="right")
        hi = np.searchsorted(cum, n // 2, side="right")
        out[c] = (lo + hi) / 2 - 255
    return out


def _blend(
    a: Memory, b: Memory, box: tuple[int, int, int, int], inner: tuple[int, int, int, int]
) -> np.ndarray:
    """Exposure-corrected content of two memories in ``box``, weighted by 1/(age + 1)."""
    y0, y1, x0, x1 = box
    wa = 1.0 / (a.age[y0:y1, x0:x1].astype(np.float32) + 1.0)
    wb = 1.0 / (b.age[y0:y1, x0:x1].astype(np.float32) + 1.0)
    share = wa / (wa + wb)
    return cv2.blendLinear(a.corrected(box, inner), b.corrected(box, inner), share, 1.0 - share)


@dataclass(frozen=True)
class TemporalFillConfig:
    """Settings of :class:`TemporalFiller`.

    Attributes:
        lookahead: Future frames used (0 = causal).
        max_age: Frames after which a remembered pixel is forgotten (at most 250) while
            the camera is static (nothing is resampled, old content stays exact).
        max_age_moving: The same while the camera moves: content carried along many
            flow steps has drifted or changed (waves, smoke), and a nearby spatial fill
            beats it (measured on the DAVIS clips: 8 beats 60 by about 0.5 dB).
        static_motion: Median background motion (full-resolution px) below which
            the camera counts as static and the memory is not resampled.
        seam_compensation: Match the exposure of propagated pixels to the current frame.
        max_mismatch: Propagated pixels whose source disagrees with the frame around the
            hole by more than this (mean absolute difference, carried inside) go to the
            spatial filler instead; ``None`` keeps them all. Off by default: on whole
            DAVIS clips a gate of 12 lost 0.4 dB and raised flicker to Telea's level.
        interpolation: OpenCV interpolation used to carry the memory along the flow.
        blend_both: Offline, where both the past and the future memory hold a pixel, paste
            their mean weighted by 1/(age+1) instead of the nearer one alone (measured on
            the 10 dev clips at 432x240: +0.15 dB with other clips' masks, +0.34 dB with
            pasted objects, and less flicker).
        future_block: Offline, the future memories of this many consecutive frames are
            built in one backward pass over ``lookahead + future_block - 1`` following
            frames (the filler asks for that many), each frame's memory a snapshot of the
            pass: about ``1 + (lookahead - 1) / future_block`` canvas warps a frame instead
            of ``lookahead``. Content more than ``lookahead`` frames ahead is not used, so
            the result does not depend on it (1 = rebuild every frame).
        flow: Background-motion settings.
    """

    lookahead: int = 0
    max_age: int = 60
    max_age_moving: int = 8
    static_motion: float = 0.2
    seam_compensation: bool = True
    max_mismatch: float | None = None
    interpolation: int = cv2.INTER_LINEAR
    blend_both: bool = True
    future_block: int = 8
    flow: BackgroundFlowConfig = field(default_factory=BackgroundFlowConfig)

    def __post_init__(self) -> None:
        if self.lookahead < 0:
            raise InvalidArgumentError(f"lookahead must be >= 0, got {self.lookahead}")
        if not 1 <= self.max_age <= 250:
            raise InvalidArgumentError(f"max_age must be in 1..250, got {self.max_age}")
        if not 1 <= self.max_age_moving <= 250:
            raise InvalidArgumentError(f"max_age_moving must be in 1..250, got {self.max_age_moving}")
        if self.static_motion < 0:
            raise InvalidArgumentError(f"static_motion must be >= 0, got {self.static_motion}")
        if not 1 <= self.future_block <= 64:
            raise InvalidArgumentError(f"future_block must be in 1..64, got {self.future_block}")
        if self.lookahead + self.future_block > 250:
            raise InvalidArgumentError(
                f"lookahead + future_block must be at most 250, got {self.lookahead + self.future_block}"
            )
        if self.flow.flow_size < 16:
            raise InvalidArgumentError(f"flow.flow_size must be >= 16, got {self.flow.flow_size}")


@dataclass
class Memory:
    """Remembered background in the coordinates of one frame.

    Attributes:
        canvas: ``H, W, 4`` uint8: RGB and a validity channel (255 = holds real content).
        age: ``H, W`` uint8, frames between the content's source and this frame.
        static: Whether the last camera motion was below the static threshold.
    """

    canvas: np.ndarray
    age: np.ndarray
    static: bool = True
    exposure: np.ndarray = field(default_factory=lambda: np.zeros((_INVALID_AGE + 1, 3), np.float32))
    #: Where the content is aligned with the frame the memory stands at, ``(y0, y1, x0,
    #: x1)``; ``None`` = everywhere. A warp only resamples the window that will be read
    #: (around the hole); outside it the content is stale until the next :meth:`observe`,
    #: which overwrites all of it (the window holds the whole hole).
    window: tuple[int, int, int, int] | None = None

    @classmethod
    def empty(cls, height: int, width: int) -> Memory:
        """A memory that knows nothing."""
        return cls(
            np.zeros((height, width, 4), np.uint8),
            np.full((height, width), _INVALID_AGE, np.uint8),
        )

    def match_exposure(self, image: np.ndarray, known: np.ndarray, age: int, stride: int = 3) -> None:
        """Track a global exposure change between the remembered content and ``image``.

        The content of the given ``age`` (the most recent) is compared with ``image`` on
        pixels known in both; the median difference is added to the correction of every
        age. ``exposure[a]`` is what a pixel of age ``a`` needs to match the frame.
        """
        if self.window is None:
            sl = (slice(None, None, stride), slice(None, None, stride))
        else:  # only there is the content aligned
            y0, y1, x0, x1 = self.window
            sl = (slice(y0, y1, stride), slice(x0, x1, stride))
        canvas = np.ascontiguousarray(self.canvas[sl])
        sel = known[sl] & (self.age[sl] == age) & (canvas[..., 3] == 255)
        if cv2.countNonZero(sel.view(np.uint8)) < 50:
            return
        # Gather whole RGBA pixels as one uint32 each (much faster than per channel).
        frame = cv2.cvtColor(np.ascontiguousarray(image[sl]), cv2.COLOR_RGB2RGBA)
        seen = frame.view(np.uint32)[..., 0][sel].view(np.uint8).reshape(-1, 4)
        kept = canvas.view(np.uint32)[..., 0][sel].view(np.uint8).reshape(-1, 4)
        diff = seen[:, :3].astype(np.int16) - kept[:, :3]
        d = _median_int(diff).astype(np.float32) - self.exposure[age]
        self.exposure += np.clip(d, -30.0, 30.0)

    def corrected(
        self, box: tuple[int, int, int, int], inner: tuple[int, int, int, int] | None = None
    ) -> np.ndarray:
        """RGB content inside ``box = (y0, y1, x0, x1)`` with the exposure correction.

        ``inner`` (a box within ``box``, same coordinates): only there is the correction
        applied, the rest is returned as remembered (for callers that read no further).
        """
        y0, y1, x0, x1 = box
        out = cv2.cvtColor(self.canvas[y0:y1, x0:x1], cv2.COLOR_RGBA2RGB)  # drops validity
        if not self.exposure.any():
            return out
        cy0, cy1, cx0, cx1 = inner if inner is not None else box
        age = self.age[cy0:cy1, cx0:cx1]
        shift = cv2.LUT(cv2.merge([age, age, age]), self.exposure.reshape(-1, 1, 3))
        part = out[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
        cv2.add(part, shift, dst=part, dtype=cv2.CV_8U)  # rounds and saturates
        return out

    def valid(self, max_age: int) -> np.ndarray:
        """``H, W`` bool, pixels holding real content no older than ``max_age``."""
        return (self.canvas[..., 3] == 255) & (self.age <= max_age)

    def observe(self, image: np.ndarray, known: np.ndarray, age: int) -> None:
        """Store the pixels of ``image`` where ``known`` with the given ``age``."""
        # Written in place: the frame over the whole canvas, then the old content put back
        # where ``known`` is False (a small window, usually), without new buffers.
        unknown = ~known
        box = mask_box(unknown)
        if box is not None:
            y0, y1, x0, x1 = box.yx
            saved, saved_age = self.canvas[y0:y1, x0:x1].copy(), self.age[y0:y1, x0:x1].copy()
        canvas = cv2.cvtColor(image, cv2.COLOR_RGB2RGBA, dst=self.canvas)  # alpha = 255
        if canvas is not self.canvas and not np.shares_memory(canvas, self.canvas):
            self.canvas = canvas
        self.age.fill(age)
        if box is not None:
            keep = unknown[y0:y1, x0:x1].view(np.uint8)
            cv2.copyTo(saved, keep, self.canvas[y0:y1, x0:x1])
            cv2.copyTo(saved_age, keep, self.age[y0:y1, x0:x1])
            if self.window is not None:
                wy0, wy1, wx0, wx1 = self.window
                assert wy0 <= y0 and y1 <= wy1 and wx0 <= x0 and x1 <= wx1, "stale content kept"
        self.window = None
        self.exposure[age] = 0.0

    def forget(self) -> None:
        """Drop everything."""
        self.canvas[..., 3] = 0
        self.age[:] = _INVALID_AGE
        self.exposure[:] = 0.0
        self.static = True
        self.window = None


class TemporalFiller(Filler):
    """Flow-guided temporal propagation with a background memory; spatial fallback.

    Args:
        config: Settings; defaults to :class:`TemporalFillConfig` (real-time settings).
        lookahead: Overrides ``config.lookahead`` when given.
        flow_size: Overrides ``config.flow.flow_size`` when given (larger = more accurate
            flow, slower).
        spatial: Filler for what no frame showed, or its ``--fill`` name (default:
            Telea with :data:`SPATIAL_MAX_PIXELS`; ``"pushpull"`` is 15x cheaper, for
            live use).

    Raises:
        InvalidArgumentError: A setting is out of range.
    """

    name = "temporal"
    borrows = True

    def __init__(
        self,
        config: TemporalFillConfig | None = None,
        *,
        lookahead: int | None = None,
        flow_size: int | None = None,
        spatial: Filler | None = None,
    ) -> None:
        config = config or TemporalFillConfig()
        if lookahead is not None:
            config = dataclasses.replace(config, lookahead=int(lookahead))
        if flow_size is not None:
            config = dataclasses.replace(config, flow=dataclasses.replace(config.flow, flow_size=int(flow_size)))
        self.config = config
        #: Following frames :meth:`fill` asks for (the engine hands that many): the window
        #: plus what one backward pass shares between ``future_block`` frames.
        self.lookahead = config.lookahead + config.future_block - 1 if config.lookahead else 0
        self.spatial = (
            spatial if spatial is not None else OpenCVFiller("telea", max_pixels=SPATIAL_MAX_PIXELS)
        )
        self.reset()

    # -- state ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget all frames (new video or scene cut)."""
        self._index = 0
        self._shape: tuple[int, int] | None = None
        self._low_shape: tuple[int, int] = (0, 0)
        self._estimator: FlowEstimator | None = None
        self._grid: np.ndarray | None = None
        self._low: dict[int, LowResFrame] = {}
        self._pairs: dict[int, PairFlow] = {}
        self._memory: Memory | None = None
        #: Offline: future memories built ahead, by frame index (at most ``future_block``).
        self._future: dict[int, Memory] = {}
        self._pass: Memory | None = None
        # Filled by ``prepare`` (possibly in another thread), consumed by ``fill``: deque's
        # append and popleft are atomic, everything else is confined to one side.
        self._prepared: deque[tuple[int, LowResFrame, PairFlow | None]] = deque()
        self._prep_index = 0
        self._prep_low: LowResFrame | None = None
        self._prep_estimator: FlowEstimator | None = None
        self.spatial.reset()

    def buffer_sizes(self) -> dict[str, int]:
        """Number of frames held in each internal buffer (bounded by ``lookahead + 2``)."""
        return {
            "low_res_frames": len(self._low),
            "flow_pairs": len(self._pairs),
            "future_memories": len(self._future),
        }

    # -- motion ahead of time ------------------------------------------------------------

    def prepare(self, image: np.ndarray, mask: np.ndarray) -> None:
        """Compute the background motion of the next frame ahead of :meth:`fill`.

        An engine that tracks masks in another thread calls this there, for every frame,
        in order, with the mask it will then give :meth:`fill` (the dilated one): the flow
        between the frame and the one before, the costliest part of a fill after the
        spatial fallback, then overlaps the filling of earlier frames. :meth:`fill` uses
        what is ready and computes the rest itself, so the results are the same with or
        without it. A look-ahead filler gets the flows of its future frames this way too
        (the engine prepares a frame before handing it over as a future frame). Not to be
        called concurrently with :meth:`reset`, nor by two threads at once.

        Args:
            image: ``H, W, 3`` uint8 RGB frame.
            mask: ``H, W`` bool, the mask :meth:`fill` will get for it.
        """
        check_frame_and_mask(image, mask)
        h, w = mask.shape
        low_shape = flow_shape(h, w, self.config.flow.flow_size)
        if self._prep_estimator is None:
            self._prep_estimator = FlowEstimator(self.config.flow, scale=w / low_shape[1])
        low = to_low_res(image, mask, low_shape, self.config.flow.exclude_margin)
        previous = self._prep_low
        pair = None
        if previous is not None and previous.gray.shape == low.gray.shape:
            # The check of the forward flow only serves the future memory.
            pair = self._prep_estimator(previous, low, check_forward=self.lookahead > 0)
        self._prepared.append((self._prep_index, low, pair))
        self._prep_index += 1
        self._prep_low = low

    def _take_prepared(self, index: int) -> None:
        """Move what :meth:`prepare` computed for frame ``index`` (and, looking ahead, for
        the frames after it that are ready) into the caches."""
        last = index + self.lookahead
        while self._prepared and self._prepared[0][0] <= last:
            i, low, pair = self._prepared.popleft()
            if i < index or low.gray.shape != self._low_shape:
                continue  # fill() got there first, or another size (ignored)
            self._low.setdefault(i, low)
            if pair is not None and i > 0:
                self._pairs.setdefault(i - 1, pair)

    # -- helpers -------------------------------------------------------------------------

    def _start(self, height: int, width: int) -> None:
        self._shape = (height, width)
        self._low_shape = flow_shape(height, width, self.config.flow.flow_size)
        scale = width / self._low_shape[1]
        self._estimator = FlowEstimator(self.config.flow, scale=scale)
        xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        self._grid = cv2.merge([xs, ys])  # H, W, 2: the identity map
        self._memory = Memory.empty(height, width)

    def _low_res(self, index: int, image: np.ndarray, mask: np.ndarray) -> LowResFrame:
        low = self._low.get(index)
        if low is None:
            low = to_low_res(image, mask, self._low_shape, self.config.flow.exclude_margin)
            self._low[index] = low
        return low

    def _pair(self, a: int) -> PairFlow:
        pair = self._pairs.get(a)
        if pair is None:
            assert self._estimator is not None
            # The check of the forward flow only serves the future memory.
            pair = self._estimator(self._low[a], self._low[a + 1], check_forward=self.lookahead > 0)
            self._pairs[a] = pair
        return pair

    def _warp(self, memory: Memory, flow: np.ndarray, ok: np.ndarray,
              roi: tuple[int, int, int, int] | None = None) -> None:
        """Carry ``memory`` along ``flow`` (flow resolution), dropping inconsistent pixels.

        Only ``roi = (y0, y1, x0, x1)`` (full resolution; ``None`` = the whole frame) is
        resampled: the rest is stale until the next :meth:`Memory.observe` overwrites it.
        """
        assert self._grid is not None and self._shape is not None
        h, w = self._shape
        y0, y1, x0, x1 = roi if roi is not None else (0, h, 0, w)
        if y1 <= y0 or x1 <= x0:
            memory.window = (y0, y0, x0, x0)
            return
        lh, lw = flow.shape[:2]
        # Scaling commutes with the (linear) upsampling: scale the small field, then
        # upsample only the window (what ``cv2.resize`` to ``w x h`` gives there) and add
        # the pixel grid to get one 2-channel map shared by the remaps.
        fx, fy = lw / w, lh / h
        scaled = flow * np.float32([1.0 / fx, 1.0 / fy])
        m = np.float64([[fx, 0, (x0 + 0.5) * fx - 0.5], [0, fy, (y0 + 0.5) * fy - 0.5]])
        full = cv2.warpAffine(scaled, m, (x1 - x0, y1 - y0),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        cv2.add(full, self._grid[y0:y1, x0:x1], dst=full)
        canvas = cv2.remap(memory.canvas, full, None, self.config.interpolation,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
        if self.config.interpolation != cv2.INTER_LINEAR:
            # Validity must not ring: a pixel is valid only if every neighbour it blends is.
            alpha = cv2.remap(memory.canvas[..., 3], full, None, cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        else:
            alpha = np.ascontiguousarray(canvas[..., 3])
        age = cv2.remap(memory.age, full, None, cv2.INTER_NEAREST,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=_INVALID_AGE)
        # ``cv2.resize(ok, (w, h), INTER_NEAREST)`` on the window: source index floor(x * lw / w).
        rows = np.minimum((np.arange(y0, y1) * fy).astype(np.intp), lh - 1)
        cols = np.minimum((np.arange(x0, x1) * fx).astype(np.intp), lw - 1)
        ok_roi = ok.view(np.uint8)[rows[:, None], cols[None, :]]
        canvas[..., 3] = cv2.multiply(cv2.compare(alpha, 254, cv2.CMP_GT), ok_roi)
        memory.canvas[y0:y1, x0:x1] = canvas
        memory.age[y0:y1, x0:x1] = age
        memory.window = None if roi is None else (y0, y1, x0, x1)

    def _roi(self, mask: np.ndarray) -> tuple[int, int, int, int]:
        """The window of a memory standing at a frame with hole ``mask`` that a fill reads
        before the frame is observed: the hole, the seam band and some context for the
        exposure tracking (an empty window when the hole is empty)."""
        box = mask_box(mask, margin=_ROI_MARGIN)
        return (0, 0, 0, 0) if box is None else box.yx

    def _advance(self, memory: Memory, pair: PairFlow, flow: np.ndarray, ok: np.ndarray,
                 age_step: int, roi: tuple[int, int, int, int] | None = None) -> None:
        """Bring ``memory`` one frame along (``flow``/``ok``: the direction of travel; a
        warp resamples only ``roi``, see :meth:`_warp`)."""
        if pair.cut:
            logger.debug("scene cut at frame %d: temporal memory reset", self._index)
            memory.forget()
            return
        if not pair.known:
            if not memory.static:  # camera was moving and now nothing shows how: give up
                memory.forget()
                return
        elif pair.motion <= self.config.static_motion:
            memory.static = True
        else:
            memory.static = False
            self._warp(memory, flow, ok, roi)
        if age_step:
            cv2.add(memory.age, age_step, dst=memory.age)  # saturates at 255 = invalid
            memory.exposure = np.roll(memory.exposure, age_step, axis=0)
            memory.exposure[:age_step] = 0.0

    def _future_memory(
        self, image: np.ndarray, mask: np.ndarray, future: Sequence[FutureFrame]
    ) -> Memory | None:
        """Nearest-in-time future content, carried back into the current frame.

        Built by one backward pass for the next frames (see ``future_block``) and kept:
        later frames of the block take their snapshot. Ages are relative to the frame.
        """
        t = self._index
        memory = self._future.pop(t, None)
        if memory is None:
            self._future.clear()
            self._build_future(image, mask, future)
            memory = self._future.pop(t, None)
        return memory

    def _build_future(
        self, image: np.ndarray, mask: np.ndarray, future: Sequence[FutureFrame]
    ) -> None:
        """Backward pass from the farthest given frame to the current one ``t``.

        The pass memory holds, per pixel, the nearest-in-time content of the frames after
        the one it stands at (ages counted from ``t``); its state at frames ``t .. t+B-1``
        is kept as their future memories, each with ages shifted to its own frame. ``B`` is
        ``future_block``, or, when fewer frames than :attr:`lookahead` are given (the end of
        the stream), every frame left up to that.
        """
        t = self._index
        window = self.config.lookahead
        n = len(future)
        if n == 0:
            return
        for k, frame in enumerate(future, start=1):
            self._low_res(t + k, frame.image, frame.mask)
        # Fewer frames than asked for means the stream ends there: every frame up to the
        # end then has all the future it will ever have.
        block = min(self.config.future_block, n + 1 if n < self.lookahead else n - window + 1)
        assert self._shape is not None
        if self._pass is None or self._pass.canvas.shape[:2] != self._shape:
            self._pass = Memory.empty(*self._shape)
        memory = self._pass
        memory.forget()
        last = future[n - 1]
        if last.trusted:
            memory.observe(last.image, ~last.mask, n)
        for k in range(n, 0, -1):
            # ``memory`` stands at frame t+k; bring it to t+k-1.
            pair = self._pair(t + k - 1)
            here_image, here_mask = (image, mask) if k == 1 else (future[k - 2].image, future[k - 2].mask)
            if pair.cut or not pair.known:
                memory.forget()  # nothing beyond a cut (or unknown motion) is carried back
            else:
                assert pair.ok_a is not None
                # Only the window around ``t+k-1``'s hole is read before it is observed; a
                # frame that is not observed (not trusted) keeps the old content outside
                # that window, so all of it is carried along then
                skipped = k > 1 and not future[k - 2].trusted
                roi = None if skipped else self._roi(here_mask)
                self._advance(memory, pair, pair.to_b, pair.ok_a, age_step=0, roi=roi)
            memory.match_exposure(here_image, ~here_mask, k)
            if k - 1 < block:
                self._future[t + k - 1] = self._snapshot(memory, k - 1)
            if k > 1 and future[k - 2].trusted:
                memory.observe(here_image, ~here_mask, k - 1)

    def _snapshot(self, memory: Memory, shift: int) -> Memory:
        """A copy of the pass ``memory`` standing at frame ``t + shift``, its ages made
        relative to that frame (content beyond the window is dropped)."""
        age = cv2.subtract(memory.age, shift) if shift else memory.age.copy()
        canvas = memory.canvas.copy()
        stale = cv2.compare(age, self.config.lookahead, cv2.CMP_GT)
        canvas[..., 3][stale > 0] = 0
        exposure = np.zeros_like(memory.exposure)
        exposure[: exposure.shape[0] - shift] = memory.exposure[shift:]
        return Memory(canvas, age, static=memory.static, exposure=exposure, window=memory.window)

    def _check_future(self, future: Sequence[FutureFrame], shape: tuple[int, ...]) -> None:
        for i, frame in enumerate(future):
            if not isinstance(frame, FutureFrame):
                raise InvalidArgumentError(f"future[{i}] must be a FutureFrame, got {type(frame).__name__}")
            check_frame_and_mask(frame.image, frame.mask)
            if frame.image.shape != shape:
                raise InvalidArgumentError(
                    f"future[{i}] has shape {frame.image.shape}, the current frame {shape}"
                )

    # -- the filler ----------------------------------------------------------------------

    def fill(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        *,
        future: Sequence[FutureFrame] = (),
        trusted: bool = True,
    ) -> FillResult:
        """Fill ``image`` where ``mask`` is True from other frames, then spatially.

        Args:
            image: ``H, W, 3`` uint8 RGB frame (the next one of the stream).
            mask: ``H, W`` bool, True where the content must be replaced.
            future: The following frames and masks; only the first ``lookahead`` are used.
                Those not ``trusted`` are not sources (their motion is still followed).
            trusted: False when the mask may miss the object (the tracker doubts it): the
                frame is filled, but its pixels are not remembered for other frames.

        Returns:
            The filled frame with the numbers of propagated and spatially filled pixels.

        Raises:
            InvalidArgumentError: Bad image, or a frame size differing from earlier frames
                (call :meth:`reset` between videos).
            InvalidMaskError: Bad mask.
        """
        check_frame_and_mask(image, mask)
        future = tuple(future)[: self.lookahead]
        self._check_future(future, image.shape)
        h, w = mask.shape
        if self._shape is None:
            self._start(h, w)
        elif self._shape != (h, w):
            raise InvalidArgumentError(
                f"frame size {w}x{h} differs from the stream's {self._shape[1]}x{self._shape[0]}; "
                "call reset() before a new video"
            )
        memory = self._memory
        assert memory is not None
        t = self._index
        if self._prepared:
            self._take_prepared(t)
        self._low_res(t, image, mask)
        if t > 0:
            pair = self._pair(t - 1)
            # a frame that is not observed below (not trusted) keeps the old content outside
            # its hole's window: all of the memory is carried along then
            self._advance(memory, pair, pair.to_a, pair.ok_b, age_step=1,
                          roi=self._roi(mask) if trusted else None)
            memory.match_exposure(image, ~mask, 1)

        out = image.copy()
        n_prop = 0
        if _count(mask):
            cfg = self.config
            max_age = cfg.max_age if memory.static else cfg.max_age_moving
            past_valid = memory.valid(max_age)
            fut = self._future_memory(image, mask, future) if future else None
            found = mask_box(mask, margin=_SEAM_MARGIN)
            assert found is not None
            box = y0, y1, x0, x1 = found.yx
            # The paste reads the source only within SEAM_BAND px of the hole.
            seam_box = mask_box(mask, margin=SEAM_BAND).yx  # type: ignore[union-attr]
            remaining = mask.copy()
            # Per pixel the source nearest in time first; what it cannot give (invalid, or
            # rejected as mismatching) is offered to the other source.
            passes: list[tuple[Memory, np.ndarray, np.ndarray | None]] = []
            if fut is not None:
                fut_valid = fut.valid(cfg.max_age if fut.static else cfg.max_age_moving)
                nearer = fut_valid & (~past_valid | (fut.age < memory.age))
                passes += [(fut, fut_valid, nearer), (memory, past_valid, None), (fut, fut_valid, None)]
            else:
                passes.append((memory, past_valid, None))
            if fut is not None and cfg.blend_both:
                held = fut_valid & past_valid
                both = remaining & held
                if _count(both):
                    written = paste_compensated(
                        out[y0:y1, x0:x1], image[y0:y1, x0:x1], _blend(fut, memory, box, seam_box),
                        held[y0:y1, x0:x1], both[y0:y1, x0:x1], mask[y0:y1, x0:x1],
                        compensate=cfg.seam_compensation, max_mismatch=cfg.max_mismatch,
                    )
                    n_prop += _count(written)
                    remaining[y0:y1, x0:x1] &= ~written
            for src, valid, prefer in passes:
                use = remaining & (valid if prefer is None else prefer)
                if not _count(use):
                    continue
                written = paste_compensated(
                    out[y0:y1, x0:x1], image[y0:y1, x0:x1], src.corrected(box, seam_box),
                    valid[y0:y1, x0:x1], use[y0:y1, x0:x1], mask[y0:y1, x0:x1],
                    compensate=cfg.seam_compensation, max_mismatch=cfg.max_mismatch,
                )
                n_prop += _count(written)
                remaining[y0:y1, x0:x1] &= ~written
            n_spatial = _count(remaining)
            if n_spatial:
                out = self.spatial.fill(out, remaining).image
        else:
            n_spatial = 0

        if trusted:
            memory.observe(image, ~mask, 0)
        self._index = t + 1
        for key in [k for k in self._future if k <= t]:
            del self._future[key]
        for key in [k for k in self._low if k < t]:
            del self._low[key]
        for key in [k for k in self._pairs if k < t - 1]:
            del self._pairs[key]
        return FillResult(out, propagated_pixels=n_prop, spatial_pixels=n_spatial)


#: The background flow of :class:`OfflineTemporalFiller`: DIS "medium" matching its patches
#: at 216 px (``finest_scale=0``), what "medium" at 432 px does (it matches at half its
#: input's size) for the same cost, while the completion, checks and warps of the flow run
#: on a quarter of the pixels. The tolerances are the same in full-resolution pixels
#: (``fb_beta`` 0.5 at 432 px = 0.125 at 216 px), the excluded margin around the hole a
#: little wider (3 px at 216 px). Measured with ``eval completion`` (432x240, other
#: clips' masks, 10 clips, lookahead 8): 32.76 dB against 32.53 for 432 px; a coarser 216-px match
#: (the preset's ``finest_scale=1``) loses 1.5 dB, mostly on static cameras whose tiny
#: measured motion then passes the static threshold. Its patches are matched every 5 px
#: instead of the preset's 3 (``patch_stride``): the flows were file mode's costliest step
#: (two DIS passes a frame, 11.3 ms each on one thread), and 5 cuts them to 7.1-7.6 ms for
#: a loss within the evaluation's noise, but a little more flicker on pasted objects.
#: ``eval completion`` (432x240, 10 clips, every frame), stride 3 -> 5:
#: other clips' masks +3.08 -> +3.05 dB over Telea (flicker 1.329 -> 1.308), pasted objects
#: +6.01 -> +5.99 (flicker 0.854 -> 0.898); at 640x360 (40 frames a clip) 32.37 dB both;
#: stride 4 was no better (+3.00 / +6.07). ``bench pipeline`` 640x360 (with a cheaper
#: re-detection in the tracker), interleaved runs: 22.5-23.1 -> 25.5-25.8 frames/s.
OFFLINE_FLOW = BackgroundFlowConfig(
    flow_size=216, finest_scale=0, patch_stride=5, fb_beta=0.125, exclude_margin=3
)
#: Future frames :class:`OfflineTemporalFiller` looks at. With the flow above, 12 against 8
#: (``eval completion``, 10 clips at 432x240): other clips' masks 32.76 -> 32.84 dB,
#: pasted objects 38.26 -> 38.37 dB, flicker unchanged (1.340 / 0.854), for about 1 ms of
#: CPU a frame (the backward pass covers 19 frames per block of 8 instead of 15).
OFFLINE_LOOKAHEAD = 12


class OfflineTemporalFiller(TemporalFiller):
    """:class:`TemporalFiller` that also uses future frames (``--fill temporal-offline``).

    Defaults to ``lookahead=12`` (:data:`OFFLINE_LOOKAHEAD`) and a finer flow than the
    causal filler's (:data:`OFFLINE_FLOW`).

    Args:
        config: Settings (default: ``lookahead=12`` and :data:`OFFLINE_FLOW`); a
            ``lookahead`` of 0 in it becomes 12 unless given here.
        lookahead: Future frames used (default 12).
        flow_size: Long side of the flow resolution (default 216, matched at that size).
        spatial: Filler for what no frame showed (default: Telea).
        future_block: Overrides ``config.future_block`` when given (frames whose future
            memories share one backward pass; 1 = rebuild every frame).
    """

    name = "temporal-offline"

    def __init__(
        self,
        config: TemporalFillConfig | None = None,
        *,
        lookahead: int | None = None,
        flow_size: int | None = None,
        spatial: Filler | None = None,
        future_block: int | None = None,
    ) -> None:
        if config is None:
            config = TemporalFillConfig(lookahead=OFFLINE_LOOKAHEAD, flow=OFFLINE_FLOW)
        elif lookahead is None and config.lookahead == 0:
            lookahead = OFFLINE_LOOKAHEAD
        if future_block is not None:
            config = dataclasses.replace(config, future_block=int(future_block))
        super().__init__(config, lookahead=lookahead, flow_size=flow_size, spatial=spatial)


#: The fillers of this module, by ``--fill`` name (merged into the package registry).
TEMPORAL_FILLERS = {
    "temporal": TemporalFiller,
    "temporal-offline": OfflineTemporalFiller,
}
