"""The pipeline's transfer layer: crops in and results out through a DeviceContext."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import FakeEvent, make_tiny_network, make_tiny_vae

from moebius_video.device import DeviceContext
from moebius_video.model import MoebiusInpaintingPipeline


def _pipeline() -> MoebiusInpaintingPipeline:
    return MoebiusInpaintingPipeline(make_tiny_network(), make_tiny_vae())


def _inputs(n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(0)
    images, masks = [], []
    for i in range(n):
        image = rng.integers(0, 256, (40 + 4 * i, 56, 3), dtype=np.uint8)
        mask = np.zeros(image.shape[:2], bool)
        mask[10 : 20 + i, 12 : 30 + 2 * i] = True
        images.append(image)
        masks.append(mask)
    return images, masks


def _run(pipe: MoebiusInpaintingPipeline, images, masks, output_type: str = "np"):  # type: ignore[no-untyped-def]
    gens = [torch.Generator().manual_seed(3) for _ in images]
    return pipe(images, masks, num_inference_steps=2, guidance_scale=1.0, generator=gens, output_type=output_type)


def test_transfers_give_the_plain_result_up_to_8_bit_crops() -> None:
    images, masks = _inputs(3)
    plain = _run(_pipeline(), images, masks)
    moved = _run(_pipeline().enable_transfers(), images, masks)
    for a, b, image, mask in zip(plain.images, moved.images, images, masks, strict=True):
        a8, b8 = np.rint(a * 255), np.rint(b * 255)
        np.testing.assert_array_equal(b8[~mask], image[~mask])  # outside the hole: the frame
        assert np.abs(a8 - b8)[mask].mean() < 1.0  # inside: the same fill, 8-bit crops aside
    assert torch.allclose(plain.latents, moved.latents, atol=0.05)


def test_every_transfer_is_ordered_by_its_event_and_waited_on_once() -> None:
    images, masks = _inputs(5)
    reference = _run(_pipeline().enable_transfers(), images, masks)
    pipe = _pipeline()
    FakeEvent.made.clear()
    pipe.transfers = DeviceContext("cpu", upload_slots=2, download_slots=2, event_factory=FakeEvent)
    out = _run(pipe, images, masks)
    for a, b in zip(reference.images, out.images, strict=True):
        np.testing.assert_array_equal(a, b)  # the events change the order of waits, not results
    ctx = pipe.transfers
    assert ctx.upload_ring is not None and ctx.download_ring is not None
    # 5 crops through 2 upload slots: from the third on, each waits for a slot's copy event.
    assert ctx.upload_ring.waits == 3
    # downloads go in groups of the ring's size and each is waited on before its slot is reused
    assert ctx.download_ring.waits == 0
    assert all(e.recorded == 1 for e in FakeEvent.made)
    downloads = [e for e in FakeEvent.made if e.syncs]
    assert len(downloads) >= 5 and all(e.syncs == 1 for e in downloads)


def test_latent_output_and_empty_masks_through_transfers() -> None:
    images, masks = _inputs(2)
    masks[1][:] = False
    pipe = _pipeline().enable_transfers()
    with pytest.warns(UserWarning, match="empty"):
        out = _run(pipe, images, masks, output_type="latent")
    assert out.images is None and out.latents.shape[0] == 2
    assert not out.latents[1].any()  # nothing to fill: zero latents, as the plain path
    with pytest.warns(UserWarning, match="empty"):
        res = _run(pipe, images, masks)
    np.testing.assert_array_equal(np.rint(res.images[1] * 255), images[1])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_transfers_on_cuda_match_the_plain_path() -> None:
    images, masks = _inputs(4)
    plain = _run(_pipeline().to("cuda"), images, masks)
    pipe = _pipeline().to("cuda").enable_transfers()
    assert pipe.transfers is not None and pipe.transfers.is_cuda
    moved = _run(pipe, images, masks)
    for a, b, mask in zip(plain.images, moved.images, masks, strict=True):
        assert np.abs(np.rint(a * 255) - np.rint(b * 255))[mask].mean() < 1.0
