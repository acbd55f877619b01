"""The fast cohort paths of issue 16 give exactly the numbers of the code they replace: the bootstrap
C-index (lifelines' concordance_index per resample), the Cox fit and PH test (lifelines' own loops),
row exclusions and definition groupings (the per-row loops), and cohort commands do not import torch."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.datasets import load_rossi
from lifelines.statistics import proportional_hazard_test
from lifelines.utils import concordance_index

from MuscleQuantLib.phantoms.cohort import CohortTruth, simulate_cohort_table
from MuscleQuantLib.quantify.definitions import classify
from MuscleQuantSurvivalLib.concordance import bootstrap_concordances, concordance
from MuscleQuantSurvivalLib.cox import bootstrap_concordance, fit_cox, fitted_concordance
from MuscleQuantSurvivalLib.fastcox import FastCoxPHFitter
from MuscleQuantSurvivalLib.groupings import GroupingSpec, lookup_definition, make_groups
from MuscleQuantSurvivalLib.tables import build_cohort, frame_as_text


def _lifelines_bootstrap(time, event, risk, n_bootstrap, seed, alpha=0.05):
    """The bootstrap as it was at the start of issue 16 (lifelines' concordance_index per resample)."""
    rng = np.random.default_rng(seed)
    values = []
    n = time.size
    for _ in range(n_bootstrap):
        pick = rng.integers(0, n, n)
        if event[pick].sum() == 0:
            continue
        try:
            values.append(concordance_index(time[pick], -risk[pick], event[pick]))
        except ZeroDivisionError:
            continue
    if len(values) < 10:
        return (float("nan"), float("nan"))
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return (float(low), float(high))


def _simulated(n: int = 400, seed: int = 7) -> pd.DataFrame:
    clinical, measurements = simulate_cohort_table(n, seed=seed, truth=CohortTruth())
    frame = clinical.merge(measurements, on="patient_id")
    return frame.assign(male=(frame["sex"] == "M").astype(float))


def test_concordance_equals_lifelines_with_ties_censoring_and_resamples():
    rng = np.random.default_rng(11)
    for trial in range(120):
        n = int(rng.integers(2, 50))
        time = rng.integers(1, 8, n).astype(float) if trial % 2 else rng.exponential(5, n)
        event = rng.integers(0, 2, n)
        score = rng.integers(0, 4, n).astype(float) if trial % 3 else rng.normal(size=n)
        try:
            expected = concordance_index(time, score, event)
        except ZeroDivisionError:
            with pytest.raises(ZeroDivisionError):
                concordance(time, event, score)
        else:
            assert concordance(time, event, score) == expected  # bit for bit
        picks = rng.integers(0, n, (5, n))
        for pick, value in zip(picks, bootstrap_concordances(time, event, score, picks), strict=True):
            try:
                assert value == concordance_index(time[pick], score[pick], event[pick])
            except ZeroDivisionError:
                assert np.isnan(value)


@pytest.mark.parametrize("data", ["rossi", "simulated"])
def test_bootstrap_ci_identical_to_the_lifelines_loop(data):
    if data == "rossi":
        frame, time, event, covariates = load_rossi(), "week", "arrest", ["fin", "age", "prio"]
    else:
        frame, time, event, covariates = _simulated(), "os_months", "os_event", ["smi_cm2_m2", "age", "male"]
    risk = CoxPHFitter().fit(frame[[time, event, *covariates]], time, event).predict_partial_hazard(frame)
    args = (frame[time].to_numpy(), frame[event].to_numpy(), risk.to_numpy(dtype=float))
    for n_bootstrap, seed in ((200, 0), (57, 3)):
        assert bootstrap_concordance(*args, n_bootstrap, seed, 0.05) == _lifelines_bootstrap(*args, n_bootstrap, seed)


def _tied(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"t": rng.integers(1, 15, n).astype(float), "e": rng.integers(0, 2, n),
                         "x": rng.normal(size=n), "g": rng.integers(0, 2, n).astype(float),
                         "w": rng.integers(1, 4, n).astype(float)})


FITS = {  # name: (frame, time, event, columns, fit keyword arguments, penalizer)
    "rossi": (load_rossi, "week", "arrest", None, {}, 0.0),
    "rossi strata": (load_rossi, "week", "arrest", None, {"strata": ["race"]}, 0.0),
    "simulated": (_simulated, "os_months", "os_event", ["smi_cm2_m2", "age", "male"], {}, 0.0),
    "tied": (_tied, "t", "e", ["x", "g"], {}, 0.0),
    "weighted": (_tied, "t", "e", ["x", "g", "w"], {"weights_col": "w"}, 0.0),
    "penalised": (_tied, "t", "e", ["x", "g"], {}, 0.1),
}


@pytest.mark.parametrize("name", list(FITS))
def test_fast_cox_fit_and_ph_test_are_bit_identical_to_lifelines(name):
    make, time, event, columns, kwargs, penalizer = FITS[name]
    frame = make()
    if columns is not None:
        frame = frame[[time, event, *columns]]
    fitted = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cls in (CoxPHFitter, FastCoxPHFitter):
            fitter = cls(penalizer=penalizer).fit(frame, time, event, **kwargs)
            ph = proportional_hazard_test(fitter, frame, time_transform="rank").summary
            residuals = fitter.compute_residuals(frame, "schoenfeld")
            fitted.append((fitter, ph, residuals))
    (slow, slow_ph, slow_res), (fast, fast_ph, fast_res) = fitted
    assert np.array_equal(slow.params_.to_numpy(), fast.params_.to_numpy())
    assert np.array_equal(slow.variance_matrix_.to_numpy(), fast.variance_matrix_.to_numpy())
    assert np.array_equal(slow.summary.to_numpy(), fast.summary.to_numpy())
    assert slow.log_likelihood_ == fast.log_likelihood_
    assert np.array_equal(slow_ph.to_numpy(), fast_ph.to_numpy())
    assert np.array_equal(slow_res.to_numpy(), fast_res.to_numpy())
    assert fitted_concordance(fast) == slow.concordance_index_


