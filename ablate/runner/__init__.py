"""`ablate run`: train (variant, game, seed) jobs, tracked in MLflow, in up to K processes, resumable.

Flow: `plan_run` checks every input before anything is recorded; `run_variants` opens the store once, then one
parent run per variant, then runs the jobs (in this process when K = 1, else in K spawned processes), and closes
each parent with the aggregates of its finished children. A job's child run is created, or with resume found
again, just before the job starts. A study trial uses the same pieces: `open_parent`, `run_children`,
`close_parent`.

The modules: `jobs` (a job and its outcome), `plan` (every job of a request, checked), `progress` (the live view's
state and ETA), `execute` (one job in this process), `parents` (the parent runs), `dispatch` (jobs here or in
processes) and `run` (`ablate run`).
"""

from __future__ import annotations

from ablate.runner.dispatch import device_pool, run_children
from ablate.runner.jobs import Job, JobOutcome, JobStopped, directory_name
from ablate.runner.parents import close_parent, open_parent
from ablate.runner.plan import RunRequest, parse_seeds, plan_run
from ablate.runner.progress import JobProgress, Progress
from ablate.runner.run import RunSummary, run_variants

__all__ = [
    "Job",
    "JobOutcome",
    "JobProgress",
    "JobStopped",
    "Progress",
    "RunRequest",
    "RunSummary",
    "close_parent",
    "device_pool",
    "directory_name",
    "open_parent",
    "parse_seeds",
    "plan_run",
    "run_children",
    "run_variants",
]
