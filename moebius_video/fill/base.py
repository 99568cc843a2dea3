"""The filler interface: what fills the hole of one frame.

A filler is a streaming object: the engine calls :meth:`Filler.fill` once per frame, in
order, and calls :meth:`Filler.reset` at a scene boundary or a new video. A filler that
needs future frames (offline temporal fill) says so with ``lookahead``; the engine then
hands it up to that many following frames (and their masks) with each call, so memory stays
bounded by the window, not by the video.

Frames are ``H, W, 3`` uint8 RGB numpy arrays and masks ``H, W`` bool arrays
(True = remove): the fillers wrap OpenCV and are fed straight from the decoder, so numpy is
the cheapest common currency here; the model filler converts to torch tensors internally.

A filler that runs faster on several frames at once (the model, on a GPU) says how many it
wants with ``max_batch`` and overrides :meth:`Filler.fill_batch`; the engine then hands it up
to that many consecutive frames per call. Every filler supports :meth:`Filler.fill_batch`
(the default calls :meth:`Filler.fill` frame by frame).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np


@dataclass
class FillResult:
    """The filled frame and where its hole pixels came from.

    Attributes:
        image: ``H, W, 3`` uint8 RGB. Only pixels inside the mask differ from the input.
        propagated_pixels: Hole pixels filled from other frames (temporal propagation).
        spatial_pixels: Hole pixels filled by a spatial method (OpenCV, the model).
    """

    image: np.ndarray
    propagated_pixels: int = 0
    spatial_pixels: int = 0


@dataclass(frozen=True)
class FutureFrame:
    """A frame after the current one, handed to fillers with ``lookahead > 0``.

    ``trusted`` False: the tracker was unsure of this frame's mask (it may have lost the
    object, which then shows in the frame unmasked); a filler that borrows pixels from
    other frames (:attr:`Filler.borrows`) takes none from it.
    """

    image: np.ndarray
    mask: np.ndarray
    trusted: bool = True


class Filler(ABC):
    """Fills the masked pixels of a frame.

    Subclasses set ``name`` (the ``--fill`` value) and implement :meth:`fill`.
    """

    name: ClassVar[str] = ""
    #: How many future frames the filler wants with each call (0 = causal, usable live).
    lookahead: int = 0
    #: How many frames the filler wants per :meth:`fill_batch` call (1 = one at a time).
    #: Stateful fillers (temporal, warm start) keep 1: each frame depends on the previous one.
    max_batch: int = 1
    #: True for fillers that copy pixels from other frames than the one they fill: their
    #: :meth:`fill` takes ``trusted=False`` for a frame whose mask the tracker doubts, which
    #: is then not a source (an object the tracker lost shows there, unmasked: borrowed,
    #: it would be painted back into the frames around).
    borrows: ClassVar[bool] = False

    def reset(self) -> None:  # noqa: B027 - a no-op default is the right behaviour
        """Forget everything remembered from earlier frames (new video or scene cut)."""

    def prepare(self, image: np.ndarray, mask: np.ndarray) -> None:  # noqa: B027 - optional hook
        """See the next frame early (file mode calls it from the mask thread, in frame order,
        ahead of :meth:`fill`): work that does not depend on earlier fills (e.g. optical
        flow) can start there. Must not change what :meth:`fill` returns. No-op by default."""

    @abstractmethod
    def fill(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        *,
        future: Sequence[FutureFrame] = (),
    ) -> FillResult:
        """Fill ``image`` where ``mask`` is True.

        Args:
            image: ``H, W, 3`` uint8 RGB frame.
            mask: ``H, W`` bool, True where the content must be replaced.
            future: Up to ``lookahead`` following frames with their masks (offline only).

        Returns:
            The filled frame and the origin counts of its hole pixels.
        """

    def fill_frame(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        *,
        future: Sequence[FutureFrame] = (),
        trusted: bool = True,
    ) -> FillResult:
        """:meth:`fill`, telling a filler that borrows from other frames (:attr:`borrows`)
        whether the tracker trusts this frame's mask; the others take no ``trusted``."""
        if self.borrows:
            return self.fill(image, mask, future=future, trusted=trusted)  # type: ignore[call-arg]
        return self.fill(image, mask, future=future)

    def fill_batch(
        self,
        images: Sequence[np.ndarray],
        masks: Sequence[np.ndarray],
        futures: Sequence[Sequence[FutureFrame]] | None = None,
    ) -> list[FillResult]:
        """Fill several consecutive frames, in order; the same results as :meth:`fill` on each.

        The default calls :meth:`fill` once per frame; fillers with ``max_batch > 1``
        override it with one batched computation.

        Args:
            images: ``H, W, 3`` uint8 RGB frames (sizes may differ).
            masks: One ``H, W`` bool mask per frame, True where the content must be replaced.
            futures: Per frame, its following frames (as ``future`` of :meth:`fill`);
                ``None`` = none for any frame.

        Returns:
            One result per frame, in the order given.

        Raises:
            InvalidArgumentError: ``images``, ``masks`` and ``futures`` differ in length.
        """
        futures = check_batch(images, masks, futures)
        return [
            self.fill(image, mask, future=future)
            for image, mask, future in zip(images, masks, futures, strict=True)
        ]


def check_batch(
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    futures: Sequence[Sequence[FutureFrame]] | None = None,
) -> Sequence[Sequence[FutureFrame]]:
    """Check that a batch's lists fit together; return ``futures`` (empty ones for ``None``)."""
    from moebius_video.errors import InvalidArgumentError

    if len(images) != len(masks):
        raise InvalidArgumentError(f"got {len(images)} images but {len(masks)} masks")
    if futures is None:
        return [()] * len(images)
    if len(futures) != len(images):
        raise InvalidArgumentError(f"got {len(futures)} future lists for {len(images)} images")
    return futures


def check_frame_and_mask(image: np.ndarray, mask: np.ndarray) -> None:
    """Raise ``InvalidArgumentError``/``InvalidMaskError`` unless image and mask fit together."""
    from moebius_video.errors import InvalidArgumentError, InvalidMaskError

    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InvalidArgumentError(
            f"image must be an H,W,3 uint8 array, got {getattr(image, 'dtype', type(image))} "
            f"with shape {getattr(image, 'shape', None)}"
        )
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.ndim != 2:
        raise InvalidMaskError(
            f"mask must be an H,W bool array, got {getattr(mask, 'dtype', type(mask))} "
            f"with shape {getattr(mask, 'shape', None)}"
        )
    if mask.shape != image.shape[:2]:
        raise InvalidMaskError(
            f"mask size {mask.shape[1]}x{mask.shape[0]} does not match the frame size "
            f"{image.shape[1]}x{image.shape[0]}"
        )
