"""Many videos at once: ``moebius-video batch``, one :func:`~moebius_video.remove_object`
call per video, run as Ray tasks (a local Ray, or a cluster's with ``address``) or one
after another without Ray.

Ray is optional (``pip install "moebius-video[batch]"``) and imported only when a batch
runs on it::

    from moebius_video.batch import BatchConfig, BatchJob, run_batch
    from moebius_video import MaskInput

    jobs = [BatchJob(Path(f"in/{n}.mp4"), Path(f"out/{n}.mp4"), MaskInput(box=(10, 10, 50, 50)))
            for n in names]
    report = run_batch(jobs, "out", BatchConfig(workers=4))
"""

from moebius_video.batch.jobs import BatchJob, JobResult, check_jobs
from moebius_video.batch.manifest import ManifestError, ManifestRow, read_jobs
from moebius_video.batch.runner import (
    INSTALL_HINT,
    REPORT_NAME,
    BatchConfig,
    BatchReport,
    RayNotInstalledError,
    load_report,
    run_batch,
)

__all__ = [
    "INSTALL_HINT",
    "REPORT_NAME",
    "BatchConfig",
    "BatchJob",
    "BatchReport",
    "JobResult",
    "ManifestError",
    "ManifestRow",
    "RayNotInstalledError",
    "check_jobs",
    "load_report",
    "read_jobs",
    "run_batch",
]