def test_identical_fit_is_reused_and_its_copy_is_independent():
    frame = _tied()
    first = fit_cox(frame, "t", "e", ["x", "g"], n_bootstrap=20)
    first.table.loc[0, "coef"] = 99.0
    first.messages.append("changed by the caller")
    second = fit_cox(frame, "t", "e", ["x", "g"], n_bootstrap=20)
    assert second.fitter is first.fitter  # no refit
    assert second.table.loc[0, "coef"] != 99.0 and "changed by the caller" not in second.messages
    other = fit_cox(frame.assign(x=frame["x"] * 2), "t", "e", ["x", "g"], n_bootstrap=20)
    assert other.fitter is not first.fitter


def _cohort_with_gaps():
    clinical, measurements = simulate_cohort_table(120, seed=3, truth=CohortTruth())
    clinical = clinical.astype(object)
    clinical.loc[[3, 17], "weight_kg"] = None  # no BMI: Martin's BMI-dependent cutoff is not applicable
    clinical.loc[[5], "os_months"] = None
    clinical.loc[[8], "sex"] = None
    measurements = measurements.drop(index=[10, 11])  # no measurement row
    measurements.loc[20, "smi_cm2_m2"] = None
    return build_cohort(frame_as_text(clinical), "clinical.csv", frame_as_text(measurements), "measurements.csv")


def test_row_exclusions_match_the_per_row_rules():
    cohort = _cohort_with_gaps()
    needed = ["os_months", "os_event", "smi_cm2_m2", "sex"]
    data, exclusions = cohort.usable(needed)
    expected = {}
    for index in cohort.data.index:  # the rule as the per-row loop applied it
        for column in needed:
            if pd.isna(cohort.data.at[index, column]):
                no_row = column in cohort.measurement_columns and not cohort.has_measurement.loc[index]
                expected[cohort.label(index)] = "no measurement row for the patient" if no_row else f"missing {column}"
                break
    assert dict(exclusions.left_out) == expected
    assert list(data.index) == [i for i in cohort.data.index if cohort.label(i) not in expected]
    assert exclusions.n_used == len(data) == 120 - 5


@pytest.mark.parametrize("definition", ["martin_smi", "prado_smi", "carey_smi"])
def test_definition_groups_match_classify_row_by_row(definition):
    cohort = _cohort_with_gaps()
    groups = make_groups(cohort, GroupingSpec("definition", definition=definition))
    data, _ = cohort.usable(["smi_cm2_m2", "sex"])
    rule = lookup_definition(definition)
    for index, row in data.iterrows():
        bmi = None if pd.isna(row["bmi"]) else float(row["bmi"])
        result = classify(rule, float(row["smi_cm2_m2"]), row["sex"], bmi)
        if result.status == "not_applicable":
            assert index not in groups.labels.index
            assert (cohort.label(index), f"{definition} not applicable ({result.reason})") in groups.exclusions.left_out
        else:
            assert groups.labels[index] == result.status.replace("_", " ")


def test_cohort_commands_do_not_import_torch(tmp_path):
    clinical, measurements = simulate_cohort_table(60, seed=1, truth=CohortTruth())
    clinical.to_csv(tmp_path / "clinical.csv", index=False)
    measurements.to_csv(tmp_path / "measurements.csv", index=False)
    script = f"""
import argparse, sys
from MuscleQuantLib.progress import Progress
from MuscleQuantSurvivalLib.cli import COMMAND
parser = argparse.ArgumentParser()
COMMAND.add_arguments(parser)
assert "torch" not in sys.modules, "building the cohort arguments imported torch"
for action in (["cox", "--covariates", "smi_cm2_m2,age", "--bootstrap", "20"], ["validate"]):
    args = parser.parse_args([action[0], r"{tmp_path / 'clinical.csv'}", "--measurements",
                              r"{tmp_path / 'measurements.csv'}", *action[1:]])
    COMMAND.run(args, Progress("none"))
assert "torch" not in sys.modules, "a cohort command imported torch"
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_figure_worker_writes_the_same_files_as_in_process(tmp_path):
    from MuscleQuantSurvivalLib import figures
    from MuscleQuantSurvivalLib.figure_writer import FigureWriter
    from MuscleQuantSurvivalLib.km import kaplan_meier

    cohort = _cohort_with_gaps()
    result = kaplan_meier(cohort, cohort.endpoints[0], make_groups(cohort, GroupingSpec("median", "smi_cm2_m2")))
    table = pd.DataFrame({"label": ["a", "b"], "hr": [0.5, 2.0], "hr_ci_low": [0.3, 1.2], "hr_ci_high": [0.8, 3.1],
                          "p": [0.01, 0.2]})
    made = {}
    for name, parallel in (("serial", False), ("worker", True)):
        (tmp_path / name).mkdir()
        with FigureWriter(parallel) as writer:
            paths = writer.save(figures.km_figure(result), tmp_path / name / "km")
            paths += writer.save(figures.forest_figure(table, "forest"), tmp_path / name / "forest")
            png = writer.png(tmp_path / name / "km")
        made[name] = {p.name: p.read_bytes() for p in paths}
        assert png == made[name]["km.png"]
    assert made["serial"]["km.png"] == made["worker"]["km.png"]
    assert made["serial"]["forest.png"] == made["worker"]["forest.png"]
    assert set(made["worker"]) == {f"{s}.{f}" for s in ("km", "forest") for f in ("png", "svg", "pdf")}
