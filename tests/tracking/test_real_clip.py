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


_KIWI = DATA_DIR / "objects" / "food_fruit_kiwi.png"


@pytest.mark.skipif(
    not _KIWI.is_file() or not (DATA_DIR / "videos").is_dir(),
    reason=f"pasted-protocol data not found under {DATA_DIR} (../shared/data is optional)",
)
def test_a_better_fitting_surrounding_does_not_pull_the_mask_away() -> None:
    """The pasted protocol's kiwi crossing sam2_dog_720p fast (held-out split).

    The frame-to-frame match flattens the object's surroundings in its template; over this
    smooth fruit it proposed jumps of 20-40 px to places where the flattened box fit
    better, and at frame 48 one was taken: the mask jumped 28 px away and stayed there,
    confident (coverage 0.70 at frame 48, 0.77-0.89 after). A jump is now kept only
    when the object's own pixels fit better there: coverage 1.0 in every frame from 45.
    """
    from tracking import get_tracker
    from tracking.pasted import list_sources, make_clip

    sources = list_sources(DATA_DIR)
    source = next((s for s in sources if s.name == "sam2_dog_720p"), None)
    if source is None:
        pytest.skip("sam2_dog_720p is not among the pasted protocol's sources here")
    donor = sources[(sources.index(source) + 1) % len(sources)]
    clip = make_clip(source, _KIWI, "fast", n=60, strip_from=donor)
    tracker = get_tracker("flow")
    state = tracker.init(clip.frames[0], clip.masks[0])
    covs = []
    for t in range(1, 56):
        mask, state = tracker.step(state, clip.frames[t])
        if t >= 45:
            covs.append(coverage(dilate_mask(mask, 4), clip.masks[t]))
    assert min(covs) >= 0.97, covs
