"""Issue 16, cohort speed: the faster paths give the same integers, tables and figure files, and a large
``cohort cox`` keeps matplotlib out of the main process (module sets and equalities, never timings)."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

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


def _small_cohort(n: int = 300, seed: int = 5):
    from MuscleQuantSurvivalLib.tables import build_cohort, frame_as_text

    clinical, measurements = simulate_cohort_table(n, seed=seed, truth=CohortTruth())
    return build_cohort(frame_as_text(clinical), "clinical.csv", frame_as_text(measurements), "measurements.csv")


def test_univariate_screen_skips_the_unread_diagnostics_with_the_same_table():
    """The screen shows HR, CI and p: its fits skip the PH test and the fitted C-index, and its table is the
    one the fully diagnosed fits give."""
    from MuscleQuantSurvivalLib import cox
    from MuscleQuantSurvivalLib.analyses import CoxSpec, cox_analysis, univariate_screen
    from MuscleQuantSurvivalLib.groupings import GroupingSpec

    cohort = _small_cohort()
    spec = CoxSpec("OS", ("smi_cm2_m2", "age", "sex"), GroupingSpec("median", "smi_cm2_m2"), per_sd=("smi_cm2_m2",))
    cox._FIT_CACHE.clear()
    table, results = univariate_screen(cohort, spec)
    assert all(r.ph_test.empty and np.isnan(r.concordance) and r.ph_violations == [] for r in results)
    parts = [CoxSpec("OS", (), spec.grouping), CoxSpec("OS", ("smi_cm2_m2",), per_sd=("smi_cm2_m2",)),
             CoxSpec("OS", ("age",)), CoxSpec("OS", ("sex",))]
    full = [cox_analysis(cohort, part, n_bootstrap=0) for part in parts]
    assert all(not r.ph_test.empty and np.isfinite(r.concordance) for r in full)
    expected = pd.concat([r.table[["label", "hr", "hr_ci_low", "hr_ci_high", "p"]] for r in full], ignore_index=True)
    pd.testing.assert_frame_equal(table[["term", "hr", "hr_ci_low", "hr_ci_high", "p"]].rename(columns={"term": "label"}),
                                  expected, check_exact=True)


def test_definitions_table_never_computes_the_fitted_c_index(monkeypatch):
    from MuscleQuantSurvivalLib import cox
    from MuscleQuantSurvivalLib.definitions_table import definitions_table

    cohort = _small_cohort()
    cox._FIT_CACHE.clear()
    expected = definitions_table(cohort, ["prado_smi", "martin_smi"])
    cox._FIT_CACHE.clear()

    def refuse(_fitter):  # noqa: ANN001, ANN202
        raise AssertionError("the definitions table computed a C-index it never shows")

    monkeypatch.setattr(cox, "fitted_concordance", refuse)
    table = definitions_table(cohort, ["prado_smi", "martin_smi"])
    pd.testing.assert_frame_equal(table, expected, check_exact=True)
    assert table["hr"].notna().all()


def test_forest_columns_draw_the_same_figure_and_unpickle_without_pandas(tmp_path):
    from MuscleQuantSurvivalLib import figures
    from MuscleQuantSurvivalLib.formatting import forest_columns

    table = pd.DataFrame({"term": ["x", "y", "z"], "label": ["a", "b", "c"], "coef": [0.1, 0.2, 0.3],
                          "hr": [0.5, 2.0, np.inf], "hr_ci_low": [0.3, 1.2, 1.0], "hr_ci_high": [0.8, 3.1, np.inf],
                          "p": [0.01, 0.2, np.nan]})
    png = {}
    for name, data in (("frame", table), ("columns", forest_columns(table))):
        figures.save_figure(figures.forest_figure(data, "forest"), tmp_path / name, ("png",))
        png[name] = (tmp_path / f"{name}.png").read_bytes()
    assert png["frame"] == png["columns"]
    (tmp_path / "columns.pickle").write_bytes(pickle.dumps(forest_columns(table)))
    code = (f"import pickle, sys\ncolumns = pickle.loads(open(r'{tmp_path / 'columns.pickle'}', 'rb').read())\n"
            "assert list(columns['label']) == ['a', 'b', 'c']\nprint('pandas' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def _wait_for(path: str) -> None:
    """A worker task that holds the worker until ``path`` exists."""
    import time
    from pathlib import Path

    while not Path(path).exists():
        time.sleep(0.01)


def test_the_main_process_writes_the_figures_the_worker_has_not_started(tmp_path):
    """close() shares the queue: queued figures the worker has not taken are written in-process, last first,
    with the same bytes. The worker is given one figure at a time, so while a task holds it only the first
    figure is out of reach."""
    from MuscleQuantSurvivalLib import figures
    from MuscleQuantSurvivalLib.figure_writer import FigureWriter

    tables = [pd.DataFrame({"label": ["a", "b"], "hr": [0.5 + k, 2.0], "hr_ci_low": [0.3, 1.2],
                            "hr_ci_high": [0.8 + k, 3.1], "p": [0.01, 0.2]}) for k in range(6)]
    made = {}
    for name, parallel in (("serial", False), ("worker", True)):
        (tmp_path / name).mkdir()
        with FigureWriter(parallel) as writer:
            if parallel:
                writer._pool.submit(_wait_for, str(tmp_path / "gate"))
            stems = [str(tmp_path / name / f"f{k}") for k in range(6)]
            for stem, table in zip(stems, tables, strict=True):
                writer.save(figures.forest_figure(table, stem[-2:]), Path(stem))
            if parallel:
                writer._share_the_queue()
                # the worker holds the gate task and one figure; the other five are written here, last first
                assert writer.written_here == stems[:0:-1]
                (tmp_path / "gate").touch()
            writer.close()
            made[name] = [writer.png(Path(stem)) for stem in stems]
        assert [(Path(f"{stem}.png")).read_bytes() for stem in stems] == made[name]
    assert made["serial"] == made["worker"]
