"""Issue 13's end-to-end reproduction (``eval removal``): does ``remove`` touch the scene?

The dog cut-out crosses ``videos/box.mp4`` (640x360 crop, 120 frames, gentle wobble; see
:func:`tracking.pasted.issue_clip`). The clip is written losslessly as PNG frames, the first
frame's true mask is given to ``remove --mask`` (default tracker and filler, H.264 output,
as a user runs it), and the output is compared with the input away from the dog:

* ``far_changed``: per frame, the share of the pixels more than 20 px from the dog whose
  colour moved by more than ``tol`` levels (max over channels) — the scene the fill
  wrongly erased; the worst frame and the mean;
* the same for a pass-through encode of the input (an empty mask, the same encoder): the
  encoder's own noise, to compare with;
* the tracked mask's collateral (the share of the frame > 20 px from the dog inside the
  dilated mask), worst frame.

``--save DIR`` keeps the input, output and mask PNGs of a few frames side by side.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

#: Pixels farther than this from the object count as the scene.
FAR_PX = 20


@dataclass(frozen=True)
class ReproResult:
    """What the reproduction measured.

    Attributes:
        tracker: the tracker used.
        frames: frames compared.
        far_changed_max: worst frame's share of far pixels changed by more than ``tol``.
        far_changed_mean: mean over frames.
        noise_max: the same for a pass-through encode (the encoder's noise).
        noise_mean: mean over frames of the pass-through.
        collateral_max: worst frame's share of the frame > 20 px from the dog in the mask.
        worst_frame: the frame of ``far_changed_max``.
        tol: colour change (levels) counted as a change.
    """

    tracker: str
    frames: int
    far_changed_max: float
    far_changed_mean: float
    noise_max: float
    noise_mean: float
    collateral_max: float
    worst_frame: int
    tol: int


def _read(path: Path) -> list[np.ndarray]:
    from moebius_video.io import open_source

    with open_source(path) as source:
        return [frame.image for frame in source]


def run_repro(
    data_dir: str | Path,
    tracker: str | None = None,
    tol: int = 24,
    save: str | Path | None = None,
    frames: int = 120,
) -> ReproResult:
    """Run the reproduction.

    Args:
        data_dir: the shared data folder.
        tracker: tracker name (default: the package's).
        tol: a far pixel changed by more than this many levels counts as changed.
        save: a folder for side-by-side PNGs of frames 20, 60, 100 and the worst.
        frames: clip length.

    Returns:
        The :class:`ReproResult`.
    """
    from moebius_video.engine.remove import EncodeConfig, MaskInput, RemoveConfig, remove_object
    from tracking.pasted import issue_clip

    clip = issue_clip(data_dir, n=frames)
    with tempfile.TemporaryDirectory(prefix="issue13-") as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        for t, frame in enumerate(clip.frames):
            cv2.imwrite(str(root / "in" / f"{t:05d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        encode = EncodeConfig(frame_rate=None)
        remove_object(
            root / "in", root / "out.mp4", MaskInput(mask=clip.masks[0]),
            config=RemoveConfig(tracker=tracker), encode=encode, save_masks=root / "m",
        )
        remove_object(
            root / "in", root / "pass.mp4", MaskInput(mask=np.zeros_like(clip.masks[0])),
            config=RemoveConfig(tracker=tracker), encode=encode,
        )
        out = _read(root / "out.mp4")
        passed = _read(root / "pass.mp4")
        masks = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) > 0 for p in sorted((root / "m").glob("*.png"))]
    changed, noise, coll = [], [], []
    for t, (src, dst, ref, mask) in enumerate(zip(clip.frames, out, passed, masks, strict=True)):
        far = cv2.distanceTransform((~clip.masks[t]).astype(np.uint8), cv2.DIST_L2, 3) > FAR_PX
        n_far = max(int(np.count_nonzero(far)), 1)
        diff = cv2.absdiff(src, dst).max(axis=2)
        changed.append(np.count_nonzero((diff > tol) & far) / n_far)
        noise.append(np.count_nonzero((cv2.absdiff(src, ref).max(axis=2) > tol) & far) / n_far)
        coll.append(np.count_nonzero(mask & far) / mask.size)
    worst = int(np.argmax(changed))
    if save is not None:
        folder = Path(save)
        folder.mkdir(parents=True, exist_ok=True)
        for t in sorted({20, 60, 100, worst} & set(range(len(out)))):
            tint = clip.frames[t].copy()
            tint[masks[t]] = (0.5 * tint[masks[t]] + [127, 0, 0]).astype(np.uint8)
            row = np.concatenate([tint, out[t]], axis=1)
            cv2.imwrite(str(folder / f"frame{t:03d}.png"), cv2.cvtColor(row, cv2.COLOR_RGB2BGR))
    return ReproResult(
        tracker=tracker or "default",
        frames=len(changed),
        far_changed_max=float(np.max(changed)),
        far_changed_mean=float(np.mean(changed)),
        noise_max=float(np.max(noise)),
        noise_mean=float(np.mean(noise)),
        collateral_max=float(np.max(coll)),
        worst_frame=worst,
        tol=tol,
    )


__all__ = ["FAR_PX", "ReproResult", "run_repro"]
