"""The command line: contract flags, one-line errors with exit codes, nothing half-written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import InterruptingFiller, clip_with_masks, read_video, scene
from PIL import Image

from moebius_video.cli import main
from moebius_video.fill import register_filler


@pytest.fixture
def clip(tmp_path: Path) -> tuple[Path, Path, Path]:
    return clip_with_masks(tmp_path, scene(frames=8), audio=False)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line_error(err: str, *needles: str) -> None:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("moebius-video: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, err)


def test_remove_with_mask_and_contract_flags(clip, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    video, _, first = clip
    out = tmp_path / "out.mkv"
    code, stdout, err = _run(
        ["remove", str(video), "--mask", str(first), "-o", str(out), "--dilate", "2",
         "--fill", "ns", "--tracker", "dis", "--save-masks", str(tmp_path / "used"),
         "--crf", "20", "--preset", "ultrafast"], capsys)
    assert code == 0, err
    assert "wrote" in stdout and str(out) in stdout
    assert err == ""  # no progress bar when stderr is not a terminal, no chatter
    frames, _, _, _ = read_video(out)
    assert len(frames) == 8
    assert len(list((tmp_path / "used").glob("*.png"))) == 8


def test_remove_box_and_masks_dir(clip, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    video, masks, _ = clip
    code, _, err = _run(["remove", str(video), "--box", "10,10,20,20", "-o", str(tmp_path / "a.mp4")], capsys)
    assert code == 0, err
    code, _, err = _run(["remove", str(video), "--masks", str(masks), "-o", str(tmp_path / "b") + "/"], capsys)
    assert code == 0, err
    assert len(list((tmp_path / "b").glob("*.png"))) == 8


def test_track_command(clip, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    video, _, first = clip
    code, stdout, err = _run(["track", str(video), "--mask", str(first), "--save-masks",
                              str(tmp_path / "tracked")], capsys)
    assert code == 0, err
    assert len(list((tmp_path / "tracked").glob("*.png"))) == 8
    code, _, err = _run(["track", str(video), "--mask", str(first)], capsys)
    assert code == 1
    _assert_one_line_error(err, "--save-masks")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("case", ["missing", "not_video", "wrong_size", "all_white", "bad_mask_file",
                                  "unwritable", "same_as_input", "exists", "no_such_dir",
                                  "unknown_fill", "unknown_tracker", "empty_range"])
def test_bad_input_gives_one_line_and_leaves_nothing(case: str, clip, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    video, _, first = clip
    out = tmp_path / "out.mp4"
    args = ["remove", str(video), "--mask", str(first), "-o", str(out)]
    needles: tuple[str, ...] = ()
    if case == "missing":
        args[1] = str(tmp_path / "nope.mp4")
        needles = ("nope.mp4",)
    elif case == "not_video":
        bogus = tmp_path / "notes.mp4"
        bogus.write_text("this is not a video\n" * 20)
        args[1] = str(bogus)
        needles = ("notes.mp4",)
    elif case == "wrong_size":
        Image.fromarray(np.full((10, 10), 255, np.uint8)).save(tmp_path / "small.png")
        args[3] = str(tmp_path / "small.png")
        needles = ("10x10", "96x64")
    elif case == "all_white":
        Image.fromarray(np.full((64, 96), 255, np.uint8)).save(tmp_path / "white.png")
        args[3] = str(tmp_path / "white.png")
        needles = ("whole frame",)
    elif case == "bad_mask_file":
        (tmp_path / "junk.png").write_bytes(b"\x89PNG garbage")
        args[3] = str(tmp_path / "junk.png")
        needles = ("junk.png",)
    elif case == "unwritable":
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        if os.access(locked, os.W_OK):  # root ignores permissions: use a path under a file
            locked.chmod(0o700)
            (tmp_path / "afile").write_text("x")
            args[-1] = str(tmp_path / "afile" / "out.mp4")
        else:
            args[-1] = str(locked / "out.mp4")
        needles = ()
    elif case == "same_as_input":
        args[-1] = str(video)
        needles = ("input",)
    elif case == "exists":
        out.write_bytes(b"precious")
        needles = ("--overwrite",)
    elif case == "no_such_dir":
        args[-1] = str(tmp_path / "missing_dir" / "out.mp4")
        needles = ("missing_dir",)
    elif case == "unknown_fill":
        args += ["--fill", "magic"]
        needles = ("magic",)
    elif case == "unknown_tracker":
        args += ["--tracker", "magic"]
        needles = ("magic",)
    elif case == "empty_range":
        args += ["--start", "50"]
        needles = ("from frame 50 on",)
    before = _leftovers(tmp_path)
    code, _, err = _run(args, capsys)
    assert code == 1, err
    _assert_one_line_error(err, *needles)
    assert _leftovers(tmp_path) == before
    if case == "exists":
        assert out.read_bytes() == b"precious"
    if case == "same_as_input":
        assert video.stat().st_size > 0
        frames, _, _, _ = read_video(video)
        assert len(frames) == 8


def test_empty_mask_is_a_warning_and_exit_zero(clip, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    video, _, _ = clip
    Image.fromarray(np.zeros((64, 96), np.uint8)).save(tmp_path / "empty.png")
    code, _, err = _run(["remove", str(video), "--mask", str(tmp_path / "empty.png"),
                         "-o", str(tmp_path / "out.mp4")], capsys)
    assert code == 0
    assert "warning" in err and "empty" in err and "Traceback" not in err
    assert (tmp_path / "out.mp4").exists()


def test_usage_errors_exit_2(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as info:
        main(["remove", "x.mp4", "-o", "y.mp4"])  # no mask given
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["remove", "x.mp4", "--mask", "m.png", "--box", "1,2,3,4", "-o", "y.mp4"])
    assert info.value.code == 2


def test_ctrl_c_exits_130_and_leaves_nothing(clip, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    register_filler("interrupt-test", InterruptingFiller)
    video, _, first = clip
    before = _leftovers(tmp_path)
    code, _, err = _run(["remove", str(video), "--mask", str(first), "-o", str(tmp_path / "o.mp4"),
                         "--fill", "interrupt-test", "--save-masks", str(tmp_path / "m")], capsys)
    assert code == 130 and "interrupted" in err
    assert _leftovers(tmp_path) == before


def test_console_script_runs(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "moebius_video", "--version"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "moebius-video" in proc.stdout


def test_demo_runs_on_nothing_but_the_package(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "moebius_video", "demo", "-o", str(tmp_path / "d"),
         "--size", "160x90", "--frames", "24"],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("input.mp4", "output.mp4", "side_by_side.mp4", "first_frame_mask.png"):
        assert (tmp_path / "d" / name).exists(), name
        assert name in proc.stdout
    frames, _, _, audio = read_video(tmp_path / "d" / "side_by_side.mp4")
    assert len(frames) == 24 and frames[0].shape == (90, 320, 3)
    assert audio is not None
    # It reports a measured figure, not a fixed string.
    assert "dB PSNR" in proc.stdout


def test_broken_inputs_through_the_cli(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from helpers import write_audio_only, write_clip, write_undecodable

    # No video stream.
    audio_only = tmp_path / "audio.m4a"
    write_audio_only(audio_only)
    code, _, err = _run(["remove", str(audio_only), "--box", "1,1,5,5", "-o", str(tmp_path / "a.mp4")], capsys)
    assert code == 1
    _assert_one_line_error(err, "audio.m4a")
    # A video stream with no decodable frame.
    good = tmp_path / "good.mkv"
    write_clip(good, width=64, height=48, num_frames=40)
    junk = tmp_path / "junk.mkv"
    write_undecodable(junk, good)
    code, _, err = _run(["remove", str(junk), "--box", "1,1,5,5", "-o", str(tmp_path / "b.mp4")], capsys)
    assert code == 1
    assert "Traceback" not in err and "junk.mkv" in err.strip().splitlines()[-1]
    # Truncated: what can be decoded is processed, the loss is reported, exit 0.
    cut = tmp_path / "cut.mkv"
    data = good.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "c.mp4"
    code, _, err = _run(["remove", str(cut), "--box", "10,10,12,12", "-o", str(out)], capsys)
    assert code == 0, err
    assert "warning" in err and "Traceback" not in err
    frames, _, _, _ = read_video(out)
    assert 0 < len(frames) < 40
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]


def test_remove_with_pushpull_spatial_and_filler_options(clip, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    video, masks, _ = clip
    code, _, err = _run(["remove", str(video), "--masks", str(masks), "--spatial", "pushpull",
                         "-o", str(tmp_path / "a") + "/"], capsys)
    assert code == 0, err
    assert len(list((tmp_path / "a").glob("*.png"))) == 8
    code, _, err = _run(["remove", str(video), "--masks", str(masks),
                         "--fill", "temporal-offline:spatial=pushpull", "-o", str(tmp_path / "b") + "/"], capsys)
    assert code == 0, err
    for a, b in zip(sorted((tmp_path / "a").glob("*.png")), sorted((tmp_path / "b").glob("*.png")), strict=True):
        np.testing.assert_array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
    code, _, err = _run(["remove", str(video), "--masks", str(masks), "--fill", "pushpull:bogus=1",
                         "-o", str(tmp_path / "c.mp4")], capsys)
    assert code != 0
    _assert_one_line_error(err, "bad options for filler 'pushpull'")
    assert not (tmp_path / "c.mp4").exists()


def test_track_json_review_and_doubtful_ranges(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """An object that leaves the frame: empty masks, a doubtful range with keyframes, a review."""
    import json

    rng = np.random.default_rng(3)
    h, w, n = 96, 160, 24
    big = (rng.random((h, w + 2 * n, 3)) * 200).astype(np.uint8)
    big = np.asarray(Image.fromarray(big).resize((w + 2 * n, h)))
    frames, first = [], None
    for t in range(n):
        frame = big[:, t : t + w].copy()
        x = 60 + 8 * t  # out through the right border from frame ~12
        mask = np.zeros((h, w), bool)
        mask[30:60, max(0, x):max(0, min(w, x + 30))] = True
        frame[mask] = (np.array([250, 30, 30]) + rng.integers(0, 5, (int(mask.sum()), 3))).clip(0, 255)
        frames.append(frame)
        if t == 0:
            first = mask
    folder = tmp_path / "frames"
    folder.mkdir()
    for t, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{t:05d}.png")
    Image.fromarray(first.astype(np.uint8) * 255).save(tmp_path / "first.png")
    review = tmp_path / "review.mp4"
    code, stdout, err = _run(["track", str(folder), "--mask", str(tmp_path / "first.png"),
                              "--json", "--review", str(review)], capsys)
    assert code == 0, err
    out = json.loads(stdout)
    assert out["frames"] == n and len(out["confidence"]) == n and out["confidence"][0] == 1.0
    assert out["doubtful"], out
    last = out["doubtful"][-1]
    assert last["end"] == n - 1 and last["min_confidence"] < 0.5
    assert all(last["start"] <= k <= last["end"] for k in last["suggested_keyframes"])
    review_frames, _, _, _ = read_video(review)
    assert len(review_frames) == n
    # the text form prints the ranges and suggests keyframes
    code, stdout, err = _run(["track", str(folder), "--mask", str(tmp_path / "first.png"),
                              "--save-masks", str(tmp_path / "m")], capsys)
    assert code == 0, err
    assert "doubtful" in stdout and "add a keyframe at" in stdout
