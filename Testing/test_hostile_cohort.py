"""Hostile input for ``musclequant cohort``: every case ends in exit 2 with one line on stderr that names
the file or option and the reason, and writes nothing (no output folder, no staging leftovers)."""

from __future__ import annotations

import json

import pytest

from MuscleQuantLib.phantoms.cohort import CohortTruth, simulate_cohort_table


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_cohort")
    clinical, measurements = simulate_cohort_table(80, seed=4, truth=CohortTruth())
    clinical.to_csv(root / "clinical.csv", index=False)
    measurements.to_csv(root / "measurements.csv", index=False)
    (root / "fake.xlsx").write_bytes((root / "clinical.csv").read_bytes())
    (root / "empty.csv").write_bytes(b"")
    (root / "blank.csv").write_text("\n\n\n", encoding="utf-8")
    (root / "garbage.csv").write_bytes(bytes(range(256)) * 4)
    (root / "foreign.csv").write_text("a;b\n1;2\n3;4\n", encoding="utf-8")
    (root / "header_only.csv").write_text("patient_id,smi_cm2_m2\n", encoding="utf-8")
    (root / "clinical.json").write_text("{}", encoding="utf-8")
    (root / "a_folder.csv").mkdir()
    (root / "existing_file").write_text("x", encoding="utf-8")
    grams = clinical.assign(weight_kg=clinical["weight_kg"] * 1000)
    grams.to_csv(root / "grams.csv", index=False)
    zero = measurements.copy()
    zero.loc[3, "smi_cm2_m2"] = 0.0
    zero.to_csv(root / "zero_smi.csv", index=False)
    commas = measurements.assign(smi_cm2_m2=measurements["smi_cm2_m2"].map(lambda v: f"{v:.2f}".replace(".", ",")))
    commas.to_csv(root / "commas.csv", index=False)
    (root / "bad.json").write_text("{not json", encoding="utf-8")
    (root / "unknown_field.json").write_text(json.dumps({"clinical": "clinical.csv", "colour": "red"}), encoding="utf-8")
    (root / "negative.json").write_text(json.dumps({"clinical": "clinical.csv", "n_bootstrap": -1}), encoding="utf-8")
    (root / "list.json").write_text("[1, 2]", encoding="utf-8")
    return root


C, M = "{root}/clinical.csv", "{root}/measurements.csv"
CASES = {  # name: (arguments, fragment the one-line message must contain)
    "clinical missing": (["cox", "{root}/nope.csv", "--covariates", "age"], "nope.csv: file not found"),
    "clinical is a folder": (["km", "{root}/a_folder.csv"], "a_folder.csv"),
    "xlsx that is a csv": (["km", "{root}/fake.xlsx"], "fake.xlsx: is not an Excel workbook"),
    "empty csv": (["km", "{root}/empty.csv"], "empty.csv: the file is empty"),
    "blank csv": (["km", "{root}/blank.csv"], "blank.csv"),
    "binary garbage": (["km", "{root}/garbage.csv"], "garbage.csv: is not a UTF-8 text table"),
    "garbage measurements": (["cox", C, "--measurements", "{root}/garbage.csv", "--covariates", "age"], "garbage.csv"),
    "foreign measurements": (["cox", C, "--measurements", "{root}/foreign.csv", "--covariates", "age"],
                             "foreign.csv, column patient_id: error: required column missing"),
    "measurements without rows": (["km", C, "--measurements", "{root}/header_only.csv"], "header_only.csv: the table has no"),
    "unsupported suffix": (["km", "{root}/clinical.json"], "clinical.json: unsupported table format"),
    "unknown endpoint": (["km", C, "--endpoint", "XYZ"], "unknown endpoint 'XYZ'"),
    "unknown grouping": (["km", C, "--measurements", M, "--group", "sextiles:smi_cm2_m2"], "unknown grouping 'sextiles'"),
    "cutoff not a number": (["km", C, "--measurements", M, "--group", "cutoff:smi_cm2_m2:abc"], "--group"),
    "unknown covariate": (["cox", C, "--covariates", "albumin"], "albumin"),
    "per-unit not a number": (["cox", C, "--measurements", M, "--covariates", "smi_cm2_m2", "--per-unit",
                               "smi_cm2_m2=abc"], "--per-unit"),
    "per-unit negative": (["cox", C, "--measurements", M, "--covariates", "smi_cm2_m2", "--per-unit",
                           "smi_cm2_m2=-10"], "must be > 0"),
    "negative bootstrap": (["cox", C, "--covariates", "age", "--bootstrap", "-5"], "--bootstrap: must be 0 or more"),
    "negative permutations": (["km", C, "--measurements", M, "--group", "optimal:smi_cm2_m2", "--permutations", "-1"],
                              "--permutations: must be 0 or more"),
    "negative seed": (["km", C, "--seed", "-3"], "--seed: must be 0 or more"),
    "time without event": (["km", C, "--time", "os_months"], "--time/--event"),
    "out is a file": (["km", C, "--out", "{root}/existing_file"], "existing_file: exists and is not a folder"),
    "weight in grams": (["cox", "{root}/grams.csv", "--covariates", "age"], "column weight_kg: error: implausible weight"),
    "zero muscle index": (["cox", C, "--measurements", "{root}/zero_smi.csv", "--covariates", "smi_cm2_m2"],
                          "zero_smi.csv, row 5 (patient"),
    "decimal commas": (["cox", C, "--measurements", "{root}/commas.csv", "--covariates", "smi_cm2_m2"],
                       "has a decimal comma"),
    "config missing": (["report", "--config", "{root}/none.json"], "none.json: configuration file not found"),
    "config not json": (["report", "--config", "{root}/bad.json"], "bad.json: not valid JSON"),
    "config not an object": (["report", "--config", "{root}/list.json"], "list.json: the configuration must be"),
    "config unknown field": (["report", "--config", "{root}/unknown_field.json"], "unknown field(s) colour"),
    "config negative bootstrap": (["report", "--config", "{root}/negative.json"], "'n_bootstrap' must be"),
    "report without tables": (["report"], "give the clinical table"),
    "nothing to compute": (["stats", C], "nothing to compute"),
    "unknown definition": (["definitions", C, "--measurements", M, "--definitions", "nobody_2031"],
                           "'nobody_2031' is not a known definition"),
    "bad formula": (["cox", C, "--formula", "age +* )"], "age +* )"),
    "missing sheet": (["km", "{root}/real.xlsx", "--sheet", "Nope"], "real.xlsx: cannot read"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_cohort_input_is_refused_in_one_line_without_output(name, tables, run_cli):
    if name == "missing sheet":
        import pandas as pd

        pd.read_csv(tables / "clinical.csv").to_excel(tables / "real.xlsx", index=False)
    arguments, fragment = CASES[name]
    out = tables / f"out_{name.replace(' ', '_')}"
    argv = ["cohort", *(a.format(root=tables) for a in arguments)]
    if "--out" not in argv and argv[1] != "validate":
        argv += ["--out", str(out)]
    code, _, err = run_cli(*argv, "--progress", "none")
    lines = err.strip().splitlines()
    assert code == 2, (name, err)
    assert len(lines) == 1 and lines[0].startswith("musclequant cohort: error:"), (name, err)
    assert fragment.format(root=tables) in lines[0], (name, lines[0])
    assert "Traceback" not in err and "internal error" not in err
    assert not out.exists(), f"{name}: partial output left in {out}"
    assert not list(tables.glob(".*partial*")), f"{name}: staging folder left behind"
