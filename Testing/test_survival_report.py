"""The full report of a clean cohort: every analysis with its figure, CSV tables, run.json that
reproduces it, and an HTML file that headless Chromium opens with every figure decoded.

Chromium is a system package (CI: ``apt-get install -y chromium``); without it the browser test is
skipped with that reason, the rest still runs.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from MuscleQuantLib.cli import main
from MuscleQuantLib.phantoms.cohort import simulate_cohort_table

FIGURE_TAG = re.compile(r"<img class='figure' alt='([^']+)' data-figure='[^']+' src='data:image/png;base64,([^']+)'>")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cohort")
    clinical, measurements = simulate_cohort_table(150, seed=21)
    rng = np.random.default_rng(1)
    measurements["smi_manual"] = measurements["smi_cm2_m2"] + rng.normal(0.3, 1.0, len(measurements))
    clinical.to_csv(folder / "clinical.csv", index=False)
    measurements.to_csv(folder / "measurements.csv", index=False)
    out = folder / "report"
    code = main(["cohort", "report", str(folder / "clinical.csv"), "--measurements", str(folder / "measurements.csv"),
                 "--measure", "smi_cm2_m2", "--agreement", "smi_cm2_m2:smi_manual", "--time", "os_months",
                 "--event", "os_event", "--bootstrap", "20", "--out", str(out), "--progress", "none"])
    assert code == 0
    return out


def test_report_has_every_analysis_with_its_figure(report):
    text = (report / "report.html").read_text(encoding="utf-8")
    assert "Not done" not in text and "Traceback" not in text
    figures = dict(FIGURE_TAG.findall(text))
    expected_prefixes = ["km_os_smi_cm2_m2_median_split", "km_os_smi_cm2_m2_median_split_within_sex",
                         "forest_cox_1", "forest_cox_2", "forest_definitions", "pearson_correlation",
                         "smi_cm2_m2_vs_smi_manual"]
    for prefix in expected_prefixes:
        assert any(name.startswith(prefix) for name in figures), f"no figure {prefix}"
    assert f"<meta name='figure-count' content='{len(figures)}'>" in text
    for name, data in figures.items():
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n", name
        for suffix in ("png", "svg", "pdf"):
            assert (report / "figures" / f"{name}.{suffix}").stat().st_size > 1000, (name, suffix)
    for heading in ("Data summary", "Kaplan–Meier: OS by smi_cm2_m2: median split", "Cox: OS: multivariable Cox",
                    "Sarcopenia definitions side by side", "Welch t-test", "Bland-Altman, ICC(2,1)",
                    "Rows left out, by analysis", "Configuration (run.json)"):
        assert heading in text, heading
    for table in ("data_summary", "validation_issues", "exclusions", "cox_1", "cox_1_ph_test", "cox_1_univariate",
                  "cox_models", "definitions", "statistics", "km_os_smi_cm2_m2_median_split"):
        assert (report / "tables" / f"{table}.csv").is_file(), table
    models = pd.read_csv(report / "tables" / "cox_models.csv")
    assert (models["c_index_ci_low"] < models["c_index"]).all() and (models["events_per_variable"] > 10).all()


def test_report_is_reproduced_from_its_configuration(report, tmp_path):
    again = tmp_path / "again"
    assert main(["cohort", "report", "--config", str(report / "run.json"), "--out", str(again), "--progress", "none"]) == 0
    for name in ("cox_1", "cox_2", "definitions", "statistics", "km_os_smi_cm2_m2_median_split_within_sex"):
        first = pd.read_csv(report / "tables" / f"{name}.csv")
        second = pd.read_csv(again / "tables" / f"{name}.csv")
        pd.testing.assert_frame_equal(first, second, obj=name)


def _chromium() -> str | None:
    return next((path for name in ("chromium", "chromium-browser", "google-chrome")
                 if (path := shutil.which(name))), None)


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium not installed (apt-get install -y chromium)")
def test_report_opens_in_headless_chromium_with_all_figures_decoded(report, tmp_path):
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
               (report / "report.html").as_uri()]
    dom = subprocess.run(command, capture_output=True, text=True, encoding="utf-8", timeout=120, check=True).stdout
    count = int(re.search(r'<meta name="figure-count" content="(\d+)"', dom).group(1))
    assert count >= 7
    assert f'data-figures-decoded="{count}/{count}"' in dom  # set by the page once every image has decoded
    assert dom.count('data-decoded="true"') == count and 'data-decoded="false"' not in dom
