"""``musclequant radiomics --jobs``: worker processes give exactly the serial table, and a bad case
still stops the run in one line without output."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import SimpleITK as sitk


def test_parallel_extraction_equals_serial_and_fails_cleanly(tmp_path, run_cli):
    cases = tmp_path / "cases"
    assert run_cli("phantom", "--texture-cohort", "20", "--seed", "3", "--out", cases, "--progress", "none")[0] == 0
    tables, settings = [], []
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}.csv"
        code, _, err = run_cli("radiomics", "--dataset", cases, "--out", out, "--features", "original",
                               "--jobs", jobs, "--progress", "none")
        assert code == 0, err
        tables.append(pd.read_csv(out))
        settings.append(json.loads(out.with_suffix(".settings.json").read_text(encoding="utf-8"))["cases"])
    assert len(tables[0]) == 20 and tables[0].shape[1] > 100
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)  # same rows, same order, same values
    assert settings[0] == settings[1]

    broken = tmp_path / "broken"
    shutil.copytree(cases, broken)
    bad = sorted(broken.glob("*_labels.nii.gz"))[3]
    sitk.WriteImage(sitk.Multiply(sitk.ReadImage(str(bad)), 0), str(bad))
    out = tmp_path / "broken.csv"
    code, _, err = run_cli("radiomics", "--dataset", broken, "--out", out, "--features", "original", "--jobs", "2",
                           "--progress", "none")
    assert code == 2 and bad.name in err and "no muscle" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not out.with_suffix(".settings.json").exists()
    code, _, err = run_cli("radiomics", "--dataset", cases, "--out", out, "--jobs", "-1", "--progress", "none")
    assert code == 2 and "--jobs" in err
