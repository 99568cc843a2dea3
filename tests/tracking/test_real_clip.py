"""One short check on real footage (skipped when ../shared/data is absent)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import SHARED_DATA as DATA_DIR

from tracking.data import load_clip
from tracking.geometry import dilate_mask
from tracking.metrics import coverage, jaccard
from tracking.offline import track

CLIP = DATA_DIR / "clips" / "car-shadow"


@pytest.mark.skipif(
    not (CLIP / "frames").is_dir(),
    reason=f"real clips not found at {CLIP} (../shared/data is optional)",
)
def test_real_clip_first_frame_only() -> None:
    clip = load_clip(CLIP, max_frames=15)
    masks = track(clip.frames, {0: clip.mask(0)}, tracker="flow")
    ious = [jaccard(masks[t], clip.mask(t)) for t in range(1, 15)]
    covs = [coverage(dilate_mask(masks[t], 4), clip.mask(t)) for t in range(1, 15)]
    # measured: J 0.85, coverage 0.999 on these 15 frames (dis 0.86 / 0.99, static 0.56 / 0.82)
    assert float(np.mean(ious)) > 0.75
    assert float(np.mean(covs)) > 0.97
