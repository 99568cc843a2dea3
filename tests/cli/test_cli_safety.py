"""Issue #15: nothing lost, ever. Outputs never destroy inputs; bad flags exit 2 at parsing;
small promises of the command line (the user's intent for paths, readable messages)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from helpers import clip_with_masks, frame_folder, read_video, scene

from moebius_video.cli import main


@pytest.fixture
def clip(tmp_path: Path) -> tuple[Path, Path, Path]:
    return clip_with_masks(tmp_path, scene(frames=6), audio=False)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (to prove nothing changed)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------------------
# 1. No output may be, or contain, an input (with or without -y)
# --------------------------------------------------------------------------------------


def _cases(tmp_path: Path, video: Path, masks: Path, first: Path) -> dict[str, list[str]]:
    frames = frame_folder(tmp_path / "frames", scene(frames=6))
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "00000.png").write_bytes(first.read_bytes())
    (tmp_path / "a").mkdir()
    link = tmp_path / "link.mp4"
    link.symlink_to(video)
    box = ["--box", "30,20,20,16"]
    mask_video = tmp_path / "m.mp4"
    mask_video.write_bytes(video.read_bytes())
    return {
        "save_masks_is_input": ["remove", str(video), *box, "-o", str(tmp_path / "o.mp4"),
                                "--save-masks", str(video)],
        "save_masks_is_frame_folder": ["remove", str(frames), *box, "-o", str(tmp_path / "o.mp4"),
                                       "--save-masks", str(frames)],
        "output_is_keyframes": ["remove", str(video), "--keyframes", str(keys), "-o", str(keys) + "/"],
        "output_is_masks": ["remove", str(video), "--masks", str(masks), "-o", str(masks)],
        "output_is_mask_video": ["remove", str(video), "--mask-video", str(mask_video), "-o",
                                 str(mask_video)],
        "output_is_mask_png": ["remove", str(video), "--mask", str(first), "-o", str(first)],
        "output_contains_input": ["remove", str(video), *box, "-o", str(tmp_path) + "/"],
        "dotdot": ["remove", str(video), *box, "-o", f"{tmp_path}/a/../{video.name}"],
        "symlink": ["remove", str(video), *box, "-o", str(link)],
        "two_outputs_same_place": ["remove", str(video), *box, "-o", str(tmp_path / "x") + "/",
                                   "--save-masks", str(tmp_path / "x")],
        "stream_same": ["stream", str(video), str(video), *box],
        "stream_dotdot": ["stream", str(video), f"{tmp_path}/a/../{video.name}", *box],
        "stream_file_url": ["stream", f"file:{video}", str(video), *box],
        "track_save_masks_is_input": ["track", str(video), *box, "--save-masks", str(video)],
        "review_is_input": ["remove", str(video), *box, "-o", str(tmp_path / "o.mp4"),
                            "--review", str(video)],
        "review_is_output": ["remove", str(video), *box, "-o", str(tmp_path / "o.mp4"),
                             "--review", str(tmp_path / "o.mp4")],
    }


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "-y"])
@pytest.mark.parametrize("case", [
    "save_masks_is_input", "save_masks_is_frame_folder", "output_is_keyframes", "output_is_masks",
    "output_is_mask_video", "output_is_mask_png", "output_contains_input", "dotdot", "symlink",
    "two_outputs_same_place", "stream_same", "stream_dotdot", "stream_file_url",
    "track_save_masks_is_input", "review_is_input", "review_is_output",
])
def test_no_output_may_be_or_contain_an_input(case: str, overwrite: bool, clip, tmp_path: Path,
                                               capsys) -> None:  # type: ignore[no-untyped-def]
    video, masks, first = clip
    argv = _cases(tmp_path, video, masks, first)[case]
    if overwrite:
        argv.append("-y")
    before = _tree(tmp_path)
    names_before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = _run(argv, capsys)
    assert code == 1, err
    assert "error:" in err and "Traceback" not in err
    assert any(word in err for word in ("is the", "contains the", "overlap")), err
    assert _tree(tmp_path) == before  # every input intact, byte for byte
    assert sorted(p.name for p in tmp_path.iterdir()) == names_before  # nothing left behind
    frames, _, _, _ = read_video(video)
    assert len(frames) == 6


def test_library_refuses_a_mask_folder_over_the_input(clip, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from moebius_video.engine.remove import EncodeConfig, MaskInput, remove_object
    from moebius_video.errors import OutputError

    video, _, _ = clip
    with pytest.raises(OutputError, match="save_masks"):
        remove_object(video, tmp_path / "o.mp4", MaskInput(box=(30, 20, 20, 16)),
                      encode=EncodeConfig(overwrite=True), save_masks=video)
    with pytest.raises(OutputError, match="review"):
        remove_object(video, tmp_path / "o.mp4", MaskInput(box=(30, 20, 20, 16)),
                      encode=EncodeConfig(overwrite=True), review=video)
    assert video.is_file()


# --------------------------------------------------------------------------------------
# 9 and 14. Numeric flags, ports and malformed boxes are usage errors (exit 2, no traceback)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, needle", [
    (["stream", "in.mp4", "out.mp4", "--box", "1,2,3,4", "--http", "70000"], "between 0 and 65535"),
    (["webcam", "--http", "-1"], "between 0 and 65535"),
    (["remove", "x.mp4", "--box", "1,2,3,4", "-o", "y.mp4", "--crf", "100"], "--crf"),
    (["remove", "x.mp4", "--box", "1,2,3,4", "-o", "y.mp4", "--crf", "60"], "libx264"),
    (["remove", "x.mp4", "--box", "1,2,3,4", "-o", "y.mp4", "--mask-threshold", "300"], "--mask-threshold"),
    (["remove", "x.mp4", "--box", "1,2,3", "-o", "y.mp4"], "x,y,w,h"),
    (["remove", "x.mp4", "--box", "1,2,0,4", "-o", "y.mp4"], "positive"),
    (["stream", "in.mp4", "out.mp4", "--box", "a,b,c,d"], "x,y,w,h"),
    (["remove", "x.mp4", "--box", "1,2,3,4", "-o", "y.mp4", "--start", "9", "--end", "3"], "--end"),
    (["remove", "x.mp4", "--box", "1,2,3,4", "-o", "y.mp4", "--model-steps", "0"], ">= 1"),
    (["remove", "x.mp4", "--box", "1,2,3,4", "-o", "-"], "standard output"),
    (["demo", "--size", "640by360"], "WxH"),
    (["demo", "--frames", "-5"], ">= 1"),
    (["webcam", "--size", "0x0"], "2x2"),
    (["webcam", "--device", "cam1"], "camera index"),
    (["train", "data", "-o", "run", "--uncond-prob", "2"], "between 0 and 1"),
    (["train", "data", "-o", "run", "--hole-weight", "-1"], ">= 0"),
    (["bench", "pipeline", "--frames", "0"], ">= 1"),
    (["bench", "live", "--fps", "0"], "positive"),
    (["bench", "fill", "--hole", "1.5"], "between 0 and 1"),
    (["bench", "soak", "--frames", "-3"], ">= 1"),
    (["eval", "image", "--count", "0"], ">= 1"),
    (["eval", "completion", "--dilate", "-2"], "--dilate"),
    (["eval", "tracking", "--keyframe-every", "0"], ">= 1"),
])
def test_bad_numbers_exit_2_at_parsing(argv: list[str], needle: str, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err, err


def test_fps_on_a_video_input_is_refused(clip, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    video, _, first = clip
    with pytest.raises(SystemExit) as info:
        main(["remove", str(video), "--mask", str(first), "-o", str(tmp_path / "o.mp4"), "--fps", "50"])
    assert info.value.code == 2
    assert "--fps applies to frame-folder inputs" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# 4. A mask that covers the whole frame once dilated is refused
# --------------------------------------------------------------------------------------


def test_whole_frame_after_dilation_is_an_error(clip, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    video, _, _ = clip  # 96x64: this box leaves a 2-pixel strip, which the dilation covers
    code, _, err = _run(["remove", str(video), "--box", "0,0,96,62", "-o", str(tmp_path / "o.mp4")],
                        capsys)
    assert code == 1
    assert "whole frame" in err and "dilate" in err
    assert not (tmp_path / "o.mp4").exists()
    code, _, err = _run(["remove", str(video), "--box", "0,0,96,62", "--dilate", "0",
                         "-o", str(tmp_path / "o.mp4")], capsys)
    assert code == 0, err  # without the dilation the strip is kept and fills the rest


def test_whole_frame_after_dilation_is_refused_by_the_live_engine() -> None:
    from moebius_video.engine.live import LiveConfig, LiveEngine
    from moebius_video.errors import InvalidMaskError
    from moebius_video.io.capture import FakeCapture

    source = FakeCapture([np.zeros((64, 96, 3), np.uint8)], num_frames=5)
    with pytest.raises(InvalidMaskError, match="whole frame"):
        LiveEngine(source, [], LiveConfig(mode="all", dilate=4), box=(0, 0, 96, 62))
    source.close()


# --------------------------------------------------------------------------------------
# 10 and 14. Paths as the user typed them
# --------------------------------------------------------------------------------------


def test_trailing_separator_means_a_folder_even_with_a_dot(clip, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    video, _, first = clip
    (tmp_path / "out").mkdir()
    code, out, err = _run(["remove", str(video), "--mask", str(first), "--fill", "telea",
                           "-o", str(tmp_path / "out" / "run.v2") + "/"], capsys)
    assert code == 0, err
    folder = tmp_path / "out" / "run.v2"
    assert folder.is_dir() and len(list(folder.glob("*.png"))) == 6


def test_dev_null_discards_the_output(clip, capsys) -> None:  # type: ignore[no-untyped-def]
    video, _, first = clip
    code, out, err = _run(["remove", str(video), "--mask", str(first), "--fill", "telea",
                           "-o", os.devnull], capsys)
    assert code == 0, err
    assert "6 frames" in out and "not a folder" not in err
    assert Path(os.devnull).is_char_device()


def test_wrote_line_says_the_rate_is_processing_speed(clip, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    video, _, first = clip
    code, out, _ = _run(["remove", str(video), "--mask", str(first), "--fill", "telea",
                         "-o", str(tmp_path / "o.mp4")], capsys)
    assert code == 0
    assert "processed at" in out and "frames/s" in out


def test_range_messages_have_no_python_none(clip, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    video, _, first = clip
    code, _, err = _run(["remove", str(video), "--mask", str(first), "-o", str(tmp_path / "o.mp4"),
                         "--start", "200"], capsys)
    assert code == 1
    assert "None" not in err and "from frame 200 on" in err


# --------------------------------------------------------------------------------------
# Special files are never renamed over (as root, `stream in.mp4 /dev/null -y` used to put a
# regular file in place of /dev/null). A FIFO stands in for a device here.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["remove", "stream", "save-masks"])
def test_a_device_or_pipe_is_never_replaced(command: str, clip, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import stat

    video, _, first = clip
    fifo = tmp_path / ("special.mp4" if command != "save-masks" else "special")
    os.mkfifo(fifo)
    box = ["--box", "30,20,20,16"]
    argv = {
        "remove": ["remove", str(video), *box, "-o", str(fifo), "-y"],
        "stream": ["stream", str(video), str(fifo), *box, "-y"],
        "save-masks": ["remove", str(video), *box, "-o", str(tmp_path / "o.mp4"), "--save-masks",
                       str(fifo), "-y"],
    }[command]
    code, _, err = _run(argv, capsys)
    assert code == 1, err
    assert "refusing to replace it" in err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still the pipe it was
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_stream_to_dev_null_discards(clip, capsys) -> None:  # type: ignore[no-untyped-def]
    video, _, _ = clip
    code, out, err = _run(["stream", str(video), os.devnull, "--box", "30,20,20,16", "-y"], capsys)
    assert code == 0, err
    assert "6 frames out of 6" in out
    assert Path(os.devnull).is_char_device()
