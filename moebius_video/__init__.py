"""moebius-video: real-time video object removal.

The public entry points are importable from here; they load on first use, so
``import moebius_video`` stays cheap (no torch, no diffusers)::

    from moebius_video import MaskInput, remove_object
    remove_object("in.mp4", "out.mp4", MaskInput(box=(120, 80, 200, 160)))
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "remove_object": "moebius_video.engine.remove",
    "MaskInput": "moebius_video.engine.remove",
    "RemoveConfig": "moebius_video.engine.remove",
    "EncodeConfig": "moebius_video.engine.remove",
    "RemoveResult": "moebius_video.engine.remove",
    "LiveEngine": "moebius_video.engine.live",
    "LiveConfig": "moebius_video.engine.live",
    "MoebiusInpaintingPipeline": "moebius_video.model",
    "get_filler": "moebius_video.fill",
    "MoebiusError": "moebius_video.errors",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'moebius_video' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = ["__version__", *_EXPORTS]
