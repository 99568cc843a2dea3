"""``batch --no-ray`` and the batch's bookkeeping (skip, report, lock, Ctrl-C), without Ray."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import InterruptingFiller, read_video

from moebius_video.batch import BatchConfig, BatchJob, load_report, run_batch
from moebius_video.cli import main
from moebius_video.engine.remove import MaskInput, RemoveConfig
from moebius_video.errors import OutputError


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_no_ray_runs_every_job_and_records_failures(four_jobs: Path, tmp_path: Path, check_four_job_report,  # type: ignore[no-untyped-def]
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, stdout, err = _run(["batch", str(four_jobs), "-o", str(out), "--no-ray"], capsys)
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        f"moebius-video: error: 2 of 4 jobs failed; see {out / 'report.json'}")
    table = stdout.splitlines()
    assert table[0].split()[:4] == ["job", "output", "status", "frames"]
    assert [line.split()[4] for line in table[1:5]] == ["done", "done", "failed", "failed"]
    assert "4 jobs: 2 done, 2 failed; 24 frames" in stdout and "sequential" in stdout
    check_four_job_report(out)
    stamps = {n: (out / n).stat().st_mtime_ns for n in ("a.mp4", "b_out.mp4")}

    # The same command again: the two done are skipped (untouched), the two failed run again.
    code, stdout, err = _run(["batch", str(four_jobs), "-o", str(out), "--no-ray"], capsys)
    assert code == 1
    check_four_job_report(out, rerun=True)
    assert {n: (out / n).stat().st_mtime_ns for n in stamps} == stamps

    # -y runs everything again.
    code, stdout, _ = _run(["batch", str(four_jobs), "-o", str(out), "--no-ray", "-y"], capsys)
    assert code == 1 and "2 done, 2 failed" in stdout
    assert all((out / n).stat().st_mtime_ns != t for n, t in stamps.items())


def test_folder_mode_end_to_end(tmp_path: Path, clip_factory, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "shoot"
    src.mkdir()
    clip_factory(src, "one", seed=4)
    clip_factory(src, "two", seed=5)
    (src / "two.mask.png").unlink()
    (src / "two.box.txt").write_text("30,20,20,16")
    out = src / "clean"  # inside the folder: not scanned, and no output is an input
    code, stdout, err = _run(["batch", str(src), "-o", str(out), "--no-ray", "--fill", "telea"], capsys)
    assert code == 0, err
    assert "2 jobs: 2 done, 0 failed" in stdout
    for name in ("one", "two"):
        frames, _, _, _ = read_video(out / f"{name}.mp4")
        source, _, _, _ = read_video(src / f"{name}.mp4")
        assert len(frames) == len(source) == 12
        # The object is filled: the frames differ from the source inside the mask only.
        diff = np.abs(frames[0].astype(int) - source[0].astype(int)).max(axis=2)
        assert diff.max() > 30
    code, stdout, _ = _run(["batch", str(src), "-o", str(out), "--no-ray"], capsys)
    assert code == 0 and "2 skipped" in stdout


def _job(folder: Path, name: str, mask: Path, out: Path, **kw: object) -> BatchJob:
    return BatchJob(input=folder / f"{name}.mp4", output=out / f"{name}.mp4",
                    masks=MaskInput(mask=mask), config=RemoveConfig(fill="telea"),
                    where=name, **kw)  # type: ignore[arg-type]


def test_ctrl_c_leaves_a_report_and_no_partial_output(tmp_path: Path, clip_factory) -> None:  # type: ignore[no-untyped-def]
    a, mask = clip_factory(tmp_path, "a", seed=1)
    clip_factory(tmp_path, "b", seed=2)
    clip_factory(tmp_path, "c", seed=3)
    out = tmp_path / "out"
    jobs = [_job(tmp_path, "a", mask, out), _job(tmp_path, "b", mask, out, filler=InterruptingFiller),
            _job(tmp_path, "c", mask, out)]
    with pytest.raises(KeyboardInterrupt):
        run_batch(jobs, out, BatchConfig(use_ray=False))
    report = load_report(out / "report.json")
    assert report["state"] == "interrupted"
    assert [j["status"] for j in report["jobs"]] == ["done", "interrupted", "pending"]
    assert sorted(p.name for p in out.iterdir()) == [".moebius-batch", "a.mp4", "report.json"]
    # Resumed: a is skipped, b and c run.
    jobs[1] = _job(tmp_path, "b", mask, out)
    report2 = run_batch(jobs, out, BatchConfig(use_ray=False))
    assert [j.status for j in report2.jobs] == ["skipped", "done", "done"]
    assert report2.ok and report2.jobs[0].frames == 12  # carried over from the first report


def test_stale_partial_outputs_are_deleted_and_a_second_batch_is_refused(tmp_path: Path, clip_factory) -> None:  # type: ignore[no-untyped-def]
    import fcntl

    _, mask = clip_factory(tmp_path, "a", seed=1)
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".a.partial-0123abcd.mp4"  # what a killed worker leaves behind
    stale.write_bytes(b"half a video")
    keep = out / ".other.partial-0123abcd.mp4"  # another output's: not this job's business
    keep.write_bytes(b"x")
    jobs = [_job(tmp_path, "a", mask, out)]
    (out / ".moebius-batch").mkdir()
    with open(out / ".moebius-batch" / "lock", "w") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(OutputError, match="another batch is writing to"):
            run_batch(jobs, out, BatchConfig(use_ray=False))
    assert stale.exists()
    report = run_batch(jobs, out, BatchConfig(use_ray=False))
    assert report.ok and not stale.exists() and keep.exists()


def test_without_ray_installed_batch_says_how_to_get_it(four_jobs: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    out = tmp_path / "out"
    code, _, err = _run(["batch", str(four_jobs), "-o", str(out)], capsys)
    assert code == 1
    assert 'pip install "moebius-video[batch]"' in err and "--no-ray" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_batch_package_imports_without_ray() -> None:
    import subprocess

    code = ("import sys; sys.modules['ray'] = None; import moebius_video.batch, moebius_video.cli.batch; "
            "import moebius_video.batch.runner as r; print('ray' in sys.modules and sys.modules['ray'] is not None)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_report_is_json_with_every_field(four_jobs: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    _run(["batch", str(four_jobs), "-o", str(out), "--no-ray"], capsys)
    job = json.loads((out / "report.json").read_text())["jobs"][0]
    assert set(job) >= {"input", "output", "where", "status", "frames", "seconds", "cpu_seconds", "error",
                        "warnings", "attempts", "host", "frames_per_second"}
    assert job["attempts"] == 1
    assert 0 < job["cpu_seconds"] < 600
