"""Cohort tables: every kind of defect gives a row-level message and exit 2; XLSX works like CSV;
rows left out of an analysis are counted with their reason."""

from __future__ import annotations

import pandas as pd
import pytest

from MuscleQuantLib.cli import main
from MuscleQuantSurvivalLib.groupings import GroupingSpec, make_groups
from MuscleQuantSurvivalLib.km import kaplan_meier
from MuscleQuantSurvivalLib.tables import CohortTableError, load_cohort

CLINICAL = """patient_id,age,sex,height_m,weight_kg,os_months,os_event,pfs_months
P1,60,M,1.75,70,12,1,5
P2,61,F,165,60,10,0,4
P3,abc,M,1.80,80,8,1,3
P2,62,F,1.60,58,9,1,2
P5,55,M,1.70,70,-3,1,1
P6,58,F,1.60,55,0,1,1
P7,66,X,1.70,70,5,1,1
P8,70,M,1.70,70,5,2,1
P9,,F,1.60,60,7,1,1
P10,64,F,1.62,61,14,0,6
P11,59,M,1.81,85,20,1,9
P12,71,M,1.77,79,4,1,2
P13,52,F,1.59,50,30,0,12
P14,68,F,1.66,64,11,1,7
P15,63,M,1.72,90,16,1,8
"""
MEASUREMENTS = """patient_id,smi_cm2_m2
P1,45.1
P3,51.0
P5,forty
P1,44.0
P10,39.5
P11,
P99,50.0
P12,41.0
P13,38.2
P14,36.9
P15,55.3
"""


@pytest.fixture()
def defect_tables(tmp_path):
    (tmp_path / "clinical.csv").write_text(CLINICAL, encoding="utf-8")
    (tmp_path / "measurements.csv").write_text(MEASUREMENTS, encoding="utf-8")
    return tmp_path / "clinical.csv", tmp_path / "measurements.csv"


EXPECTED = [  # (fragment that must appear in one line, kind of defect)
    ("clinical.csv, column pfs_event: error: required column missing", "missing required column"),
    ("clinical.csv, row 3 (patient P2), column height_m: error: height 165 is above 3: looks like centimetres",
     "height in cm"),
    ("clinical.csv, row 4 (patient P3), column age: error: not a number: 'abc' (wrong type", "wrong type"),
    ("clinical.csv, row 5 (patient P2), column patient_id: error: duplicate patient id 'P2' (first seen in row 3)",
     "duplicate id"),
    ("clinical.csv, row 6 (patient P5), column os_months: error: follow-up time must be > 0, got -3", "negative time"),
    ("clinical.csv, row 7 (patient P6), column os_months: error: follow-up time must be > 0, got 0", "zero time"),
    ("clinical.csv, row 8 (patient P7), column sex: error: unknown sex code 'X'", "unknown sex code"),
    ("clinical.csv, row 9 (patient P8), column os_event: error: event must be 0 (censored) or 1", "event not 0/1"),
    ("clinical.csv, row 10 (patient P9), column age: warning: missing value", "missing value"),
    ("measurements.csv, row 4 (patient P5), column smi_cm2_m2: error: not a number: 'forty'", "wrong type (measurement)"),
    ("measurements.csv, row 5 (patient P1), column patient_id: error: duplicate patient id 'P1'", "duplicate measurement"),
    ("measurements.csv, row 7 (patient P11), column smi_cm2_m2: warning: missing value", "missing measurement"),
    ("measurements.csv, row 8 (patient P99), column patient_id: warning: no clinical row", "orphan measurement"),
    ("clinical.csv, row 9 (patient P8), column patient_id: warning: no measurement row", "no measurement"),
]


def test_each_defect_gives_a_row_level_message_and_exit_2(defect_tables, capsys):
    clinical, measurements = defect_tables
    code = main(["cohort", "validate", str(clinical), "--measurements", str(measurements), "--progress", "none"])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.out.splitlines()
    for fragment, kind in EXPECTED:
        assert any(fragment in line for line in lines), f"no message for {kind}: {fragment}"
    assert "errors in the cohort tables" in captured.err and "Traceback" not in captured.err


def test_analysis_refuses_errors_unless_excluded_and_then_says_why(defect_tables, capsys):
    clinical, measurements = defect_tables
    assert main(["cohort", "km", str(clinical), "--measurements", str(measurements), "--progress", "none"]) == 2
    assert "--exclude-invalid" in capsys.readouterr().err
    cohort = load_cohort(clinical, measurements)
    with pytest.raises(CohortTableError):
        cohort.usable(["os_months"])
    groups = make_groups(cohort, GroupingSpec("median", "smi_cm2_m2"), exclude_invalid=True)
    result = kaplan_meier(cohort, cohort.endpoints[0], groups, exclude_invalid=True)
    counts = result.exclusions.counts()
    assert (result.exclusions.n_total, result.exclusions.n_used) == (15, 5)  # P10, P12-P15
    assert counts["invalid row (errors listed by validate)"] == 8  # P1 (duplicate measurement) .. P8
    assert counts["no measurement row for the patient"] == 1  # P9
    assert counts["missing smi_cm2_m2"] == 1  # P11: measurement row present, value empty
    assert "heights must be in metres" in result.exclusions.details["P2 (row 3)"]
    assert "used 5 of 15 rows; left out: 8 invalid row" in result.exclusions.summary()


def test_xlsx_table_is_read_like_csv(tmp_path):
    clean = pd.DataFrame({"patient_id": ["A", "B", "C"], "age": [60, 70, 65], "sex": ["male", "F", "m"],
                          "os_months": [10.5, 3.0, 7.0], "os_event": [1, 0, 1]})
    clean.to_excel(tmp_path / "clinical.xlsx", index=False)
    cohort = load_cohort(tmp_path / "clinical.xlsx")
    assert cohort.report.ok, cohort.report.lines()
    assert cohort.data["sex"].tolist() == ["M", "F", "M"]
    assert cohort.data["os_months"].tolist() == [10.5, 3.0, 7.0]
    assert [e.name for e in cohort.endpoints] == ["OS"]


@pytest.mark.parametrize("action", ["validate", "km", "cox", "definitions", "stats", "report"])
def test_every_cohort_action_has_working_help(action, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["cohort", action, "--help"])
    assert exit_info.value.code == 0
    assert "usage: musclequant cohort" in capsys.readouterr().out
