"""A colour appearance model of the object against its surroundings.

Colours are quantised to ``bins`` levels per RGB channel; the model is a pair of normalised
histograms (object, surrounding band). The log-likelihood ratio of a pixel's colour under
them tells object from background where the flow is unsure.
"""

from __future__ import annotations

import numpy as np


def color_index(rgb: np.ndarray, bins: int = 16) -> np.ndarray:
    """Quantised joint colour index of every pixel.

    Args:
        rgb: ``H,W,3`` uint8.
        bins: levels per channel (a power of two up to 64).

    Returns:
        ``H,W`` int32 in ``[0, bins**3)``.
    """
    shift = 8 - int(np.log2(bins))
    q = (rgb >> shift).astype(np.int32)
    return (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]


def histogram(index: np.ndarray, where: np.ndarray, n_bins: int) -> np.ndarray:
    """Normalised histogram of the colour indices selected by ``where``.

    Args:
        index: ``H,W`` int32 colour indices.
        where: ``H,W`` bool selection.
        n_bins: number of bins (``bins**3``).

    Returns:
        ``n_bins`` float32 summing to 1 (uniform when nothing is selected).
    """
    values = index[where]
    if values.size == 0:
        return np.full(n_bins, 1.0 / n_bins, np.float32)
    counts = np.bincount(values, minlength=n_bins).astype(np.float32)
    return counts / counts.sum()


def log_ratio(index: np.ndarray, fg: np.ndarray, bg: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """Per-pixel ``log(p(colour | object) / p(colour | background))``.

    Args:
        index: ``H,W`` int32 colour indices.
        fg: object histogram.
        bg: background histogram.
        eps: floor added to both histograms (a colour never seen is neutral).

    Returns:
        ``H,W`` float32 log-likelihood ratio.
    """
    table = np.log((fg + eps) / (bg + eps)).astype(np.float32)
    return table[index]


__all__ = ["color_index", "histogram", "log_ratio"]
