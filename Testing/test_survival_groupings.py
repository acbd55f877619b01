"""Groupings and Kaplan–Meier: median split within each cohort, tertiles, published definitions
(with 'not applicable' rows counted), the exploratory cut-point with corrected p, log-rank and medians."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test

from MuscleQuantLib.phantoms.cohort import simulate_cohort_table
from MuscleQuantSurvivalLib.cutpoint import lausen_schumacher_p, logrank_z, optimal_cutpoint
from MuscleQuantSurvivalLib.figures import at_risk_counts
from MuscleQuantSurvivalLib.groupings import GroupingSpec, make_groups
from MuscleQuantSurvivalLib.km import kaplan_meier
from MuscleQuantSurvivalLib.tables import build_cohort, frame_as_text


@pytest.fixture(scope="module")
def cohort():
    clinical, measurements = simulate_cohort_table(240, seed=11)
    clinical["cohort"] = ["in-house" if i % 3 else "TCGA" for i in range(len(clinical))]
    measurements.loc[measurements.index % 3 == 0, "smi_cm2_m2"] += 8.0  # the cohorts differ in level
    clinical.loc[5, ["sex", "weight_kg"]] = ["M", np.nan]  # a man without BMI
    return build_cohort(frame_as_text(clinical), "clinical.csv", frame_as_text(measurements), "measurements.csv")


def test_median_split_is_within_each_cohort(cohort):
    groups = make_groups(cohort, GroupingSpec("median", "smi_cm2_m2", within="cohort"))
    frame = cohort.data.loc[groups.labels.index, ["cohort", "smi_cm2_m2"]].assign(group=groups.labels)
    for _, part in frame.groupby("cohort"):
        median = part["smi_cm2_m2"].median()
        assert (part.loc[part["group"] == "high", "smi_cm2_m2"] > median).all()
        assert (part.loc[part["group"] == "low", "smi_cm2_m2"] <= median).all()
        assert abs((part["group"] == "high").sum() - (part["group"] == "low").sum()) <= 1
    assert groups.reference == "low" and len(groups.notes) == 2


def test_km_logrank_and_median_ci_match_lifelines(cohort):
    groups = make_groups(cohort, GroupingSpec("tertiles", "smi_cm2_m2"))
    endpoint = cohort.endpoints[0]
    result = kaplan_meier(cohort, endpoint, groups)
    data = cohort.data.loc[groups.labels.index]
    expected = multivariate_logrank_test(data[endpoint.time], groups.labels, data[endpoint.event])
    assert result.logrank_p == pytest.approx(expected.p_value)
    assert result.logrank_df == 2 and list(result.table["group"]) == ["T1", "T2", "T3"]
    assert result.table["n"].sum() == 240
    for _, row in result.table.iterrows():
        part = data[groups.labels == row["group"]]
        fitter = KaplanMeierFitter().fit(part[endpoint.time], part[endpoint.event])
        assert row["median"] == pytest.approx(fitter.median_survival_time_)
        assert row["median_ci_low"] <= row["median"] <= row["median_ci_high"]


def test_optimal_cutpoint_is_exploratory_with_corrected_p(cohort):
    spec = GroupingSpec("optimal", "smi_cm2_m2", n_permutations=199)
    groups = make_groups(cohort, spec, cohort.endpoints[0])
    cut = groups.cutpoint
    assert groups.exploratory and "EXPLORATORY" in groups.title
    assert cut is not None and cut.label == "exploratory" and "exploratory" in cut.warning
    assert cut.lausen_schumacher_p > cut.naive_p
    assert 1 / 200 <= cut.permutation_p <= 1
    assert any("naive p" in note and "corrected p" in note for note in groups.notes)
    assert min(cut.n_low, cut.n_high) >= 0.1 * 240 - 1


def test_cutpoint_on_noise_is_not_significant_after_correction():
    rng = np.random.default_rng(5)
    time, event, values = rng.exponential(10, 150), rng.integers(0, 2, 150), rng.normal(size=150)
    result = optimal_cutpoint(time, event, values, n_permutations=199, seed=1)
    assert result.permutation_p > 0.05 and result.lausen_schumacher_p > 0.05
    assert lausen_schumacher_p(0.5, 0.1) == 1.0


def test_vectorised_logrank_matches_lifelines():
    rng = np.random.default_rng(2)
    time = np.round(rng.exponential(10, 80), 0) + 1  # many ties
    event = rng.integers(0, 2, 80)
    group = rng.random(80) < 0.4
    z = logrank_z(time, event, group[:, None])[0]
    expected = multivariate_logrank_test(time, group, event).test_statistic
    assert z**2 == pytest.approx(expected)


def test_definition_grouping_counts_not_applicable(cohort):
    pytest.importorskip("MuscleQuantLib.quantify.definitions")
    from MuscleQuantSurvivalLib.definitions_table import definitions_table

    prado = make_groups(cohort, GroupingSpec("definition", definition="prado_smi"))
    assert set(prado.labels) == {"sarcopenic", "not sarcopenic"} and prado.reference == "not sarcopenic"
    martin = make_groups(cohort, GroupingSpec("definition", definition="martin_smi"))
    reasons = martin.exclusions.counts()
    # Martin's male cutoff depends on BMI: no guess without weight, the row is counted as not applicable
    assert sum(n for r, n in reasons.items() if "not applicable" in r and "BMI" in r) == 1
    table = definitions_table(cohort, ["prado_smi", "martin_smi"], ["OS"])
    assert list(table["definition"]) == ["prado_smi", "martin_smi"]
    row = table.iloc[0]
    assert row["n_sarcopenic"] == (prado.labels == "sarcopenic").sum()
    assert row["prevalence_pct"] == pytest.approx(100 * row["n_sarcopenic"] / row["n_classified"])
    assert row["hr_ci_low"] < row["hr"] < row["hr_ci_high"] and 0 < row["p"] < 1


def test_sex_specific_cutoff_and_diagnosis_column(cohort):
    groups = make_groups(cohort, GroupingSpec("sex_cutoff", "smi_cm2_m2", cutoffs_by_sex={"M": 52.4, "F": 38.5}))
    data = cohort.data.loc[groups.labels.index]
    expected = np.where(data["smi_cm2_m2"] < data["sex"].map({"M": 52.4, "F": 38.5}), "low", "high")
    assert (groups.labels.to_numpy() == expected).all()
    by_column = make_groups(cohort, GroupingSpec("column", "cohort"))
    assert by_column.order == ["TCGA", "in-house"] and by_column.reference == "TCGA"


def test_at_risk_counts_follow_survfit_convention():
    durations = np.array([1.0, 2.0, 2.0, 5.0, 8.0])
    assert at_risk_counts(durations, np.array([0, 2, 5, 6, 10])) == [5, 4, 2, 1, 0]
    assert isinstance(pd.Series(durations), pd.Series)
