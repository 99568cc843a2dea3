"""Issue #15 item 3: every mask/PNG write is checked; a full disk is an error that says
"no space left" and leaves nothing half-written.

Two ways to fill a disk: a real 64 KB tmpfs (needs root and ``mount``; skipped otherwise),
and ``ENOSPC`` injected at the OS level (``os.write`` fails once a budget of bytes is spent,
for files under one folder only), which runs everywhere.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import clip_with_masks, scene

from moebius_video.cli import main
from moebius_video.errors import OutputError
from moebius_video.io.masks import save_mask


@pytest.fixture
def clip(tmp_path: Path) -> tuple[Path, Path, Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    return clip_with_masks(folder, scene(width=160, height=96, frames=40), audio=False)


@pytest.fixture
def full_disk_after(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``full_disk_after(folder, budget)``: writes to files under ``folder`` fail with ENOSPC
    once ``budget`` bytes were written there (a disk that fills up part way)."""
    real_write = os.write

    def install(folder: Path, budget: int) -> None:
        state = {"left": budget}
        prefix = str(folder.resolve())

        def write(fd: int, data) -> int:  # type: ignore[no-untyped-def]
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                target = ""
            if not target.startswith(prefix):
                return real_write(fd, data)
            if state["left"] <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            chunk = bytes(memoryview(data)[: state["left"]])
            state["left"] -= len(chunk)
            return real_write(fd, chunk)  # a short write, as a filling disk gives

        monkeypatch.setattr(os, "write", write)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc/self/fd to tell the target files apart")
    return install


def test_write_file_short_then_full(tmp_path: Path, full_disk_after) -> None:  # type: ignore[no-untyped-def]
    from moebius_video.io.paths import write_file

    full_disk_after(tmp_path, 1000)
    with pytest.raises(OutputError, match="no space left on device"):
        write_file(tmp_path / "a.bin", b"x" * 5000)
    assert not (tmp_path / "a.bin").exists()  # the partial file is removed


def test_save_mask_on_a_full_disk_raises(tmp_path: Path, full_disk_after) -> None:  # type: ignore[no-untyped-def]
    full_disk_after(tmp_path, 0)
    with pytest.raises(OutputError, match="no space left"):
        save_mask(tmp_path / "m.png", np.ones((64, 96), bool))
    assert list(tmp_path.iterdir()) == []


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("what", ["--save-masks", "png-output"])
def test_cli_full_disk_injected(what: str, clip, tmp_path: Path, full_disk_after, capsys) -> None:  # type: ignore[no-untyped-def]
    video, _, first = clip
    out = tmp_path / "out"
    out.mkdir()
    argv = ["remove", str(video), "--mask", str(first), "--fill", "telea"]
    if what == "--save-masks":
        argv += ["-o", str(out / "o.mp4"), "--save-masks", str(out / "masks")]
    else:
        argv += ["-o", str(out / "frames") + "/"]
    full_disk_after(out, 3_000 if what == "--save-masks" else 60_000)  # a few PNGs fit, then no more
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 1, err
    assert "no space left on device" in err and "Traceback" not in err
    assert _leftovers(out) == []  # no output, no half-written folder


def _mount_tmpfs(where: Path, size: str) -> bool:
    if os.geteuid() != 0:
        return False
    where.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, check=False)
    return proc.returncode == 0


@pytest.mark.parametrize("what", ["--save-masks", "png-output", "video-output"])
def test_cli_full_disk_real_tmpfs(what: str, clip, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    video, _, first = clip
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "64k"):
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    try:
        argv = ["remove", str(video), "--mask", str(first), "--fill", "telea"]
        if what == "--save-masks":
            argv += ["-o", str(tmp_path / "o.mp4"), "--save-masks", str(disk / "masks")]
        elif what == "png-output":
            argv += ["-o", str(disk / "frames") + "/"]
        else:
            argv += ["-o", str(disk / "o.mkv"), "--crf", "0", "--preset", "ultrafast"]
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 1, err
        assert "no space left on device" in err and "Traceback" not in err
        assert _leftovers(disk) == []
        assert not (tmp_path / "o.mp4").exists()
    finally:
        subprocess.run(["umount", str(disk)], check=False)
