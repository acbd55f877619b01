"""Cases on a Dask distributed cluster: an existing scheduler (``--scheduler ADDRESS``) or workers started
through dask-jobqueue (``--cluster slurm|pbs|sge``). One task per case; each worker process keeps its
models loaded (:mod:`.worker`). When a worker dies mid-case, the scheduler runs the case again on another
worker (its half-done temporary folder is never committed; a case finished twice is committed once), so
nothing is lost or duplicated. Case folders are the results: workers need the output folder on a shared
file system, as cluster jobs usually have."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ..errors import InputError
from .case import CaseTask, run_case_task

CLUSTERS = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster"}
RETRIES = 3  # per task, on top of the scheduler's rescheduling after a lost worker
IN_FLIGHT_PER_WORKER = 2


def cluster_kwargs(options: dict[str, str]) -> dict[str, Any]:
    """dask-jobqueue keyword arguments: one single-threaded worker process per job unless told otherwise
    (the networks use one thread each), numbers as numbers."""
    kwargs: dict[str, Any] = {"cores": 1, "processes": 1, "memory": "4GiB"}
    for key, value in options.items():
        kwargs[key.replace("-", "_")] = int(value) if value.isdigit() else value
    return kwargs


def make_cluster(kind: str, options: dict[str, str]) -> Any:
    """The dask-jobqueue cluster object (its scheduler runs in this process)."""
    if kind not in CLUSTERS:
        raise InputError(f"unknown cluster kind {kind!r}; use {', '.join(CLUSTERS)}", field="--cluster")
    try:
        module = importlib.import_module("dask_jobqueue")
    except ImportError:
        raise InputError("--cluster needs dask-jobqueue (pip install dask-jobqueue); or start workers yourself and "
                         "pass --scheduler ADDRESS", field="--cluster") from None
    try:
        return getattr(module, CLUSTERS[kind])(**cluster_kwargs(options))
    except (TypeError, ValueError) as exc:
        raise InputError(f"dask-jobqueue refused the cluster options: {exc}", field="--cluster-option") from None


def _client(scheduler: str | None, cluster: Any) -> Any:
    from distributed import Client

    try:
        return Client(cluster) if cluster is not None else Client(scheduler, timeout="20s")
    except OSError as exc:
        raise InputError(f"cannot reach the Dask scheduler ({exc})", field="--scheduler") from None


def run_dask(tasks: list[CaseTask], on_done: Callable[[dict[str, Any]], None], *, scheduler: str | None,
             cluster: str | None = None, cluster_options: dict[str, str] | None = None, jobs: int = 1) -> None:
    """Run every task on the cluster; ``on_done`` gets each case's state as it commits."""
    from distributed import as_completed

    job_cluster = make_cluster(cluster, cluster_options or {}) if cluster else None
    if job_cluster is not None:
        job_cluster.scale(jobs=jobs)
    client = _client(scheduler, job_cluster)
    try:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        queue = iter(tasks)
        futures = as_completed()
        for task in queue:
            futures.add(_submit(client, task))
            if futures.count() >= IN_FLIGHT_PER_WORKER * workers:
                break
        for future in futures:
            on_done(future.result())
            future.release()
            task = next(queue, None)
            if task is not None:
                futures.add(_submit(client, task))
    finally:
        client.close()
        if job_cluster is not None:
            job_cluster.close()


def _submit(client: Any, task: CaseTask) -> Any:
    key = f"musclequant-case-{task.case.case_id}-{task.fingerprint['input_sha256'][:12]}"
    return client.submit(run_case_task, task, key=key, pure=False, retries=RETRIES)
