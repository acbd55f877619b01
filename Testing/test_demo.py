"""The README's main job, shrunk: ``musclequant demo`` runs phantoms → train → segment → evaluate →
quantify → cohort report end to end and writes its report (tiny profile, one preset)."""

from __future__ import annotations

import json


def test_demo_runs_end_to_end(tmp_path, run_cli):
    out = tmp_path / "demo"
    code, _, err = run_cli("demo", "--out", out, "--profile", "tiny", "--presets", "c3", "--train-cases", "3",
                           "--test-cases", "1", "--minutes", "0.2", "--progress", "none")
    assert code == 0, err
    summary = json.loads((out / "demo_summary.json").read_text(encoding="utf-8"))
    c3 = summary["presets"][0]
    assert c3["preset"] == "c3" and c3["test_cases"] == 1
    assert set(c3["held_out_dice"]) == {"paravertebral_muscles", "sternocleidomastoid", "all_muscle"}
    assert all(case["quantified"] for case in c3["cases"])
    assert (out / "c3" / "run" / "model" / "model.json").exists()
    assert (out / "c3" / "measurements" / "measurements.csv").exists()
    assert summary["cohort"]["exit_code"] == 0 and (out / "cohort" / "report" / "report.html").exists()
    report = (out / "demo_report.md").read_text(encoding="utf-8")
    assert "| c3 |" in report and "held-out" in report


def test_demo_refuses_unknown_presets(tmp_path, run_cli):
    code, _, err = run_cli("demo", "--out", tmp_path, "--presets", "c3,knee")
    assert code == 2 and "knee" in err and not any(tmp_path.iterdir())
