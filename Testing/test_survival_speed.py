"""Issue 16, cohort speed: the faster paths give the same integers, tables and figure files, and a large
``cohort cox`` keeps matplotlib out of the main process (module sets and equalities, never timings)."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.datasets import load_rossi

from MuscleQuantLib.phantoms.cohort import CohortTruth, simulate_cohort_table
from MuscleQuantSurvivalLib.concordance import _Plan
from MuscleQuantSurvivalLib.fastcox import FastCoxPHFitter


def test_int32_pair_counts_equal_the_int64_counts():
    """Small resamples are counted in int32, large ones in int64: the integers must not depend on it."""
    rng = np.random.default_rng(3)
    n = 500
    time = rng.integers(1, 60, n).astype(float)  # many tied times
    event = (rng.random(n) < 0.6).astype(float)
    score = rng.integers(0, 40, n).astype(float)  # many tied scores
    weights = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(8)], axis=1)
    plan = _Plan(time, event, score)
    small = plan.counts(weights)  # total weight n per column: int32
    heavy = np.concatenate([weights, np.full((n, 1), 10**5)], axis=1)  # one column forces int64 for all
    large = plan.counts(heavy)
    for a, b in zip(small, large, strict=True):
        assert a.dtype == np.int64
        np.testing.assert_array_equal(a, b[:-1])


def test_central_values_are_computed_on_demand_with_lifelines_values():
    rossi = load_rossi()
    fast = FastCoxPHFitter().fit(rossi, "week", "arrest")
    reference = CoxPHFitter().fit(rossi, "week", "arrest")
    assert "_central_values_value" in vars(fast._model)  # deferred, not yet computed
    copied = pickle.loads(pickle.dumps(fast))
    pd.testing.assert_frame_equal(fast._central_values, reference._central_values)
    pd.testing.assert_frame_equal(copied._central_values, reference._central_values)
    pd.testing.assert_frame_equal(fast.predict_survival_function(rossi.iloc[:5]),
                                  reference.predict_survival_function(rossi.iloc[:5]))
    stratified = FastCoxPHFitter().fit(rossi, "week", "arrest", strata=["race"])
    pd.testing.assert_frame_equal(stratified._central_values,
                                  CoxPHFitter().fit(rossi, "week", "arrest", strata=["race"])._central_values)


def test_a_forest_built_in_the_worker_is_the_same_file(tmp_path):
    from MuscleQuantSurvivalLib.figure_writer import FigureWriter

    table = pd.DataFrame({"label": ["a", "b"], "hr": [0.5, 2.0], "hr_ci_low": [0.3, 1.2], "hr_ci_high": [0.8, 3.1],
                          "p": [0.01, 0.2]})
    png = {}
    for name, parallel in (("serial", False), ("worker", True)):
        (tmp_path / name).mkdir()
        with FigureWriter(parallel, start_now=True) as writer:
            paths = writer.build("forest_figure", (table, "forest"), tmp_path / name / "forest")
        assert sorted(p.name for p in paths) == ["forest.pdf", "forest.png", "forest.svg"]
        assert all(p.exists() for p in paths)
        png[name] = (tmp_path / name / "forest.png").read_bytes()
    assert png["serial"] == png["worker"]


def test_a_large_cohort_cox_never_imports_matplotlib_in_the_main_process(tmp_path):
    """The forest plots of a >= 2,000-patient cohort are built by the figure worker (it starts while the
    main process imports lifelines and fits); the main process only fits and writes tables."""
    clinical, measurements = simulate_cohort_table(2000, seed=2, truth=CohortTruth())
    clinical.to_csv(tmp_path / "clinical.csv", index=False)
    measurements.to_csv(tmp_path / "measurements.csv", index=False)
    out = tmp_path / "cox"
    script = f"""
import json, sys
from MuscleQuantLib.cli import main
if __name__ == "__main__":
    try:
        main(["cohort", "cox", r"{tmp_path / 'clinical.csv'}", "--measurements", r"{tmp_path / 'measurements.csv'}",
              "--covariates", "smi_cm2_m2,age,sex", "--bootstrap", "0", "--out", r"{out}", "--progress", "none"])
    except SystemExit as exc:
        assert not exc.code, exc.code
    print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "matplotlib")))
"""
    (tmp_path / "run.py").write_text(script, encoding="utf-8")
    done = subprocess.run([sys.executable, str(tmp_path / "run.py")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    for endpoint in ("os", "pfs"):
        assert (out / f"cox_{endpoint}.csv").exists()
        assert all((out / f"forest_{endpoint}.{fmt}").stat().st_size > 0 for fmt in ("png", "svg", "pdf"))


def test_building_the_cohort_arguments_imports_no_handler_or_analysis_module():
    code = ("import argparse, json, sys\nfrom MuscleQuantSurvivalLib.cli import COMMAND\n"
            "COMMAND.add_arguments(argparse.ArgumentParser())\nprint(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert not {"pandas", "lifelines", "matplotlib", "torch", "MuscleQuantSurvivalLib.cohort_commands"} & loaded
