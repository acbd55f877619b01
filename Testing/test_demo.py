"""The README's main job (issue 14 item 5): ``musclequant demo`` is deterministic — no wall-clock budget
anywhere, so the same seed prints the same numbers twice (and on a busy machine as on a quiet one); it
finds the level automatically with the starter finder, measures the real CT, and trains by iteration
counts when asked."""

from __future__ import annotations

import json

from MuscleQuantLib.models.starter import STARTER_NOTICE


def _demo(run_cli, out, *extra):
    code, stdout, err = run_cli("demo", "--out", out, "--test-cases", "1", "--cohort-patients", "80", *extra)
    assert code == 0, err
    return stdout, json.loads((out / "demo_summary.json").read_text(encoding="utf-8"))


def test_same_seed_prints_the_same_numbers_with_automatic_levels_and_the_real_ct(tmp_path, run_cli, shared_data,
                                                                                  monkeypatch):
    monkeypatch.setenv("MUSCLEQUANT_SHARED_DATA", str(shared_data))
    first, summary = _demo(run_cli, tmp_path / "a", "--presets", "l3")
    second, _ = _demo(run_cli, tmp_path / "b", "--presets", "l3")
    assert first == second and first.strip()
    l3 = summary["presets"][0]
    assert l3["source"] == "starter" and l3["level_found_automatically"] and l3["notice"] == STARTER_NOTICE
    assert all(case["slice_chosen_by"] is None or case["slice_chosen_by"].startswith("finder") for case in l3["cases"])
    assert all(case["quantified"] for case in l3["cases"] if case["slice"] is not None)
    real = summary["real_ct"]
    assert real["image"].endswith("example_ct.nii.gz") and real["notice"] == STARTER_NOTICE
    if real["l3_slice"] is None:  # a clear "not found" with its reason, nothing measured on a guess
        assert real["not_found"] and "L3 not found" in first and "total_muscle_mm2" not in real
    else:
        assert 0 <= real["l3_slice"] < 112 and real["total_muscle_mm2"] > 0
        assert f"L3 at stored slice {real['l3_slice']}" in first
    assert STARTER_NOTICE in first
    assert summary["cohort"]["exit_code"] == 0
    report = (tmp_path / "a" / "demo_report.md").read_text(encoding="utf-8")
    assert "| l3 | starter |" in report


def test_training_runs_by_iteration_counts(tmp_path, run_cli, monkeypatch):
    monkeypatch.setenv("MUSCLEQUANT_SHARED_DATA", str(tmp_path / "nowhere"))
    _, summary = _demo(run_cli, tmp_path / "t", "--presets", "none", "--train", "c3", "--profile", "tiny",
                       "--epochs", "1", "--train-cases", "3")
    c3 = summary["presets"][0]
    assert c3["preset"] == "c3" and c3["source"] == "trained 1 epochs" and c3["test_cases"] == 1
    assert set(c3["held_out_dice"]) == {"paravertebral_muscles", "sternocleidomastoid", "all_muscle"}
    card = json.loads((tmp_path / "t" / "c3_trained" / "run" / "model" / "model.json").read_text(encoding="utf-8"))
    assert card["training"]["max_minutes"] is None and card["training"]["per_fold"][0]["stopped"] == "max_epochs"
    assert card["training"]["max_epochs"] == 1  # the epochs given, not the profile's default in the recipe
    assert "skipped" in summary["real_ct"]


def test_demo_refuses_unknown_presets_and_presets_without_a_starter(tmp_path, run_cli, monkeypatch):
    code, _, err = run_cli("demo", "--out", tmp_path, "--presets", "c3,knee")
    assert code == 2 and "knee" in err and not any(tmp_path.iterdir())
    monkeypatch.setattr("MuscleQuantLib.models.starter.STARTER_DIR", tmp_path.parent / "no-starters")
    code, _, err = run_cli("demo", "--out", tmp_path, "--presets", "thigh")
    assert code == 2 and "--train" in err and not any(tmp_path.iterdir())
