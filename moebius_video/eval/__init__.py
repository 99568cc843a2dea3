"""Evaluation of moebius-video against ground truth (``moebius-video eval ...``)."""

from moebius_video.eval.completion import (
    CompletionConfig,
    CompletionReport,
    CompletionScore,
    SummaryScore,
    evaluate_completion,
)
from moebius_video.eval.metrics import FlowReference, psnr, ssim, ssim_map, warping_error

__all__ = [
    "CompletionScore",
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
