"""Training and distillation of Moebius networks (``moebius-video train``).

* :mod:`~moebius_video.train.data`: photos and video frames, random crops, held-out split;
* :mod:`~moebius_video.train.masks`: thin / medium / thick strokes, boxes, object shapes;
* :mod:`~moebius_video.train.objective`: the latent-diffusion loss;
* :mod:`~moebius_video.train.distill`: spatial-aware teacher -> student distillation;
* :mod:`~moebius_video.train.trainer`: the loop (EMA, checkpoints, resume, torchrun/DDP).

Importing this package is cheap: the submodules load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainConfig": "moebius_video.train.trainer",
    "TrainResult": "moebius_video.train.trainer",
    "train": "moebius_video.train.trainer",
    "export_model": "moebius_video.train.trainer",
    "ObjectiveConfig": "moebius_video.train.objective",
    "diffusion_loss": "moebius_video.train.objective",
    "encode_batch": "moebius_video.train.objective",
    "DataConfig": "moebius_video.train.data",
    "InpaintingDataset": "moebius_video.train.data",
    "discover_sources": "moebius_video.train.data",
    "eval_samples": "moebius_video.train.data",
    "MaskConfig": "moebius_video.train.masks",
    "MaskGenerator": "moebius_video.train.masks",
    "DistillConfig": "moebius_video.train.distill",
    "Distiller": "moebius_video.train.distill",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
