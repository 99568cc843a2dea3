"""Evaluation of moebius-video against ground truth (``moebius-video eval ...``)."""

from moebius_video.eval.completion import (
    ClipScore,
    CompletionConfig,
    CompletionReport,
    SummaryScore,
    evaluate_completion,
)
from moebius_video.eval.metrics import FlowReference, psnr, ssim, ssim_map, warping_error

__all__ = [
    "ClipScore",
    "CompletionConfig",
    "CompletionReport",
    "FlowReference",
    "SummaryScore",
    "evaluate_completion",
    "psnr",
    "ssim",
    "ssim_map",
    "warping_error",
]
