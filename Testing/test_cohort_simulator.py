"""Simulated cohorts: deterministic, plausible, and with the stated hazard ratio recoverable."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter

from MuscleQuantLib.phantoms.cohort import CLINICAL_COLUMNS, CohortTruth, simulate_cohort_table


def test_same_seed_same_table_different_seed_different():
    a = simulate_cohort_table(50, seed=4)
    b = simulate_cohort_table(50, seed=4)
    c = simulate_cohort_table(50, seed=5)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    assert not a[0].equals(c[0])


def test_table_is_plausible():
    clinical, measurements = simulate_cohort_table(400, seed=1)
    assert tuple(clinical.columns) == CLINICAL_COLUMNS
    assert clinical["patient_id"].is_unique and set(clinical["sex"]) == {"M", "F"}
    assert clinical["height_m"].between(1.4, 2.1).all() and clinical["weight_kg"].between(30, 200).all()
    assert (clinical["os_months"] > 0).all() and set(clinical["os_event"]) <= {0, 1}
    assert (clinical["pfs_months"] <= clinical["os_months"] + 1e-9).all()
    assert 0.3 < clinical["os_event"].mean() < 0.95
    smi = measurements.merge(clinical, on="patient_id")
    assert smi.groupby("sex")["smi_cm2_m2"].mean()["M"] > smi.groupby("sex")["smi_cm2_m2"].mean()["F"] + 5


def test_multivariable_cox_recovers_the_stated_hazard_ratio():
    truth = CohortTruth()
    clinical, measurements = simulate_cohort_table(3000, seed=11, truth=truth, measurement_noise_sd=0.0)
    data = clinical.merge(measurements, on="patient_id")
    data["male"] = (data["sex"] == "M").astype(float)
    data["index_per_step"] = data["smi_cm2_m2"] / truth.index_step
    cph = CoxPHFitter().fit(data[["os_months", "os_event", "index_per_step", "age", "male"]], "os_months", "os_event")
    lower, upper = np.exp(cph.confidence_intervals_.loc["index_per_step"])
    assert lower < truth.os_hr_per_step < upper
    assert abs(cph.hazard_ratios_["age"] - truth.hr_age_per_year) < 0.01


def test_cli_writes_tables_and_truth(tmp_path, run_cli):
    code, _, err = run_cli("phantom", "--cohort", "30", "--no-images", "--seed", "2", "--out", tmp_path, "--progress", "none")
    assert code == 0, err
    truth = json.loads((tmp_path / "cohort_truth.json").read_text(encoding="utf-8"))
    assert truth["os_hr_per_step"] == CohortTruth().os_hr_per_step and truth["index_column"] == "smi_cm2_m2"
    clinical = pd.read_csv(tmp_path / "clinical.csv")
    measurements = pd.read_csv(tmp_path / "measurements.csv")
    assert len(clinical) == len(measurements) == 30
    before = (tmp_path / "clinical.csv").read_bytes()
    code, _, err = run_cli("phantom", "--cohort", "30", "--no-images", "--seed", "9", "--out", tmp_path)
    assert code == 2 and "--overwrite" in err  # an existing dataset is never replaced silently
    assert (tmp_path / "clinical.csv").read_bytes() == before
    code, _, _ = run_cli("phantom", "--cohort", "30", "--no-images", "--seed", "9", "--out", tmp_path, "--overwrite")
    assert code == 0 and (tmp_path / "clinical.csv").read_bytes() != before
