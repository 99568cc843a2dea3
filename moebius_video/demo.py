"""``moebius-video demo``: remove an object from a generated clip, with nothing but the package.

Generates a short clip (a textured scene, a camera pan, a moving striped object, a tone on
the audio track), removes the object from the first frame's mask alone (tracked through
the clip), writes the result and a side-by-side before/after video, and scores the fill
against the true background, which the generator knows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moebius_video.engine.remove import (
    EncodeConfig,
    MaskInput,
    RemoveConfig,
    RemoveResult,
    remove_object,
)
from moebius_video.io.masks import save_mask
from moebius_video.synthetic import SceneConfig, SyntheticScene, write_scene_clip

logger = logging.getLogger(__name__)


@dataclass
class DemoResult:
    """Where the demo wrote its files and how well the object was removed.

    Attributes:
        input: The generated clip.
        mask: The first frame's mask (PNG).
        output: The clip with the object removed.
        side_by_side: Input and output next to each other.
        removal: The removal's report.
        hole_psnr: PSNR (dB) of the output against the true background, over the object's
            pixels, all frames together.
        residual_object_fraction: Share of true object pixels that the (dilated) mask missed.
    """

    input: Path
    mask: Path
    output: Path
    side_by_side: Path
    removal: RemoveResult
    hole_psnr: float
    residual_object_fraction: float


def run_demo(
    out_dir: str | Path = "moebius-demo",
    *,
    scene: SceneConfig | None = None,
    config: RemoveConfig | None = None,
    encode: EncodeConfig | None = None,
    progress: bool | None = None,
) -> DemoResult:
    """Generate a clip, remove its object, write a before/after video.

    Args:
        out_dir: Folder for ``input.mp4``, ``first_frame_mask.png``, ``output.mp4``,
            ``side_by_side.mp4`` and ``masks/`` (created if missing; files in it are
            replaced).
        scene: Shape of the generated clip (default 640x360, 90 frames at 30000/1001 fps).
        config: Removal options (filler, tracker, dilation).
        encode: Output options (``overwrite`` is forced on inside ``out_dir``).
        progress: Progress bars (``None`` = only on a terminal).
    """
    from dataclasses import replace

    from moebius_video.io import open_sink, open_source
    from moebius_video.io.frames import Frame
    from moebius_video.io.masks import load_mask

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    synthetic = SyntheticScene(scene or SceneConfig())
    config = config or RemoveConfig()
    encode = replace(encode or EncodeConfig(), overwrite=True)

    input_path = out / "input.mp4"
    logger.info("generating %s", input_path)
    write_scene_clip(input_path, synthetic)
    mask_path = out / "first_frame_mask.png"
    save_mask(mask_path, synthetic.frame(0).mask)

    output_path = out / "output.mp4"
    masks_dir = out / "masks"
    removal = remove_object(
        input_path, output_path, MaskInput(mask=mask_path),
        config=config, encode=encode, save_masks=masks_dir, progress=progress,
    )

    # Score against the truth and build the side-by-side video in one pass.
    side_path = out / "side_by_side.mp4"
    sq_err = 0.0
    n_values = 0
    missed = 0
    object_px = 0
    with open_source(input_path) as before, open_source(output_path) as after:
        info = before.info
        side_info = replace(info, width=2 * info.width, path=side_path)
        with open_sink(side_path, like=side_info, audio_from=input_path, overwrite=True) as sink:
            for index, (a, b) in enumerate(zip(before, after)):
                truth = synthetic.frame(index)
                hole = truth.mask
                diff = b.image[hole].astype(np.float64) - truth.background[hole]
                sq_err += float((diff**2).sum())
                n_values += diff.size
                used = load_mask(masks_dir / f"{b.name}.png")
                missed += int((hole & ~used).sum())
                object_px += int(hole.sum())
                sink.write(Frame(index=a.index, image=np.hstack([a.image, b.image]),
                                 pts=a.pts, time_base=a.time_base, name=a.name))
    mse = sq_err / max(n_values, 1)
    psnr = float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))
    return DemoResult(
        input=input_path,
        mask=mask_path,
        output=output_path,
        side_by_side=side_path,
        removal=removal,
        hole_psnr=psnr,
        residual_object_fraction=missed / max(object_px, 1),
    )
