"""Dense optical-flow backends behind one interface.

All backends compute a flow ``u`` from ``src`` to ``dst`` such that
``src[y, x] ≈ dst[y + u[y, x, 1], x + u[y, x, 0]]``. Called with ``src`` = the new frame and
``dst`` = the previous one, that is the *backward* flow used to warp the previous mask onto the
new frame. Frames are single-channel uint8 images of the same size; flows are ``H,W,2``
float32 in pixels.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from .errors import TrackingError

FlowMethod = Literal["dis", "farneback"]
DisPreset = Literal["ultrafast", "fast", "medium"]

_DIS_PRESETS: dict[str, int] = {
    "ultrafast": cv2.DISOpticalFlow_PRESET_ULTRAFAST,
    "fast": cv2.DISOpticalFlow_PRESET_FAST,
    "medium": cv2.DISOpticalFlow_PRESET_MEDIUM,
}


@dataclass(frozen=True)
class FlowConfig:
    """How the flow is computed.

    Attributes:
        method: ``"dis"`` (OpenCV DIS) or ``"farneback"``.
        preset: DIS preset: ``"ultrafast"``, ``"fast"`` or ``"medium"``.
        max_side: the flow is computed on a frame downscaled so that its longest side is at
            most this many pixels (``None``: full resolution).
        use_initial_flow: start each DIS/Farneback solve from the previous flow.
    """

    method: FlowMethod = "dis"
    preset: DisPreset = "ultrafast"
    max_side: int | None = None
    use_initial_flow: bool = True

    def __post_init__(self) -> None:
        if self.method not in ("dis", "farneback"):
            raise TrackingError(f"method must be 'dis' or 'farneback', got {self.method!r}")
        if self.preset not in _DIS_PRESETS:
            raise TrackingError(
                f"preset must be one of {sorted(_DIS_PRESETS)}, got {self.preset!r}"
            )
        if self.max_side is not None and self.max_side < 16:
            raise TrackingError(f"max_side must be >= 16 or None, got {self.max_side}")


_DIS_MIN_SIDE = 32


class FlowBackend(ABC):
    """A dense optical-flow method (stateless between calls: the caller keeps the flow)."""

    @abstractmethod
    def compute(
        self, src: np.ndarray, dst: np.ndarray, init: np.ndarray | None = None
    ) -> np.ndarray:
        """Compute the flow from ``src`` to ``dst``.

        Args:
            src: ``H,W`` uint8 grayscale image.
            dst: ``H,W`` uint8 grayscale image of the same size.
            init: optional ``H,W,2`` float32 flow to start from (ignored if the size differs).

        Returns:
            ``H,W,2`` float32 flow in pixels.
        """


class DISFlow(FlowBackend):
    """OpenCV's Dense Inverse Search flow (Kroeger et al., ECCV 2016)."""

    def __init__(
        self, preset: DisPreset = "ultrafast", use_initial_flow: bool = True,
        finest_scale: int | None = None,
        patch_stride: int | None = None,
    ) -> None:
        """Create the solver.

        Args:
            preset: ``"ultrafast"``, ``"fast"`` or ``"medium"``.
            use_initial_flow: start from ``init`` when it is given.
            finest_scale: Finest pyramid level the patches are matched at (0 = the
                input's resolution; ``None`` = the preset's: 1 for ``"medium"``, 2
                otherwise). The result is upsampled from there.
            patch_stride: Distance in px between the patches DIS matches (``None`` = the
                preset's: 3 for ``"medium"``, 4 otherwise; its patches are 8 px wide).
                A larger stride matches fewer patches: less work, fewer overlapping votes.

        Raises:
            TrackingError: unknown preset, a negative ``finest_scale`` or a ``patch_stride``
                outside 1..8.
        """
        if preset not in _DIS_PRESETS:
            raise TrackingError(f"preset must be one of {sorted(_DIS_PRESETS)}, got {preset!r}")
        if finest_scale is not None and not 0 <= finest_scale <= 8:
            raise TrackingError(f"finest_scale must be in 0..8, got {finest_scale}")
        if patch_stride is not None and not 1 <= patch_stride <= 8:
            raise TrackingError(f"patch_stride must be in 1..8, got {patch_stride}")
        self.preset = preset
        self.use_initial_flow = use_initial_flow
        self.finest_scale = finest_scale
        self.patch_stride = patch_stride
        self._dis = self._create()
        self._shape: tuple[int, ...] = ()

    def _create(self) -> cv2.DISOpticalFlow:
        dis = cv2.DISOpticalFlow.create(_DIS_PRESETS[self.preset])
        if self.finest_scale is not None:
            dis.setFinestScale(self.finest_scale)
        if self.patch_stride is not None:
            dis.setPatchStride(self.patch_stride)
        return dis

    def compute(
        self, src: np.ndarray, dst: np.ndarray, init: np.ndarray | None = None
    ) -> np.ndarray:
        """See :meth:`FlowBackend.compute`."""
        use_init = self.use_initial_flow and init is not None and init.shape[:2] == src.shape[:2]
        src = np.ascontiguousarray(src)
        dst = np.ascontiguousarray(dst)
        h, w = src.shape[:2]
        if h < _DIS_MIN_SIDE or w < _DIS_MIN_SIDE:
            # OpenCV's DIS crashes on images smaller than ~32 px: pad, solve, crop.
            pad = (0, max(0, _DIS_MIN_SIDE - h), 0, max(0, _DIS_MIN_SIDE - w))
            src_p = cv2.copyMakeBorder(src, *pad, cv2.BORDER_REPLICATE)
            dst_p = cv2.copyMakeBorder(dst, *pad, cv2.BORDER_REPLICATE)
            init_p = (
                None
                if init is None
                else cv2.copyMakeBorder(np.asarray(init, np.float32), *pad, cv2.BORDER_REPLICATE)
            )
            return np.ascontiguousarray(self.compute(src_p, dst_p, init_p)[:h, :w])
        if src.shape != self._shape:
            # OpenCV's DIS can crash when one instance sees a new size: start a fresh one
            # (creating it costs microseconds).
            self._dis = self._create()
            self._shape = src.shape
        # DIS starts from ``flow`` when it is given with the right size and type.
        flow = np.array(init, dtype=np.float32, copy=True) if use_init else None
        return self._dis.calc(src, dst, flow)


