"""``batch`` on a real local Ray (2 CPUs), started once for the module.

Skipped with the reason when Ray is not installed (``pip install "moebius-video[batch]"``;
CI installs it).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from moebius_video.batch import BatchConfig, BatchJob, run_batch
from moebius_video.cli import main
from moebius_video.engine.remove import MaskInput, RemoveConfig

ray = pytest.importorskip("ray", reason='Ray is not installed: pip install "moebius-video[batch]"')


@pytest.fixture(scope="module")
def local_ray():  # type: ignore[no-untyped-def]
    """One local Ray with 2 CPUs for the module (its start costs seconds)."""
    if ray.is_initialized():
        ray.shutdown()
    for attempt in range(3):
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.ERROR)
            break
        except Exception:  # Ray gives its raylet 30 s to start: too short on a loaded machine
            ray.shutdown()
            if attempt == 2:
                raise
    yield ray
    ray.shutdown()


def test_four_jobs_two_fail_then_rerun_skips_the_done(local_ray, four_jobs: Path, tmp_path: Path, check_four_job_report,  # type: ignore[no-untyped-def]
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["batch", str(four_jobs), "-o", str(out), "--cpus-per-job", "1"])
    stdout, err = capsys.readouterr()
    assert code == 1
    assert "2 of 4 jobs failed" in err
    assert "ray (already running, 2 CPUs)" in stdout
    report = check_four_job_report(out)
    assert report["runner"].startswith("ray")
    stamps = {n: (out / n).stat().st_mtime_ns for n in ("a.mp4", "b_out.mp4")}

    code = main(["batch", str(four_jobs), "-o", str(out)])
    stdout, _ = capsys.readouterr()
    assert code == 1
    check_four_job_report(out, rerun=True)
    assert {n: (out / n).stat().st_mtime_ns for n in stamps} == stamps


def _kill_mid_job(state: Path, key: str, partial: str, killed: list[int],
                  stop: threading.Event) -> None:
    """Once the job is running and writing its output (its temporary file exists), SIGKILL
    its worker process (once)."""
    marker = state / "running" / key
    out = state.parent
    while not stop.is_set():
        try:
            host_pid = marker.read_text().split()
            writing = any(p.name.startswith(partial) for p in out.iterdir())
        except OSError:
            host_pid, writing = [], False
        if len(host_pid) == 2 and writing:
            pid = int(host_pid[1])
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.005)


@pytest.mark.parametrize("retries", [1, 0])
def test_a_killed_worker_is_retried(local_ray, tmp_path: Path, clip_factory, retries: int) -> None:  # type: ignore[no-untyped-def]
    from helpers import read_video

    # Long enough that the kill lands mid-job (a few seconds of work), small enough to be quick.
    long_clip, mask = clip_factory(tmp_path, "long", frames=120, width=320, height=180, seed=7)
    short_clip, short_mask = clip_factory(tmp_path, "short", seed=8)
    out = tmp_path / "out"
    jobs = [
        BatchJob(input=long_clip, output=out / "long.mp4", masks=MaskInput(mask=mask),
                 config=RemoveConfig(fill="telea"), where="long"),
        BatchJob(input=short_clip, output=out / "short.mp4", masks=MaskInput(mask=short_mask),
                 config=RemoveConfig(fill="telea"), where="short"),
    ]
    killed: list[int] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_kill_mid_job,
                               args=(out / ".moebius-batch", "000000", ".long.partial-", killed, stop),
                               daemon=True)
    watcher.start()
    try:
        report = run_batch(jobs, out, BatchConfig(retries=retries))
    finally:
        stop.set()
        watcher.join()
    assert len(killed) == 1
    long_result, short_result = report.jobs
    assert short_result.status == "done"
    if retries:
        assert long_result.status == "done", long_result.error
        assert long_result.attempts == 2
        frames, _, _, _ = read_video(out / "long.mp4")
        assert len(frames) == 120
    else:
        assert long_result.status == "failed"
        assert "its worker died (1 attempt)" in long_result.error
        assert not (out / "long.mp4").exists()
        # The dead worker's temporary file is all that is left of the job; running the
        # batch again (resuming after a crash) deletes it and does only that job.
        assert [p.name.startswith(".long.partial-") for p in out.iterdir() if ".partial-" in p.name] == [True]
        again = run_batch(jobs, out, BatchConfig(retries=0))
        assert [j.status for j in again.jobs] == ["done", "skipped"]
    assert [p.name for p in out.iterdir() if ".partial-" in p.name] == []


def _ray_processes(temp_dir: str) -> list[int]:
    """Processes whose command line names ``temp_dir`` (the Ray started by one batch)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if temp_dir.encode() in cmdline:
            pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find Ray's processes")
def test_local_ray_is_quiet_and_shut_down_on_ctrl_c(tmp_path: Path, clip_factory) -> None:  # type: ignore[no-untyped-def]
    """The command as a user runs it: its own local Ray, Ctrl-C in the middle."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        clip_factory(src, f"clip{i}", frames=150, width=320, height=180, seed=i)
    out = tmp_path / "out"
    # A short private temp dir (Ray's socket paths must stay under ~107 characters).
    ray_tmp = tempfile.mkdtemp(prefix="mvray", dir="/tmp")
    env = {**os.environ, "RAY_TMPDIR": ray_tmp, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moebius_video", "batch", str(src), "-o", str(out),
         "--workers", "2", "--fill", "telea"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        # Interrupt once a job is running.
        running = out / ".moebius-batch" / "running"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if running.is_dir() and any(running.iterdir()):
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        assert _ray_processes(ray_tmp), "the batch started no Ray of its own"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    # Quiet: no Ray banner, no worker logs; the interruption is said once, with the report.
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[-1] == "moebius-video: interrupted (Ctrl-C)", stderr
    assert all(line.startswith("moebius-video: ") for line in lines), stderr
    from moebius_video.batch import load_report

    report = load_report(out / "report.json")
    assert report["state"] == "interrupted"
    statuses = [j["status"] for j in report["jobs"]]
    assert "interrupted" in statuses
    assert set(statuses) <= {"done", "interrupted", "pending"}
    assert not any(".partial-" in p.name for p in out.iterdir())  # cancelled jobs cleaned up
    # Ray's processes end with the batch.
    deadline = time.monotonic() + 30
    while _ray_processes(ray_tmp) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _ray_processes(ray_tmp) == []
    shutil.rmtree(ray_tmp, ignore_errors=True)  # the session's logs
