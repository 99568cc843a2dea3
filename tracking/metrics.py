"""Mask quality measures: region J (IoU), boundary F (DAVIS), coverage and collateral."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .geometry import ellipse_kernel


def jaccard(pred: np.ndarray, gt: np.ndarray) -> float:
    """Intersection over union; 1 when both masks are empty.

    Args:
        pred: ``H,W`` bool.
        gt: ``H,W`` bool.

    Returns:
        IoU in ``[0, 1]``.
    """
    union = np.count_nonzero(pred | gt)
    if union == 0:
        return 1.0
    return np.count_nonzero(pred & gt) / union


def _boundary(mask: np.ndarray) -> np.ndarray:
    """One-pixel boundary map as DAVIS's ``seg2bmap`` computes it at the same resolution."""
    seg = mask.astype(bool)
    east = np.zeros_like(seg)
    south = np.zeros_like(seg)
    south_east = np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1, :] = seg[1:, :]
    south_east[:-1, :-1] = seg[1:, 1:]
    bmap = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
    bmap[-1, :] = seg[-1, :] ^ east[-1, :]
    bmap[:, -1] = seg[:, -1] ^ south[:, -1]
    bmap[-1, -1] = False
    return bmap


def boundary_f(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> float:
    """DAVIS boundary F-measure.

    Boundaries match within a tolerance of ``ceil(bound_th * diagonal)`` pixels (a disk);
    precision and recall are the matched fractions of the predicted and true boundary pixels.

    Args:
        pred: ``H,W`` bool.
        gt: ``H,W`` bool.
        bound_th: tolerance as a fraction of the image diagonal (``>= 1`` means pixels).

    Returns:
        F in ``[0, 1]``; 1 when both masks are empty, 0 when only one is.
    """
    h, w = gt.shape
    radius = bound_th if bound_th >= 1 else math.ceil(bound_th * math.hypot(h, w))
    fg_b = _boundary(pred)
    gt_b = _boundary(gt)
    n_fg, n_gt = np.count_nonzero(fg_b), np.count_nonzero(gt_b)
    if n_fg == 0 and n_gt == 0:
        return 1.0
    if n_fg == 0 or n_gt == 0:
        return 0.0
    kernel = ellipse_kernel(int(radius))
    fg_dil = cv2.dilate(fg_b.astype(np.uint8), kernel) > 0
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), kernel) > 0
    precision = np.count_nonzero(fg_b & gt_dil) / n_fg
    recall = np.count_nonzero(gt_b & fg_dil) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def coverage(pred_dilated: np.ndarray, gt: np.ndarray) -> float:
    """Fraction of true object pixels inside the (dilated) tracked mask; 1 when ``gt`` is empty.

    Args:
        pred_dilated: ``H,W`` bool tracked mask after dilation.
        gt: ``H,W`` bool.

    Returns:
        Coverage in ``[0, 1]``.
    """
    n_gt = np.count_nonzero(gt)
    if n_gt == 0:
        return 1.0
    return np.count_nonzero(pred_dilated & gt) / n_gt


#: Pixels farther than this from the true object are collateral when masked.
COLLATERAL_PX: int = 20


def collateral(pred_dilated: np.ndarray, gt: np.ndarray) -> float:
    """Fraction of the frame inside the (dilated) tracked mask and more than
    :data:`COLLATERAL_PX` px from the true object: what a removal would wrongly erase.

    Args:
        pred_dilated: ``H,W`` bool tracked mask after dilation.
        gt: ``H,W`` bool; when empty, every masked pixel is collateral.

    Returns:
        Collateral in ``[0, 1]``.
    """
    far = cv2.distanceTransform((~gt).astype(np.uint8), cv2.DIST_L2, 3) > COLLATERAL_PX
    return np.count_nonzero(pred_dilated & far) / gt.size


__all__ = ["COLLATERAL_PX", "boundary_f", "collateral", "coverage", "jaccard"]
