"""A very cheap smooth spatial fill: push-pull interpolation (``--fill pushpull``).

The known pixels around the hole are averaged down an image pyramid and the hole is filled
from the coarsest level that has data on the way back up (the "pull-push" of Gortler et
al., The Lumigraph, 1996). The result is a smooth membrane that matches the hole's border,
like a blurred Telea fill, for about a fifteenth of Telea's time.

Measured with ``moebius-video eval completion ../shared/data`` at 432x240 (10 clips,
both protocols): alone it scores 0.9 dB (masks) / 0.5 dB (objects) below Telea; as the
spatial fallback of ``--fill temporal`` it costs 0.2 dB against Telea there, but the
output flickers about 30 % less inside the hole (the fill changes smoothly when the hole
moves), and the temporal filler runs 1.65x faster. It is the fallback meant for live use
(``--spatial pushpull``); Telea stays the file default, where quality comes first.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from moebius_video.errors import InvalidArgumentError
from moebius_video.fill.base import Filler, FillResult, FutureFrame, check_frame_and_mask
from moebius_video.fill.flow import push_pull_fill
from tracking.geometry import mask_box


class PushPullFiller(Filler):
    """Fills the hole with a smooth interpolation of the pixels around it.

    Args:
        context: Pixels of context kept around the hole's bounding box (at least this
            many, and at least a quarter of the box's longer side), so a large hole is
            filled from a wide enough ring of background.

    Raises:
        InvalidArgumentError: ``context`` below 1.
    """

    name = "pushpull"

    def __init__(self, context: int = 16) -> None:
        if context < 1:
            raise InvalidArgumentError(f"context must be >= 1, got {context}")
        self.context = int(context)

    def fill(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        *,
        future: Sequence[FutureFrame] = (),
    ) -> FillResult:
        """Fill ``image`` where ``mask`` is True; pixels outside it are returned unchanged.

        A frame whose every pixel is masked has nothing to interpolate from: it is
        returned as it is (and counted as spatially filled).
        """
        check_frame_and_mask(image, mask)
        out = image.copy()
        box = mask_box(mask)
        if box is None:
            return FillResult(out)
        y0, y1, x0, x1 = box.yx
        margin = max(self.context, (max(y1 - y0, x1 - x0) + 3) // 4)
        y0, y1, x0, x1 = mask_box(mask, margin=margin).yx  # type: ignore[union-attr]
        hole = np.ascontiguousarray(mask[y0:y1, x0:x1])
        roi = out[y0:y1, x0:x1]
        known = ~hole
        if known.any():
            filled = push_pull_fill(roi.astype(np.float32), known)
            cv2.copyTo(cv2.convertScaleAbs(filled), hole.view(np.uint8), roi)  # rounds, saturates
        return FillResult(out, spatial_pixels=int(np.count_nonzero(hole)))
