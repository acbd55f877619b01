"""Issue 17, cohort side: each defect found by the hostile-input review has a test here that failed on
the code at the issue's start (4c31cdd) and passes now. The numbered defects are the issue's."""

from __future__ import annotations

import errno
import json

import numpy as np
import pandas as pd
import pytest

from MuscleQuantLib.errors import InputError
from MuscleQuantLib.phantoms.cohort import CohortTruth, simulate_cohort_table
from MuscleQuantLib.quantify import patient
from MuscleQuantSurvivalLib.tables import build_cohort, frame_as_text


@pytest.fixture()
def cohort_files(tmp_path):
    clinical, measurements = simulate_cohort_table(150, seed=9, truth=CohortTruth())
    clinical.to_csv(tmp_path / "clinical.csv", index=False)
    measurements.to_csv(tmp_path / "measurements.csv", index=False)
    return tmp_path, clinical, measurements


def _cohort(clinical: pd.DataFrame, measurements: pd.DataFrame | None = None):
    return build_cohort(frame_as_text(clinical), "clinical.csv",
                        None if measurements is None else frame_as_text(measurements), "measurements.csv")


# ----- 8: plausible ranges, the same everywhere, reported row by row ----------------------------------------
def test_8_weight_in_grams_is_refused_row_by_row_not_classified(cohort_files, run_cli):
    root, clinical, measurements = cohort_files
    grams = clinical.copy()
    grams.loc[[4, 9, 30], "weight_kg"] = grams.loc[[4, 9, 30], "weight_kg"] * 1000
    grams.to_csv(root / "grams.csv", index=False)
    code, out, _ = run_cli("cohort", "validate", root / "grams.csv", "--measurements", root / "measurements.csv",
                           "--progress", "none")
    assert code == 2
    for row in (4, 9, 30):
        assert any(f"row {row + 2} (patient {clinical.loc[row, 'patient_id']}), column weight_kg: error: implausible "
                   "weight" in line and "grams or pounds" in line for line in out.splitlines()), row
    # with --exclude-invalid the three rows are left out of the BMI-dependent definition, never reclassified
    cohort = _cohort(grams, measurements)
    from MuscleQuantSurvivalLib.groupings import GroupingSpec, make_groups

    groups = make_groups(cohort, GroupingSpec("definition", definition="martin_smi"), exclude_invalid=True)
    assert len(groups.labels) == 147 and all(i not in groups.labels.index for i in (4, 9, 30))


@pytest.mark.parametrize(("field", "values"), [("weight", [1.9, 2.0, 400.0, 400.5, 80000.0]),
                                               ("age", [-1.0, 0.0, 125.0, 125.5, 130.0]),
                                               ("height", [0.3, 0.4, 1.7, 3.0, 3.2])])
def test_8_quantify_and_cohort_validation_accept_the_same_values(field, values):
    from MuscleQuantLib import ranges

    column = {"weight": "weight_kg", "age": "age", "height": "height_m"}[field]
    clinical, _ = simulate_cohort_table(len(values), seed=1, truth=CohortTruth())
    clinical[column] = values
    report = _cohort(clinical).report
    refused_by_cohort = {i.row - 2 for i in report.errors if i.column == column}
    for index, value in enumerate(values):
        try:
            patient.PARSERS[field](value)
            accepted_by_quantify = True
        except InputError:
            accepted_by_quantify = False
        assert accepted_by_quantify == (index not in refused_by_cohort), (field, value)
    assert (patient.WEIGHT_RANGE_KG, patient.AGE_RANGE_Y) == ((ranges.WEIGHT_KG.low, ranges.WEIGHT_KG.high),
                                                             (ranges.AGE_Y.low, ranges.AGE_Y.high))


def test_8_implausible_measures_are_errors_of_their_row():
    clinical, measurements = simulate_cohort_table(40, seed=2, truth=CohortTruth())
    measurements["csa_total_cm2"] = 150.0
    measurements["muscle_hu_mean"] = 35.0
    measurements.loc[2, "smi_cm2_m2"] = 0.0  # a failed segmentation, not the most sarcopenic patient
    measurements.loc[5, "smi_cm2_m2"] = 4800.0
    measurements.loc[7, "csa_total_cm2"] = 15000.0  # mm2 in a cm2 column
    measurements.loc[8, "muscle_hu_mean"] = 900.0
    cohort = _cohort(clinical, measurements)
    errors = {(i.row, i.column): i.reason for i in cohort.report.errors}
    assert "implausible muscle index 0" in errors[(4, "smi_cm2_m2")]
    assert "implausible muscle index 4800" in errors[(7, "smi_cm2_m2")]
    assert "looks like mm2" in errors[(9, "csa_total_cm2")]
    assert "implausible muscle attenuation 900" in errors[(10, "muscle_hu_mean")]
    assert len(errors) == 4
    assert np.isnan(cohort.data.loc[2, "smi_cm2_m2"])  # never analysed as a number


