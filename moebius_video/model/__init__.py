"""The Moebius inpainting model: network, sampling, geometry and the image pipeline.

Importing this package is cheap: the submodules (which import diffusers) load on first use.
It never imports ``moebius_video.io``, ``moebius_video.engine`` or ``moebius_video.cli``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MoebiusConfig": "moebius_video.model.config",
    "DDIM_SCHEDULER_CONFIG": "moebius_video.model.config",
    "MoebiusNetwork": "moebius_video.model.network",
    "MoebiusUNet": "moebius_video.model.network",
    "MoebiusInpaintingPipeline": "moebius_video.model.pipeline",
    "MoebiusPipelineOutput": "moebius_video.model.pipeline",
    "load_network": "moebius_video.model.pipeline",
    "load_state_dict_strict": "moebius_video.model.checkpoint",
    "read_state_dict": "moebius_video.model.checkpoint",
    "denoise": "moebius_video.model.sampling",
    "make_scheduler": "moebius_video.model.sampling",
    "CropBox": "moebius_video.model.geometry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
