"""Starter models for the neck and the thigh (issue 14 item 2): the C3 muscle model, the C3 level finder
and the thigh model ship as package data, trained on synthetic data only (anatomical phantoms with
scanner randomisation and a random intensity curve per patch), SHA-256 sealed, the default for their
presets on a fresh install, and they give a plausible result on a small held-out phantom (seeds the
training never drew)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from MuscleQuantLib.models.starter import (
    STARTER_DIR,
    STARTER_NOTICE,
    default_model,
    starter_for,
)

SHIPPED = {"c3": "c3-starter", "c3_level": "c3-level-starter", "thigh": "thigh-starter"}
HELD_OUT_SEED = 91400  # the starters drew seeds 1420-1423



def _phantom(anatomy: str, folder: Path, resolution: str) -> tuple[Path, np.ndarray, dict]:
    from MuscleQuantLib.phantoms.registry import PhantomOptions, generate_case, write_case

    entry = write_case(generate_case(anatomy, HELD_OUT_SEED, 0, PhantomOptions(in_view=True, resolution=resolution)),
                       folder)
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / entry["labels"])))
    return folder / entry["image"], reference, json.loads((folder / entry["metadata"]).read_text(encoding="utf-8"))


def _dice(pred: np.ndarray, ref: np.ndarray) -> float:
    total = pred.sum() + ref.sum()
    return float(2.0 * np.logical_and(pred, ref).sum() / total) if total else 1.0


def _segment(run_cli, image: Path, preset: str, out: Path, *extra: str) -> tuple[np.ndarray, dict]:
    """``segment`` without ``--model``: the starter must be picked and say what it is."""
    code, stdout, stderr = run_cli("segment", image, "--preset", preset, "--out", out, "--device", "cpu", *extra)
    assert code == 0, stderr
    assert STARTER_NOTICE in stdout + stderr
    summary = json.loads(next(out.glob("*_segmentation.json")).read_text(encoding="utf-8"))
    assert summary["notice"] == STARTER_NOTICE and summary["model"]["model_id"] == SHIPPED[preset]
    from MuscleQuantLib.pipeline.postprocess import merge_sides
    from MuscleQuantLib.presets import get_preset

    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(next(out.glob("*_labels.nii.gz")))))
    return merge_sides(labels, get_preset(preset)), summary


def test_they_are_the_default_for_their_presets_on_a_fresh_install(fresh_home, run_cli):
    from MuscleQuantLib.levels.find import default_level_model
    from MuscleQuantLib.levels.specs import spec_for

    for preset, model_id in SHIPPED.items():
        assert default_model(preset) == starter_for(preset) == STARTER_DIR / model_id
    assert default_level_model(spec_for("c3")) == STARTER_DIR / "c3-level-starter"
    code, out, err = run_cli("models", "list", "--json", "--verify")
    assert code == 0, err
    rows = {r["id"]: r for r in json.loads(out)}
    for preset, model_id in SHIPPED.items():
        assert (rows[model_id]["source"], rows[model_id]["status"], rows[model_id]["preset"]) == (
            "starter", "verified", preset)


def test_c3_starter_finds_c3_and_outlines_the_neck_muscles_of_a_held_out_phantom(fresh_home, run_cli, tmp_path):
    from MuscleQuantLib.presets import get_preset
    from MuscleQuantLib.training.data import target_stored_slice

    image, reference, metadata = _phantom("c3", tmp_path / "phantom", "standard")
    true_slice = target_stored_slice(metadata, get_preset("c3"))
    code, out, err = run_cli("--progress", "json", "find-level", image, "--preset", "c3", "--device", "cpu")
    assert code == 0, err
    found = json.loads(out.strip().splitlines()[-1])["result"]
    assert found["notice"] == STARTER_NOTICE and found["found"], found
    assert abs(found["slice_fraction"] - true_slice) * metadata["spacing_mm"][2] <= 10.0, (found, true_slice)

    k = int(round(true_slice))
    predicted, summary = _segment(run_cli, image, "c3", tmp_path / "seg", "--slice", str(k))
    assert summary["slice"]["index"] == k and "plausibility" in json.dumps(summary)
    for value in (1, 2):  # paravertebral muscles, sternocleidomastoids
        assert _dice(predicted[k] == value, reference[k] == value) >= 0.6
    assert _dice(predicted[k] > 0, reference[k] > 0) >= 0.8


def test_thigh_starter_outlines_the_thigh_muscles_of_a_held_out_phantom(fresh_home, run_cli, tmp_path):
    from MuscleQuantLib.presets.thigh import MUSCLES

    image, reference, _ = _phantom("thigh", tmp_path / "phantom", "low")
    predicted, summary = _segment(run_cli, image, "thigh", tmp_path / "seg")
    assert "plausibility" in json.dumps(summary)
    scores = [_dice(predicted == v, reference == v) for v in range(1, len(MUSCLES) + 1) if (reference == v).any()]
    assert np.mean(scores) >= 0.5, scores
    assert _dice(predicted > 0, reference > 0) >= 0.8
