"""Fixtures of the tracking tests; makes ``tracking_synth`` (this folder's generator) importable.

The project runs pytest with only ``tests/`` on the path, so this folder is put on
``sys.path`` as the I/O tests do.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from tracking_synth import SynthClip, make_clip  # noqa: E402


@pytest.fixture(scope="session")
def synth_clip() -> SynthClip:
    """The default synthetic clip (16 frames, 128x96, panning camera, moving ellipse)."""
    return make_clip()