# ----- 10: cohort report --config records input SHA-256s ---------------------------------------------------
def test_10_report_config_refuses_changed_tables_and_notes_when_allowed(cohort_files, run_cli):
    root, clinical, _ = cohort_files
    code, _, err = run_cli("cohort", "report", root / "clinical.csv", "--measurements", root / "measurements.csv",
                           "--bootstrap", "0", "--out", root / "first", "--progress", "none")
    assert code == 0, err
    config = json.loads((root / "first" / "run.json").read_text(encoding="utf-8"))
    assert set(config["inputs"]) == {"clinical", "measurements"} and len(config["inputs"]["clinical"]) == 64
    code, _, err = run_cli("cohort", "report", "--config", root / "first" / "run.json", "--out", root / "same",
                           "--progress", "none")
    assert code == 0, err
    changed = clinical.copy()
    changed.loc[0, "os_months"] = changed.loc[0, "os_months"] + 1
    changed.to_csv(root / "clinical.csv", index=False)
    code, _, err = run_cli("cohort", "report", "--config", root / "first" / "run.json", "--out", root / "again",
                           "--progress", "none")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "changed since run.json was written: clinical" in err and "--allow-changed-inputs" in err
    assert not (root / "again").exists()
    code, out, err = run_cli("cohort", "report", "--config", root / "first" / "run.json", "--out", root / "again",
                             "--allow-changed-inputs", "--progress", "none")
    assert code == 0, err
    assert "note: changed since run.json was written" in out
    assert "changed since run.json was written" in (root / "again" / "report.html").read_text(encoding="utf-8")


def test_10_config_without_checksums_is_reproduced_with_a_note(cohort_files, run_cli):
    root, _, _ = cohort_files
    assert run_cli("cohort", "report", root / "clinical.csv", "--bootstrap", "0", "--out", root / "first",
                   "--progress", "none")[0] == 0
    config = json.loads((root / "first" / "run.json").read_text(encoding="utf-8"))
    del config["inputs"]
    (root / "old.json").write_text(json.dumps(config), encoding="utf-8")
    code, out, err = run_cli("cohort", "report", "--config", root / "old.json", "--out", root / "again",
                             "--progress", "none")
    assert code == 0, err
    assert "records no SHA-256 of its input tables" in out


# ----- internal errors and minor ones ----------------------------------------------------------------------
def test_xlsx_that_is_a_csv_and_empty_csv_are_refused_in_one_line(cohort_files, run_cli):
    root, _, _ = cohort_files
    (root / "fake.xlsx").write_bytes((root / "clinical.csv").read_bytes())
    (root / "empty.csv").write_bytes(b"")
    for name, reason in (("fake.xlsx", "is not an Excel workbook"), ("empty.csv", "the file is empty")):
        code, _, err = run_cli("cohort", "validate", root / name, "--progress", "none")
        assert code == 2 and f"{name}: {reason}" in err and "internal error" not in err


def test_utf8_bom_csv_is_read_like_plain_csv(cohort_files, run_cli):
    root, _, _ = cohort_files
    (root / "bom.csv").write_bytes(b"\xef\xbb\xbf" + (root / "clinical.csv").read_bytes())
    code, out, err = run_cli("cohort", "validate", root / "bom.csv", "--measurements", root / "measurements.csv",
                             "--progress", "none")
    assert code == 0, err
    assert "0 errors" in out and "\\ufeff" not in out + err


def test_negative_bootstrap_and_permutations_are_refused(cohort_files, run_cli):
    root, _, _ = cohort_files
    code, _, err = run_cli("cohort", "cox", root / "clinical.csv", "--covariates", "age", "--bootstrap", "-5",
                           "--progress", "none")
    assert code == 2 and "--bootstrap: must be 0 or more, got -5" in err
    code, _, err = run_cli("cohort", "km", root / "clinical.csv", "--measurements", root / "measurements.csv",
                           "--group", "optimal:smi_cm2_m2", "--permutations", "-1", "--progress", "none")
    assert code == 2 and "--permutations: must be 0 or more, got -1" in err


def test_decimal_commas_are_caught_by_validate(cohort_files, run_cli):
    root, clinical, measurements = cohort_files
    commas = measurements.assign(smi_cm2_m2=measurements["smi_cm2_m2"].map(lambda v: f"{v:.2f}".replace(".", ",")))
    commas.to_csv(root / "commas.csv", index=False)
    clinical.assign(albumin=[f"{3 + i % 10 / 10:.1f}".replace(".", ",") for i in range(len(clinical))]).to_csv(
        root / "clinical_commas.csv", index=False)
    code, out, _ = run_cli("cohort", "validate", root / "clinical_commas.csv", "--measurements", root / "commas.csv",
                           "--progress", "none")
    assert code == 2
    first = f"{measurements.loc[0, 'smi_cm2_m2']:.2f}"
    assert any("commas.csv, row 2" in line and "column smi_cm2_m2" in line and
               f"has a decimal comma; write {first}" in line for line in out.splitlines())
    assert any("clinical_commas.csv, row 2" in line and "column albumin" in line and "decimal comma" in line
               for line in out.splitlines())


