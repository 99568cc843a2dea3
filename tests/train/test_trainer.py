"""The training loop: a real (tiny) run, resume, interruption, bad input, torchrun with gloo."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from moebius_video.cli import main
from moebius_video.errors import CheckpointError, InvalidArgumentError
from moebius_video.model import MoebiusInpaintingPipeline
from moebius_video.train import objective as objective_module
from moebius_video.train.trainer import (
    DataSettings,
    ModelShape,
    OptimSettings,
    RunSettings,
    TrainConfig,
    load_checkpoint,
    lr_factor,
    train,
)

ROOT = Path(__file__).resolve().parents[2]


def _photos(folder: Path, count: int = 8, size: int = 48) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    for i in range(count):
        # Smooth photos-like content: gradients and slow waves, a little sensor noise.
        base = np.stack([
            128 + 90 * np.sin(xx / (5 + i) + i),
            128 + 90 * np.cos(yy / (7 + i)),
            60 + 2 * (xx + yy) + 10 * i,
        ], -1)
        noise = rng.integers(0, 8, (size, size, 3))
        cv2.imwrite(str(folder / f"photo_{chr(97 + i)}.png"), (base + noise).clip(0, 255).astype(np.uint8))
    return folder


def _config(tmp_path: Path, photo_size: int = 48, **kw) -> TrainConfig:
    base = dict(
        roots=(str(_photos(tmp_path / "photos", size=photo_size)),),
        output_dir=str(tmp_path / "run"),
        crop_size=32,
        latent_factor=4,
        block_out_channels=(32, 64),
        steps=4,
        batch_size=2,
        warmup_steps=2,
        log_every=2,
        save_every=2,
        holdout_fraction=0.0,
        mask_kinds=("thick", "box"),
        default_steps=2,
    )
    base.update(kw)
    return TrainConfig.from_dict(base)  # flat names, routed to their sections


def test_a_tiny_run_writes_a_loadable_model(tmp_path):
    config = _config(tmp_path)
    result = train(config, progress=False)
    assert result.step == 4 and np.isfinite(result.final_loss)
    run = tmp_path / "run"
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4]
    assert all(np.isfinite(r["loss"]) and r["images_per_s"] > 0 for r in log)
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["step"] == 4 and state["config"]["model"]["crop_size"] == 32

    pipe = MoebiusInpaintingPipeline.from_pretrained(run / "model")
    assert pipe.image_size == 32
    assert pipe.defaults == {"num_inference_steps": 2, "guidance_scale": 1.0}
    assert pipe.scheduler.config.prediction_type == "sample"
    # The exported weights are the EMA's, stored in float16.
    ema = {k[len("module."):]: v for k, v in state["ema"].items() if k.startswith("module.")}
    for key, value in pipe.network.state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(value, ema[key].float(), atol=1e-2, rtol=1e-2), key
    image = np.full((40, 40, 3), 120, np.uint8)
    mask = np.zeros((40, 40), bool)
    mask[10:20, 10:20] = True
    out = pipe(image, mask, num_inference_steps=2, guidance_scale=1.0, output_type="np")
    filled = (out.images[0] * 255).round().astype(np.uint8)
    assert np.array_equal(filled[~mask], image[~mask])


def test_resume_continues_and_refuses_surprises(tmp_path):
    train(_config(tmp_path, steps=2), progress=False)
    with pytest.raises(CheckpointError, match="already exists: pass --resume"):
        train(_config(tmp_path, steps=2), progress=False)
    result = train(_config(tmp_path, steps=4), resume=True, progress=False)
    assert result.step == 4
    # Throughput counts the 2 steps of this call, not the 4 of the whole run.
    assert result.images_per_second == pytest.approx(2 * 2 / result.seconds, rel=0.05)
    steps = [json.loads(x)["step"] for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert steps == [2, 4]
    with pytest.raises(CheckpointError, match=r"another model config \(block_out_channels"):
        train(_config(tmp_path, steps=6, block_out_channels=(32, 32)), resume=True, progress=False)
    with pytest.raises(CheckpointError, match="there is no checkpoint"):
        train(_config(tmp_path, output_dir=str(tmp_path / "other")), resume=True, progress=False)


def test_interrupted_run_saves_and_resumes(tmp_path, monkeypatch):
    real = objective_module.diffusion_loss
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr("moebius_video.train.trainer.diffusion_loss", flaky)
    with pytest.raises(KeyboardInterrupt):
        train(_config(tmp_path, steps=6, save_every=100), progress=False)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 2
    assert (tmp_path / "run" / "model" / "model_index.json").is_file()
    monkeypatch.setattr("moebius_video.train.trainer.diffusion_loss", real)
    assert train(_config(tmp_path, steps=3), resume=True, progress=False).step == 3


def test_training_reduces_the_loss(tmp_path):
    """The trained weights score better than the initial ones on a fixed batch and fixed noise."""
    from moebius_video.model import MoebiusNetwork
    from moebius_video.model.latent import PixelUnshuffleLatent
    from moebius_video.model.sampling import make_scheduler
    from moebius_video.train.data import DataConfig, InpaintingDataset
    from moebius_video.train.masks import MaskConfig

    config = _config(tmp_path, steps=100, log_every=50, save_every=1000, lr=3e-3, warmup_steps=5,
                     batch_size=4, mask_kinds=("box",))
    data = InpaintingDataset(DataConfig(roots=config.data.roots, crop_size=32, holdout_fraction=0.0,
                                        mask=MaskConfig(kinds=("box",)), seed=5))
    items = [data[i] for i in range(8)]
    batch = objective_module.encode_batch(
        PixelUnshuffleLatent(4),
        torch.stack([x["image"] for x in items]),
        torch.stack([x["mask"] for x in items]),
    )
    scheduler = make_scheduler(config.scheduler_config())

    def score(net: torch.nn.Module) -> float:
        # Batch statistics in BatchNorm: a fresh network's running statistics (0, 1) would make
        # its eval-mode output near zero, a baseline unrelated to what training changed.
        net.train()
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            return float(np.mean([
                objective_module.diffusion_loss(net, scheduler, batch, generator=g).loss
                for _ in range(4)
            ]))

    torch.manual_seed(config.run.seed)
    before = score(MoebiusNetwork(config.network_config()))
    train(config, progress=False)
    trained = MoebiusNetwork(config.network_config())
    trained.load_state_dict(load_checkpoint(tmp_path / "run" / "checkpoint.pt")["network"])
    after = score(trained)
    assert after < 0.7 * before, (before, after)


def test_bad_data_and_config(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgumentError, match="no images"):
        train(_config(tmp_path, roots=(str(tmp_path / "empty"),)), progress=False)
    with pytest.raises(InvalidArgumentError, match="crop_size 30 must be a multiple"):
        _config(tmp_path, crop_size=30)
    state_file = tmp_path / "junk" / "checkpoint.pt"
    state_file.parent.mkdir()
    state_file.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read the checkpoint"):
        load_checkpoint(state_file)


def test_lr_schedule():
    config = TrainConfig(
        data=DataSettings(roots=("x",)),
        run=RunSettings(output_dir="y"),
        optim=OptimSettings(steps=100, warmup_steps=10, min_lr_ratio=0.1),
    )
    assert lr_factor(0, config) == pytest.approx(0.1)
    assert lr_factor(9, config) == pytest.approx(1.0)
    assert lr_factor(100, config) == pytest.approx(0.1)
    assert 0.1 < lr_factor(55, config) < 1.0


def test_cli_train_and_bad_input(tmp_path, capsys):
    photos = _photos(tmp_path / "photos")
    args = ["train", str(photos), "-o", str(tmp_path / "run"), "--crop", "32", "--widths", "32,64",
            "--batch-size", "2", "--masks", "box", "--no-progress", "--steps", "2"]
    assert main(args) == 0
    assert "step 2/2" in capsys.readouterr().out
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pass --resume" in err
    # Resuming keeps the saved settings (crop, widths) and takes the new step target.
    assert main(["train", str(photos), "-o", str(tmp_path / "run"), "--resume", "--steps", "3",
                 "--no-progress"]) == 0
    assert "step 3/3" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["config"]["model"]["crop_size"] == 32
    assert main(["train", str(tmp_path / "missing"), "-o", str(tmp_path / "r2")]) == 1
    assert "missing" in capsys.readouterr().err


def test_mask_weights_choose_the_training_holes(tmp_path, capsys):
    """--mask-weights reaches the dataset's mask draws; a bad list is a one-line error."""
    from moebius_video.train.trainer import _build_data, _Dist

    def hole_areas(weights):
        config = _config(tmp_path, photo_size=64, mask_kinds=("thin", "box"), mask_weights=weights)
        dataset = _build_data(config, _Dist())[0].dataset
        return [float(dataset[i]["mask"].float().mean()) for i in range(len(dataset))]

    thin_only, box_only = hole_areas((1, 0)), hole_areas((0, 1))
    assert max(thin_only) <= 0.06  # thin strokes cover 1-5 % of the crop
    assert min(box_only) >= 0.04 and np.mean(box_only) > 2 * np.mean(thin_only)
    assert TrainConfig.from_dict(_config(tmp_path, mask_weights=[2, 1]).to_dict()).data.mask_weights == (2.0, 1.0)
    with pytest.raises(InvalidArgumentError, match="weights has 1 values for 2 kinds"):
        _config(tmp_path, mask_weights=(1.0,))
    photos = str(tmp_path / "photos")
    for bad in ("1,x", "-1,2", "0,0"):
        with pytest.raises(SystemExit) as exit_info:
            main(["train", photos, "-o", str(tmp_path / "r"), "--mask-weights", bad])
        assert exit_info.value.code == 2
        assert "--mask-weights" in capsys.readouterr().err
    assert main(["train", photos, "-o", str(tmp_path / "r"), "--masks", "box,thin", "--mask-weights", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "weights" in err


def test_config_dict_forms():
    """to_dict is nested by concern; from_dict reads it, the flat form of older runs, or a mix."""
    nested = TrainConfig(
        data=DataSettings(roots=("x",), mask_kinds=["box"]),
        run=RunSettings(output_dir="y", seed=3),
        model=ModelShape(crop_size=64, block_out_channels=[32, 64]),
        optim=OptimSettings(steps=7),
    )
    data = nested.to_dict()
    assert set(data) == {"model", "data", "optim", "distill", "export", "run"}
    assert data["model"]["block_out_channels"] == (32, 64) and data["optim"]["steps"] == 7
    assert TrainConfig.from_dict(data) == nested
    flat = {k: v for section in data.values() for k, v in section.items()}
    assert len(flat) == 44  # the 41 fields of the flat TrainConfig, less the never-filled `extra`,
    # plus the student's `student` and `aux_fill`, `mask_weights` and `window_size`
    assert TrainConfig.from_dict(flat) == nested
    # Flat keys override the saved sections (how `train --resume --steps N` applies flags).
    assert TrainConfig.from_dict({**data, "steps": 9}).optim.steps == 9
    with pytest.raises(InvalidArgumentError, match="crop_size 30 must be a multiple"):
        TrainConfig.from_dict({**flat, "crop_size": 30})
    with pytest.raises(InvalidArgumentError, match="no training data"):
        DataSettings(roots=())


def test_a_checkpoint_with_the_old_flat_config_resumes(tmp_path, capsys):
    """Runs saved before the config was nested (a flat dict) resume with their settings."""
    photos = _photos(tmp_path / "photos")
    run = tmp_path / "run"
    assert main(["train", str(photos), "-o", str(run), "--crop", "32", "--widths", "32,64",
                 "--batch-size", "2", "--masks", "box", "--no-progress", "--steps", "2"]) == 0
    state = load_checkpoint(run / "checkpoint.pt")
    state["config"] = {k: v for section in state["config"].values() for k, v in section.items()}
    torch.save(state, run / "checkpoint.pt")
    capsys.readouterr()
    assert main(["train", str(photos), "-o", str(run), "--resume", "--steps", "3",
                 "--no-progress"]) == 0
    assert "step 3/3" in capsys.readouterr().out
    saved = load_checkpoint(run / "checkpoint.pt")["config"]
    assert saved["model"]["crop_size"] == 32 and tuple(saved["model"]["block_out_channels"]) == (32, 64)
    assert saved["data"]["mask_kinds"] == ("box",) and saved["optim"]["batch_size"] == 2
    # The old flat form still guards the model fields.
    state = load_checkpoint(run / "checkpoint.pt")
    state["config"] = {k: v for section in state["config"].values() for k, v in section.items()}
    torch.save(state, run / "checkpoint.pt")
    config = TrainConfig.from_dict({**state["config"], "block_out_channels": (32, 32), "steps": 4})
    with pytest.raises(CheckpointError, match=r"another model config \(block_out_channels"):
        train(config, resume=True, progress=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_cpu_processes_on_gloo(tmp_path):
    """The same command under torchrun: 2 processes, gloo, gradients averaged, replicas equal."""
    photos = _photos(tmp_path / "photos")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
        "-m", "moebius_video", "train", str(photos), "-o", str(tmp_path / "run"),
        "--crop", "32", "--widths", "32,64", "--steps", "3", "--batch-size", "2",
        "--masks", "box", "--device", "cpu", "--no-progress", "--log-every", "1",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 process(es)" in proc.stdout
    assert "replicas in sync" in proc.stdout
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert state["world_size"] == 2 and state["step"] == 3
    log = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]  # rank 0 only writes


def test_distillation_from_a_teacher(tmp_path):
    """A wider teacher trained here guides a narrower student through the same trainer."""
    teacher = _config(tmp_path, output_dir=str(tmp_path / "teacher"), block_out_channels=(64, 64),
                      steps=2)
    train(teacher, progress=False)
    student = _config(tmp_path, output_dir=str(tmp_path / "student"), steps=4,
                      teacher=str(tmp_path / "teacher" / "model"), distill_blocks=("down.1", "up.0"))
    result = train(student, progress=False)
    assert result.step == 4
    log = [json.loads(x) for x in (tmp_path / "student" / "log.jsonl").read_text().splitlines()]
    parts = {k for k in log[-1] if k.startswith("distill/")}
    assert {"distill/output", "distill/trajectory", "distill/features", "distill/perceptual"} <= parts
    assert all(np.isfinite(log[-1][k]) for k in parts)
    state = load_checkpoint(tmp_path / "student" / "checkpoint.pt")
    assert state["distiller"], "the adapters are saved for resuming"
    # A teacher from another latent space is refused with both sides named.
    other = _config(tmp_path, output_dir=str(tmp_path / "s2"), latent_factor=2, crop_size=16,
                    teacher=str(tmp_path / "teacher" / "model"))
    with pytest.raises(CheckpointError, match="another latent space"):
        train(other, progress=False)


def test_training_in_a_vae_latent_space(tmp_path):
    """--vae: the student diffuses in an AutoencoderKL's space (what the official models use)."""
    from helpers import make_tiny_vae

    make_tiny_vae().save_pretrained(tmp_path / "vae")
    config = _config(tmp_path, photo_size=72, crop_size=64, vae=str(tmp_path / "vae"), steps=2,
                     export_dtype="float32")
    assert config.network_config().in_channels == 9 and config.network_config().sample_size == 8
    train(config, progress=False)
    pipe = MoebiusInpaintingPipeline.from_pretrained(tmp_path / "run" / "model")
    assert type(pipe.vae).__name__ == "AutoencoderKL" and pipe.image_size == 64
    # A teacher from that space refuses a pixel-unshuffle student, naming both.
    other = _config(tmp_path, photo_size=72, output_dir=str(tmp_path / "s"),
                    teacher=str(tmp_path / "run" / "model"))
    with pytest.raises(CheckpointError, match="AutoencoderKL, 4 channels.*PixelUnshuffleLatent, 48"):
        train(other, progress=False)
    with pytest.raises(CheckpointError, match="cannot read"):
        _config(tmp_path, vae=str(tmp_path / "nope")).network_config()


def test_masked_fill_travels_with_the_model_and_guards_resume(tmp_path):
    train(_config(tmp_path, masked_fill="pushpull", steps=2), progress=False)
    assert MoebiusInpaintingPipeline.from_pretrained(tmp_path / "run" / "model").masked_fill == "pushpull"
    with pytest.raises(CheckpointError, match="masked_fill 'pushpull' != 'zeros'"):
        train(_config(tmp_path, steps=3), resume=True, progress=False)
