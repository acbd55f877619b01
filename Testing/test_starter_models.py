"""Starter models shipped as package data (issue 14 item 2): trained on synthetic data only, verified by
SHA-256, listed by ``models list``, used by ``segment``/``find-level`` without ``--model`` on a fresh
install (an installed model takes precedence), every output carrying the starter notice; and the L3
starter model's real-CT figures (validation only: ``example_ct_sm`` stored slices 0-9 against
TotalSegmentator's labels)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from MuscleQuantLib.models.modelfile import check_files
from MuscleQuantLib.models.starter import (
    STARTER_DIR,
    STARTER_NOTICE,
    default_model,
    starter_for,
)
from MuscleQuantLib.training.starter import STARTERS, recipe_of

sys.path.insert(0, str(Path(__file__).parent / "benchmarks"))

SHIPPED = {"l3": "l3-starter", "l3_level": "l3-level-starter"}



@pytest.mark.parametrize("preset", sorted(STARTERS))
def test_every_starter_recipe_ships_sealed_small_and_reproducible(preset):
    """One check for every shipped starter (muscle models and level finders): sealed, small, marked as a
    synthetic-data draft, trained by iteration counts, and made by the recipe the repository holds."""
    from MuscleQuantLib.models.card import read_card

    spec, model_id = STARTERS[preset], preset.replace("_", "-") + "-starter"
    folder = starter_for(preset)
    assert folder == STARTER_DIR / model_id
    card = read_card(folder)
    assert card["model_id"] == model_id and card["preset"] == preset
    check_files(folder, card)  # sizes and SHA-256 of every weights file
    assert sum(p.stat().st_size for p in folder.iterdir()) < 8 * 2**20
    training = card["training"]
    assert training["starter"] is True and training["notice"] == STARTER_NOTICE and STARTER_NOTICE in card["description"]
    assert training["real_data_used"] == "none" and f"train_starter_models.py --preset {preset} " in training["command"]
    assert training["synthetic"]["generator_version"] and training["synthetic"]["recipe"]
    assert training["max_minutes"] is None  # iteration counts, never a wall-clock budget
    assert training["seed"] == spec.train_seed
    assert len(card["members"]) == spec.folds and card["ensemble"] == ("single" if spec.folds == 1 else "majority")
    synthetic = training["synthetic"]
    if spec.data == "phantoms":
        assert synthetic["recipe"]["parts"] == [list(part) for part in spec.parts]
    else:
        assert (synthetic["data_seed"], synthetic["samples"]) == (spec.data_seed, spec.samples)
    if spec.contrast_curve:
        assert training["augmentation"]["contrast_curve_probability"] == spec.contrast_curve
    assert synthetic.get("mix", []) == [list(part) for part in spec.mix]
    if spec.recipe is not None:  # a named data recipe of the generator (e.g. L3's organ_contact)
        assert synthetic["recipe"] == json.loads(json.dumps(recipe_of(spec).to_dict()))
    if spec.base is not None:  # a fine-tune: started from the base recipe's model, and the card says which
        assert training["base_recipe"] == json.loads(json.dumps(dataclasses.asdict(spec.base)))
        assert training["init"]["model_id"] and training["init"]["card_sha256"]
    else:
        assert "init" not in training and "base_recipe" not in training


def test_a_base_model_is_checked_against_the_base_recipe(tmp_path):
    """``--base-model`` must be what the base recipe makes (preset, seeds, samples, profile, epochs), and only
    a recipe with a base stage takes one."""
    import train_starter_models

    from MuscleQuantLib.models.card import read_card
    from MuscleQuantLib.training.starter import StarterSpec, base_matches

    card = read_card(STARTER_DIR / "l3-starter")
    made = card["training"]
    spec = StarterSpec("l3", "synth", samples=made["synthetic"]["samples"], data_seed=made["synthetic"]["data_seed"],
                       train_seed=made["seed"], max_epochs=made.get("max_epochs") or 30,
                       profile=card["preprocessing"]["profile"])
    assert base_matches(card, spec) is None
    assert "seed" in base_matches(card, dataclasses.replace(spec, data_seed=spec.data_seed + 1))
    with pytest.raises(SystemExit) as stop:
        train_starter_models.main(["--preset", "temporalis", "--work", str(tmp_path), "--base-model", str(tmp_path)])
    assert stop.value.code == 2 and not any(tmp_path.iterdir())


def test_the_training_script_takes_folds_and_a_seed(tmp_path, monkeypatch):
    """``--folds K`` makes the folds' majority-vote model and ``--train-seed`` replaces the recipe's seed (how the
    seed spread and the fold ensemble in the issue-14 note were measured); the report and card say so."""
    import train_starter_models

    from MuscleQuantLib.models.card import read_card
    from MuscleQuantLib.training import starter

    small = dataclasses.replace(STARTERS["l3"], samples=6, max_epochs=1)
    monkeypatch.setitem(starter.STARTERS, "l3", small)
    monkeypatch.setattr(train_starter_models, "STARTERS", starter.STARTERS)
    code = train_starter_models.main(["--preset", "l3", "--work", str(tmp_path), "--folds", "2", "--train-seed", "5"])
    assert code == 0
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert (report["folds"], report["train_seed"], len(report["best_epoch"])) == (2, 5, 2)
    card = read_card(tmp_path / "run" / "model")
    assert card["ensemble"] == "majority" and len(card["members"]) == 2 and card["training"]["seed"] == 5
    with pytest.raises(SystemExit) as stop:  # a bad value stops before anything is drawn or trained
        train_starter_models.main(["--preset", "l3", "--work", str(tmp_path / "bad"), "--folds", "0"])
    assert stop.value.code == 2 and not (tmp_path / "bad").exists()


def test_models_list_shows_the_starters_on_a_fresh_install(fresh_home, run_cli):
    code, out, err = run_cli("models", "list", "--json")
    assert code == 0, err
    rows = {r["id"]: r for r in json.loads(out)}
    for preset, model_id in SHIPPED.items():
        assert (rows[model_id]["source"], rows[model_id]["status"], rows[model_id]["preset"]) == (
            "starter", "shipped", preset)
    code, out, _ = run_cli("models", "list", "--json", "--verify")
    assert {r["id"]: r["status"] for r in json.loads(out)}["l3-starter"] == "verified"
    code, out, _ = run_cli("models", "list")
    assert "l3-starter" in out and "starter" in out


def test_segment_without_model_uses_the_starter_and_says_so(fresh_home, run_cli, shared_data, tmp_path):
    code, out, err = run_cli("segment", shared_data / "example_ct_sm.nii.gz", "--preset", "l3", "--slice", "5",
                             "--out", tmp_path / "seg", "--device", "cpu")
    assert code == 0, err
    assert STARTER_NOTICE in out + err
    summary = json.loads((tmp_path / "seg" / "example_ct_sm_segmentation.json").read_text(encoding="utf-8"))
    assert summary["notice"] == STARTER_NOTICE and summary["model"]["model_id"] == "l3-starter"
    code, _, err = run_cli("segment", shared_data / "example_ct_sm.nii.gz", "--out", tmp_path / "x", "--slice", "5")
    assert code == 2 and "--preset" in err and err.count("\n") == 1


def test_an_installed_model_takes_precedence_over_the_starter(fresh_home, run_cli, tmp_path):
    from MuscleQuantLib.models.modelfile import copy_model

    assert default_model("l3") == starter_for("l3") == STARTER_DIR / "l3-starter"
    card = copy_model(STARTER_DIR / "l3-starter", tmp_path / "copy")
    assert run_cli("models", "import", tmp_path / "copy")[0] == 0
    assert default_model("l3") == fresh_home / "models" / card["model_id"] / card["version"]
    assert default_model("thigh") is None or default_model("thigh") == starter_for("thigh")


# Issue 14 targets on example_ct_sm stored slices 0-9 (L2): erector spinae Dice >= 0.85, psoas >= 0.70, < 2 % of
# predicted muscle inside liver, kidneys, spleen, stomach, gallbladder, pancreas, small bowel, duodenum or colon.
# With the L3 post-processing (one piece per side, bands grown to their fat edge, muscle peeled where it lies
# against an organ) the shipped starter meets all three targets: 0.871, 0.744, 1.43 %.
REAL_CT_FLOORS = {"dice_erector_spinae": 0.85, "dice_psoas_major": 0.70}  # the targets
REAL_CT_ORGAN_CEILING = 0.02  # the target; measured 1.43 % (3.43 % without the peeling, 6.2 % without one piece)


def test_l3_starter_on_the_real_ct(shared_data, monkeypatch):
    """Validation only: the real scan is never training data."""
    monkeypatch.setenv("MUSCLEQUANT_SHARED_DATA", str(shared_data))
    import realct_l3

    monkeypatch.setattr(realct_l3, "DATA", shared_data)
    figures = realct_l3.evaluate(STARTER_DIR / "l3-starter")
    for key, floor in REAL_CT_FLOORS.items():
        assert figures[key] >= floor, figures
    assert figures["organ_fraction"] < REAL_CT_ORGAN_CEILING, figures


def test_find_level_without_model_uses_the_starter_finder_on_the_real_ct(fresh_home, run_cli, shared_data):
    code, out, err = run_cli("--progress", "json", "find-level", shared_data / "example_ct.nii.gz", "--preset", "l3",
                             "--device", "cpu")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])["result"]
    assert result["notice"] == STARTER_NOTICE and 0.0 <= result["confidence"] <= 1.0
    # L2's lowest slice is stored slice 82 (example_ct_sm's offset); L3 below it, taken as tall as L2 (10 slices),
    # has its centre at 76.5: the found L3 must lie within one vertebral body (30 mm) of it.
    assert result["found"], result
    assert abs(result["slice_fraction"] - 76.5) * 3.0 <= 30.0, result


def test_l3_starter_meets_the_phantom_target_on_held_out_phantoms(tmp_path):
    """The engine issue's L3 target (all-muscle Dice >= 0.90) on the 5 held-out phantoms at their true level,
    scored as ``bench_segmentation.py --starters`` scores them: measured 0.903 with today's post-processing
    (0.908 before peeling at organs, 0.878 before growing the bands to their fat edge)."""
    import torch

    from MuscleQuantLib.demo import DemoRequest, evaluate_held_out
    from MuscleQuantLib.progress import Progress

    torch.set_num_threads(1)
    request = DemoRequest(out=tmp_path, presets=("l3",), epochs={"l3": 40}, train_cases={"l3": 24}, test_cases=5,
                          seed=0, profile="cpu", true_level=True)
    dice = evaluate_held_out("l3", starter_for("l3"), tmp_path / "l3", request, Progress("none"))["held_out_dice"]
    assert dice["all_muscle"] >= 0.90, dice
