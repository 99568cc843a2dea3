"""Fixtures of the tracking tests."""

from __future__ import annotations

import pytest
from helpers import SynthClip, make_clip


@pytest.fixture(scope="session")
def synth_clip() -> SynthClip:
    """The default synthetic clip (16 frames, 128x96, panning camera, moving ellipse)."""
    return make_clip()
