"""Kill the batch with SIGKILL at three random points and resume each time (issue 15 item 5): right after
every kill no case folder is half-written, and the final table equals that of an uninterrupted run with
no case twice."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("highdicom", reason="batch needs the 'batch' extra (pip install -e .[batch])")

import batch_helpers as H  # noqa: E402

from MuscleQuantLib.batch.phantom_studies import StudySpec, write_study  # noqa: E402
from MuscleQuantLib.batch.run import run_batch  # noqa: E402
from MuscleQuantLib.batch.settings import BatchSettings  # noqa: E402

N_STUDIES = 5


def _complete_case_folders(out: Path) -> list[str]:
    """Every visible case folder must be whole: its case.json and every output it lists."""
    names = []
    for folder in sorted((out / "cases").iterdir()) if (out / "cases").is_dir() else []:
        if folder.name.startswith("."):
            continue  # a temporary folder of the killed run: invisible, removed on resume
        state = json.loads((folder / "case.json").read_text(encoding="utf-8"))
        missing = [n for n in state["outputs"].values() if not (folder / n).is_file()]
        assert not missing, (folder.name, missing)
        names.append(folder.name)
    return names


def _run_until_killed(source: Path, out: Path, model: Path, cases_before_kill: int, extra_s: float) -> bool:
    """Start a batch process, SIGKILL it ``extra_s`` after its ``cases_before_kill``-th committed case;
    False if it finished first."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([H.TESTING, os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, str(Path(H.TESTING) / "batch_helpers.py"), str(source), str(out),
                                str(model), "--no-qa"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env=env)
    try:
        seen = 0
        for line in process.stdout:
            if '"case"' in line:
                seen += 1
            if seen >= cases_before_kill:
                time.sleep(extra_s)
                break
        killed = process.poll() is None
        process.send_signal(signal.SIGKILL)
        return killed
    finally:
        process.kill()
        process.wait(timeout=30)
        process.stdout.close()


@pytest.mark.slow
def test_sigkill_at_three_random_points_then_resume_equals_uninterrupted_run(tmp_path):
    source = tmp_path / "studies"
    for i in range(N_STUDIES):
        write_study(StudySpec(f"K{i}", seed=20 + i, has_level=i != 2, oblique_deg=12.0 if i == 4 else 0.0), source)
    model = H.tiny_l3_model(tmp_path / "model")
    H.ensure_importable()
    reference = tmp_path / "uninterrupted"
    run_batch(source, BatchSettings(preset="l3", out=reference, model=model, level_finder=H.LEVEL_FINDER,
                                    qa_png=False))
    out = tmp_path / "killed"
    rng = random.Random(15)
    kills = 0
    for _ in range(3):
        # After 0-1 committed cases of this run, then a random moment inside the next case (or its commit).
        kills += _run_until_killed(source, out, model, rng.randint(0, 1), rng.uniform(0.0, 2.5))
        _complete_case_folders(out)
    assert kills == 3, "the batch finished before every kill; the kill points need to come earlier"
    assert len(_complete_case_folders(out)) < N_STUDIES  # the kills really interrupted the run
    subprocess.run([sys.executable, str(Path(H.TESTING) / "batch_helpers.py"), str(source), str(out), str(model),
                    "--no-qa"], check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": H.TESTING})
    assert not [p.name for p in (out / "cases").iterdir() if p.name.startswith(".")]  # no leftovers
    final = pd.read_csv(out / "measurements.csv")
    expected = pd.read_csv(reference / "measurements.csv")
    assert final["case_id"].is_unique and len(final) == N_STUDIES
    pd.testing.assert_frame_equal(final, expected)
    assert _complete_case_folders(out) == sorted(final["case_id"])


@pytest.mark.slow
def test_local_worker_process_killed_mid_case_loses_nothing(tmp_path):
    """--workers 2: a worker process SIGKILLed while a case is half-written is replaced and its cases run
    again; the table equals the single-process one, with every case once and no leftover folder."""
    import threading

    import psutil

    source = tmp_path / "studies"
    for i in range(4):
        write_study(StudySpec(f"W{i}", seed=60 + i, has_level=i != 1), source)
    model = H.tiny_l3_model(tmp_path / "model")
    H.ensure_importable()
    settings = {"preset": "l3", "model": model, "level_finder": H.LEVEL_FINDER, "qa_png": False}
    run_batch(source, BatchSettings(out=tmp_path / "single", **settings))
    out = tmp_path / "pool"
    killed: list[int] = []

    def kill_a_worker_mid_case() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            cases = out / "cases"
            if cases.is_dir() and any(p.name.startswith(".tmp-") for p in cases.iterdir()):
                workers = [c for c in psutil.Process().children() if "resource_tracker" not in " ".join(c.cmdline())]
                if workers:
                    workers[0].kill()
                    killed.append(workers[0].pid)
                    return
            time.sleep(0.02)

    watcher = threading.Thread(target=kill_a_worker_mid_case, daemon=True)
    watcher.start()
    summary = run_batch(source, BatchSettings(out=out, **settings), workers=2)
    watcher.join(timeout=5)
    assert killed, "no worker was killed"
    table = pd.read_csv(out / "measurements.csv")
    assert table["case_id"].is_unique and summary["failed"] == 0
    pd.testing.assert_frame_equal(table, pd.read_csv(tmp_path / "single" / "measurements.csv"))
    assert not [p.name for p in (out / "cases").iterdir() if p.name.startswith(".")]