@pytest.fixture()
def deepsurv_tables(tmp_path):
    clinical, measurements = simulate_cohort_table(90, seed=2, truth=CohortTruth())
    clinical["split"] = np.where(np.arange(90) < 50, "train", np.where(np.arange(90) < 70, "internal", "external"))
    clinical.to_csv(tmp_path / "clinical.csv", index=False)
    measurements.to_csv(tmp_path / "measurements.csv", index=False)
    rng = np.random.default_rng(0)
    features = pd.DataFrame({"patient_id": clinical["patient_id"], **{f"f{i}": rng.normal(size=90) for i in range(6)}})
    features.loc[3, "f1"] = np.nan
    features.loc[60, "f2"] = np.inf
    features.to_csv(tmp_path / "features.csv", index=False)
    pd.DataFrame({"patient_id": clinical["patient_id"], "a": 1.0, "b": 2.0}).to_csv(tmp_path / "constant.csv", index=False)
    return tmp_path


def test_deepsurv_constant_features_are_refused_in_one_line(deepsurv_tables, run_cli):
    root = deepsurv_tables
    code, _, err = run_cli("cohort", "deepsurv", root / "clinical.csv", "--measurements", root / "measurements.csv",
                           "--features", root / "constant.csv", "--out", root / "out", "--progress", "none")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no usable feature column" in err
    assert not (root / "out").exists()


def test_deepsurv_notes_imputed_nan_and_inf_features(deepsurv_tables, run_cli):
    root = deepsurv_tables
    code, out, err = run_cli("cohort", "deepsurv", root / "clinical.csv", "--measurements", root / "measurements.csv",
                             "--features", root / "features.csv", "--out", root / "out", "--bootstrap", "5",
                             "--code-size", "4", "--progress", "none")
    assert code == 0, err
    assert "1 missing (NaN) and 1 infinite values were replaced by the training median" in out
    assert "train 1, internal 1, external 0" in out and "columns: f1, f2" in out


# ----- read-only or full output folder: exit 2, one line, nothing written ---------------------------------
def _fail_after(count: int, error: int):
    """A write_atomic that writes ``count`` files and then fails like a full or read-only disk."""
    from MuscleQuantLib.fileio import write_atomic

    calls = {"n": 0}

    def failing(target, write, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > count:
            raise OSError(error, "injected fault", str(target))
        return write_atomic(target, write, *args, **kwargs)

    return failing


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS])
@pytest.mark.parametrize(("action", "extra", "after"), [
    ("report", [], 6), ("cox", ["--covariates", "smi_cm2_m2,age", "--bootstrap", "0"], 3),
    ("km", ["--group", "median:smi_cm2_m2"], 1), ("definitions", [], 1)])
def test_failing_writes_leave_no_partial_output_and_keep_the_old_run(cohort_files, run_cli, monkeypatch, error,
                                                                      action, extra, after):
    from MuscleQuantSurvivalLib import figure_files, report

    root, _, _ = cohort_files
    base = ["cohort", action, root / "clinical.csv", "--measurements", root / "measurements.csv", *extra]
    if action == "report":
        base += ["--bootstrap", "0"]
    assert run_cli(*base, "--out", root / "old", "--progress", "none")[0] == 0
    before = {p.relative_to(root / "old"): p.read_bytes() for p in (root / "old").rglob("*") if p.is_file()}
    failing = _fail_after(after, error)
    for module in (figure_files, report):
        monkeypatch.setattr(module, "write_atomic", failing)
    monkeypatch.setattr("MuscleQuantLib.fileio.write_atomic", failing)
    for out in (root / "new", root / "old"):
        code, _, err = run_cli(*base, "--out", out, "--progress", "none")
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1, err
        assert ("no space left" if error == errno.ENOSPC else "cannot write here") in lines[0]
        assert "nothing was written" in lines[0] and "internal error" not in err
    assert not (root / "new").exists()
    after_run = {p.relative_to(root / "old"): p.read_bytes() for p in (root / "old").rglob("*") if p.is_file()}
    assert after_run == before  # the earlier results are untouched, nothing half-written beside them
    assert not [p for p in root.rglob("*partial*")]


def test_read_only_output_folder_is_one_line(cohort_files, run_cli, monkeypatch):
    import tempfile

    root, _, _ = cohort_files

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", kwargs.get("dir"))

    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    code, _, err = run_cli("cohort", "report", root / "clinical.csv", "--bootstrap", "0", "--out", root / "ro",
                           "--progress", "none")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot write here" in err
    assert not (root / "ro").exists()