class FarnebackFlow(FlowBackend):
    """OpenCV's Farneback polynomial-expansion flow."""

    def __init__(
        self,
        use_initial_flow: bool = True,
        pyr_scale: float = 0.5,
        levels: int = 3,
        winsize: int = 15,
        iterations: int = 3,
        poly_n: int = 5,
        poly_sigma: float = 1.1,
    ) -> None:
        """Store the solver parameters (see ``cv2.calcOpticalFlowFarneback``).

        Args:
            use_initial_flow: start from ``init`` when it is given.
            pyr_scale: pyramid scale.
            levels: pyramid levels.
            winsize: averaging window size.
            iterations: iterations per level.
            poly_n: pixel neighbourhood of the polynomial expansion.
            poly_sigma: Gaussian sigma of the polynomial expansion.
        """
        self.use_initial_flow = use_initial_flow
        self.params = (pyr_scale, levels, winsize, iterations, poly_n, poly_sigma)

    def compute(
        self, src: np.ndarray, dst: np.ndarray, init: np.ndarray | None = None
    ) -> np.ndarray:
        """See :meth:`FlowBackend.compute`."""
        use_init = self.use_initial_flow and init is not None and init.shape[:2] == src.shape[:2]
        flow = np.array(init, dtype=np.float32, copy=True) if use_init else None
        flags = cv2.OPTFLOW_USE_INITIAL_FLOW if use_init else 0
        out = cv2.calcOpticalFlowFarneback(src, dst, flow, *self.params, flags)
        return out.astype(np.float32, copy=False)


def make_flow(config: FlowConfig) -> FlowBackend:
    """Build the backend a :class:`FlowConfig` describes.

    Args:
        config: the flow configuration.

    Returns:
        A :class:`FlowBackend`.
    """
    if config.method == "dis":
        return DISFlow(config.preset, config.use_initial_flow)
    return FarnebackFlow(config.use_initial_flow)


def working_size(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """The ``(h, w)`` at which the flow is computed for an ``height x width`` frame.

    Args:
        height: frame height.
        width: frame width.
        max_side: longest side allowed, ``None`` for full resolution.

    Returns:
        ``(h, w)``, never larger than the frame.
    """
    if max_side is None or max(height, width) <= max_side:
        return height, width
    scale = max_side / max(height, width)
    return max(8, round(height * scale)), max(8, round(width * scale))


def downscale(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an image down to ``size`` = ``(h, w)``, fast and with little aliasing.

    Halves with area averaging while the image is at least twice the target (OpenCV's fast
    path), then finishes with bilinear interpolation: about ten times faster than a
    non-integer ``INTER_AREA``.

    Args:
        image: ``H,W`` or ``H,W,C`` array.
        size: target ``(h, w)``, not larger than the image.

    Returns:
        The resized image.
    """
    h, w = size
    while image.shape[0] >= 2 * h and image.shape[1] >= 2 * w:
        half = (image.shape[1] // 2, image.shape[0] // 2)
        image = cv2.resize(image[: 2 * half[1], : 2 * half[0]], half, interpolation=cv2.INTER_AREA)
    if image.shape[:2] != (h, w):
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    return image


def to_gray(frame: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Convert an RGB frame to uint8 grayscale, optionally resized to ``size`` = ``(h, w)``.

    Args:
        frame: ``H,W,3`` uint8 RGB.
        size: target ``(h, w)`` or ``None``.

    Returns:
        ``h,w`` uint8 grayscale.
    """
    if size is not None and size != frame.shape[:2]:
        frame = downscale(frame, size)
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def resize_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a flow field to ``size`` = ``(h, w)``, rescaling the vectors.

    Args:
        flow: ``H,W,2`` float32 flow.
        size: target ``(h, w)``.

    Returns:
        ``h,w,2`` float32 flow in pixels of the new size.
    """
    h, w = flow.shape[:2]
    if (h, w) == tuple(size):
        return flow
    out = cv2.resize(flow, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= size[1] / w
    out[..., 1] *= size[0] / h
    return out


__all__ = [
    "DISFlow",
    "downscale",
    "FarnebackFlow",
    "FlowBackend",
    "FlowConfig",
    "make_flow",
    "resize_flow",
    "to_gray",
    "working_size",
]
