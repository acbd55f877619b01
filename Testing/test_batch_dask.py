"""Batch on a Dask LocalCluster of separate worker processes (issue 15 item 6): the same table as the local
run, each worker loading the models once, and a worker killed in the middle of a case loses nothing (the
scheduler runs the case again elsewhere; it is committed exactly once)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("distributed", reason="batch on Dask needs the 'batch' extra (pip install -e .[batch])")
pytest.importorskip("highdicom", reason="batch needs the 'batch' extra (pip install -e .[batch])")

import batch_helpers as H  # noqa: E402

from MuscleQuantLib.batch.phantom_studies import StudySpec, write_study  # noqa: E402
from MuscleQuantLib.batch.run import run_batch  # noqa: E402
from MuscleQuantLib.batch.settings import BatchSettings  # noqa: E402

N_STUDIES = 4


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("dask")
    for i in range(N_STUDIES):
        write_study(StudySpec(f"D{i}", seed=40 + i, has_level=i != 2, oblique_deg=12.0 if i == 1 else 0.0),
                    root / "studies")
    model = H.tiny_l3_model(root / "model")
    H.ensure_importable()  # the spawned workers import the stand-in level model by name
    local = root / "local"
    run_batch(root / "studies", _settings(local, model))
    return root, model, pd.read_csv(local / "measurements.csv")


def _settings(out: Path, model: Path) -> BatchSettings:
    return BatchSettings(preset="l3", out=out, model=model, level_finder=H.LEVEL_FINDER, qa_png=False)


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as local_cluster, Client(local_cluster) as client:
        yield local_cluster, client


def _loads(client) -> list[int]:
    from MuscleQuantLib.batch import worker

    return sorted(client.run(lambda: worker.LOADS["count"]).values())


@pytest.mark.slow
def test_local_cluster_gives_the_local_table_and_loads_models_once_per_worker(setup, cluster):
    root, model, expected = setup
    local_cluster, client = cluster
    pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids  # separate worker processes
    summary = run_batch(root / "studies", _settings(root / "dask", model), scheduler=local_cluster.scheduler_address)
    assert summary["ran"] == N_STUDIES and summary["executor"].startswith("dask")
    pd.testing.assert_frame_equal(pd.read_csv(root / "dask" / "measurements.csv"), expected)
    assert sum(_loads(client)) <= 2 and max(_loads(client)) == 1  # at most once in each worker process


@pytest.mark.slow
def test_a_worker_killed_mid_case_loses_nothing(setup, cluster):
    root, model, expected = setup
    local_cluster, client = cluster
    out = root / "killed"
    killed: list[str] = []

    def kill_one_worker_mid_case() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            cases = out / "cases"
            busy = [w for w, keys in client.processing().items() if keys]
            if cases.is_dir() and any(p.name.startswith(".tmp-") for p in cases.iterdir()) and busy:
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(busy[0])
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=kill_one_worker_mid_case, daemon=True)
    watcher.start()
    summary = run_batch(root / "studies", _settings(out, model), scheduler=local_cluster.scheduler_address)
    watcher.join(timeout=5)
    assert killed, "no worker was killed"
    table = pd.read_csv(out / "measurements.csv")
    assert table["case_id"].is_unique and summary["failed"] == 0
    pd.testing.assert_frame_equal(table, expected)
    assert not [p.name for p in (out / "cases").iterdir() if p.name.startswith(".")]
