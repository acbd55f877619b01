"""Cox models: published Rossi coefficients through the API and the command line, a simulated cohort
whose CI covers the known HR, and design problems that become named, fixable messages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines.datasets import load_rossi

from MuscleQuantLib.cli import main
from MuscleQuantLib.phantoms.cohort import CohortTruth, simulate_cohort_table
from MuscleQuantSurvivalLib.analyses import CoxSpec, cox_analysis
from MuscleQuantSurvivalLib.cox import ModelError, fit_cox
from MuscleQuantSurvivalLib.tables import build_cohort, frame_as_text

# Published Efron-ties coefficients (lifelines documentation; R survival::coxph gives the same).
ROSSI = {"fin": -0.3794, "age": -0.0574, "race": 0.3139, "wexp": -0.1498, "mar": -0.4337, "paro": -0.0849,
         "prio": 0.0915}


def test_rossi_published_coefficients_via_api():
    result = fit_cox(load_rossi(), "week", "arrest", list(ROSSI), n_bootstrap=50)
    for name, published in ROSSI.items():
        assert result.params()[name] == pytest.approx(published, abs=5e-4), name
    assert (result.n, result.events, result.n_parameters) == (432, 114, 7)
    assert result.epv == pytest.approx(114 / 7)
    assert result.concordance == pytest.approx(0.640, abs=1e-3)
    low, high = result.concordance_ci
    assert low < result.concordance < high
    # lifelines' documentation shows age and wexp failing the PH test (rank transform)
    assert set(result.ph_violations) == {"age", "wexp"}
    assert any("age, wexp" in m and "strat" in m for m in result.messages)


def test_rossi_published_coefficients_via_command_line(tmp_path, capsys):
    table = tmp_path / "rossi.csv"
    load_rossi().to_csv(table, index=False)
    out = tmp_path / "cox"
    code = main(["cohort", "cox", str(table), "--time", "week", "--event", "arrest",
                 "--covariates", ",".join(ROSSI), "--bootstrap", "20", "--out", str(out), "--progress", "none"])
    assert code == 0
    written = pd.read_csv(out / "cox_arrest.csv").set_index("term")
    for name, published in ROSSI.items():
        assert written.loc[name, "coef"] == pytest.approx(published, abs=5e-4), name
    for suffix in ("png", "svg", "pdf"):
        assert (out / f"forest_arrest.{suffix}").stat().st_size > 1000
    assert "fin" in capsys.readouterr().out


def test_simulated_cohort_ci_covers_true_hazard_ratio():
    truth = CohortTruth()
    clinical, measurements = simulate_cohort_table(400, seed=7, truth=truth)
    cohort = build_cohort(frame_as_text(clinical), "clinical.csv", frame_as_text(measurements), "measurements.csv")
    spec = CoxSpec("OS", (truth.index_name, "age", "sex"), per_unit={truth.index_name: truth.index_step},
                   per_sd=(truth.index_name,))
    result = cox_analysis(cohort, spec, n_bootstrap=0)
    table = result.table.set_index("label")
    index = table.loc[f"{truth.index_name} (per {truth.index_step:g})"]
    assert index["hr_ci_low"] <= truth.os_hr_per_step <= index["hr_ci_high"]
    assert index["hr_ci_high"] < 1.0  # the simulated effect is detected
    age = table.loc["age"]
    assert age["hr_ci_low"] <= truth.hr_age_per_year <= age["hr_ci_high"]
    # HR per SD is the same model rescaled: same p, coefficient scaled by SD/unit
    per_sd = result.table[result.table["term"] == f"{truth.index_name}_per_sd"].iloc[0]
    sd = cohort.data[truth.index_name].std()
    assert per_sd["coef"] == pytest.approx(index["coef"] * sd / truth.index_step)
    assert per_sd["p"] == pytest.approx(index["p"])
    assert result.exclusions is not None and result.exclusions.n_used == 400


def _frame(n: int = 60, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"t": rng.exponential(10, n) + 0.1, "e": rng.integers(0, 2, n),
                         "x": rng.normal(size=n), "z": rng.normal(size=n), "g": rng.integers(0, 2, n)})


def test_constant_column_is_named_with_fix():
    frame = _frame().assign(const=1.0)
    with pytest.raises(ModelError, match=r"covariate const is constant.*remove it"):
        fit_cox(frame, "t", "e", ["x", "const"])


def test_collinear_columns_are_named():
    frame = _frame().assign(w=lambda f: 2 * f["x"] - f["z"])
    with pytest.raises(ModelError, match=r"covariate w is collinear with x, z.*drop one"):
        fit_cox(frame, "t", "e", ["x", "z", "w"])


def test_separation_is_named_with_fix():
    frame = _frame()
    frame.loc[frame["g"] == 1, "e"] = 0
    with pytest.raises(ModelError, match=r"no events among the \d+ rows with g = 1.*separation.*penaliz"):
        fit_cox(frame, "t", "e", ["x", "g"])


def test_low_events_per_variable_is_flagged():
    frame = _frame(40)
    frame["e"] = 0
    frame.loc[:11, "e"] = 1
    result = fit_cox(frame, "t", "e", ["x", "z", "g"], n_bootstrap=0)
    assert any("events per variable" in m for m in result.messages)


def test_model_error_through_cli_is_one_line_and_exit_2(tmp_path, capsys):
    frame = _frame().rename(columns={"t": "os_months", "e": "os_event"}).assign(const=5)
    frame.to_csv(tmp_path / "c.csv", index=False)
    code = main(["cohort", "cox", str(tmp_path / "c.csv"), "--covariates", "x,const", "--progress", "none"])
    err = capsys.readouterr().err
    assert code == 2
    assert "const is constant" in err and "Traceback" not in err
