"""Tiny slab finders (C3) and vertebra ladders (L3) trained for seconds on a few phantoms learn where the
level is (error well below chance, i.e. below answering the scan's middle slice), the real CT gets a
level with its confidence or a clean "not found" on its true geometry, and ``evaluate-levels`` reports
it all.

A seconds-long model is too weak for the finder's plausibility gate to pass every case, so learning is
measured on the network's slab profile itself (the peak of its z-profile); the gate has its own tests
(``test_levels_find``) and the benchmark (``Testing/benchmarks/bench_levels.py``) measures trained finders.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from MuscleQuantLib.fileio import write_json
from MuscleQuantLib.imageio import read_image
from MuscleQuantLib.levels import find as F
from MuscleQuantLib.levels.evaluate import evaluation_cases, true_slice
from MuscleQuantLib.levels.specs import spec_for
from MuscleQuantLib.models.modelfile import load_model
from MuscleQuantLib.phantoms.registry import PhantomOptions, generate_case, write_case
from MuscleQuantLib.pipeline.geometry import to_canonical
from MuscleQuantLib.pipeline.prepare import prepare_volume
from MuscleQuantLib.presets import get_preset
from MuscleQuantLib.progress import Progress
from MuscleQuantLib.training.run import TrainRequest, train


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """On a shared CPU, intra-op threads fight each other; one thread trains these tiny nets fastest."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _phantoms(folder: Path, anatomy: str, seed: int, n: int, in_view: bool, extra: list | None = None) -> Path:
    options = PhantomOptions(in_view=in_view, resolution="low")
    entries = [write_case(generate_case(anatomy, seed, i, options), folder) for i in range(n)]
    write_json(folder / "dataset.json", {"cases": entries + (extra or [])})
    return folder


def _finder(root: Path, anatomy: str, level_preset: str, n_train: int, epochs: int) -> Path:
    """Train a tiny slab model on ``n_train`` in-view phantoms plus one without the level."""
    negative = write_case(generate_case(anatomy, 32, 0, PhantomOptions(in_view=False, resolution="low")),
                          root / "train")
    _phantoms(root / "train", anatomy, 31, n_train, True, [negative])
    train(TrainRequest(preset=get_preset(level_preset), data=root / "train", out=root / "run", profile="tiny",
                       seed=0, max_epochs=epochs), Progress("none"))
    return root / "run" / "model"


@pytest.fixture(scope="module")
def c3_finder(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("c3_finder")
    model = _finder(root, "c3", "c3_level", 7, 30)
    return {"model": model, "held": _phantoms(root / "held", "c3", 33, 4, True), "train": root / "train"}


@pytest.fixture(scope="module")
def l3_finder(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("l3_finder")
    model = _finder(root, "l3", "l3_level", 6, 60)  # a vertebra ladder: about 60 s on one thread
    return {"model": model, "outside": _phantoms(root / "outside", "l3", 34, 1, False),
            "held": _phantoms(root / "held", "l3", 33, 8, True)}  # 8: one miscounted scan must not decide


def _profile_peak(model, image: sitk.Image, level_preset: str) -> float:
    """Stored slice where the network's slab profile peaks (the finder's evidence, before any gate)."""
    preset, profile = F._card_settings(get_preset(level_preset), model.card)
    prepared = prepare_volume(to_canonical(image), preset, profile.spacing)
    voted, probabilities = F.slab_maps(model, prepared, profile.roi, torch.device("cpu"))
    _, slab, _, _ = F.slab_profiles(voted, probabilities, F.body_mask(prepared.image, preset.modality))
    smooth = np.convolve(slab, np.ones(5) / 5, mode="same")
    return F._stored_converter(image, prepared)(float(np.argmax(smooth)))


def test_tiny_c3_finder_learns_where_the_level_is(c3_finder):
    model = load_model(c3_finder["model"])
    spec = spec_for("c3")
    errors, chance = [], []
    for _, path, metadata in evaluation_cases(c3_finder["held"]):
        image = read_image(path)
        truth = true_slice(spec, "C3", metadata)
        mm = metadata["spacing_mm"][2]
        errors.append(abs(_profile_peak(model, image, "c3_level") - truth) * mm)
        chance.append(abs((image.GetSize()[2] - 1) / 2 - truth) * mm)
    assert np.median(errors) < 0.4 * np.median(chance), (errors, chance)
    assert np.mean(errors) < 0.5 * np.mean(chance), (errors, chance)


def test_tiny_l3_ladder_learns_where_l3_is(l3_finder, monkeypatch):
    """The whole ladder finder (count along the scan, then read L3's body), its confidence gate off: a
    seconds-long model's confidence is not the point here, where it puts L3 is."""
    from dataclasses import replace

    from MuscleQuantLib.levels.specs import LEVEL_SPECS

    monkeypatch.setitem(LEVEL_SPECS, "l3_level", replace(LEVEL_SPECS["l3_level"], min_confidence=0.0))
    model = load_model(l3_finder["model"])
    spec = spec_for("l3")
    errors, chance = [], []
    for _, path, metadata in evaluation_cases(l3_finder["held"]):
        image = read_image(path)
        result = F.find_level("l3", image, path, model=model, device="cpu")
        assert result.found and result.method.startswith("vertebra-ladder"), result.reason
        truth, mm = true_slice(spec, "L3", metadata), metadata["spacing_mm"][2]
        errors.append(abs(result.slice_fraction - truth) * mm)
        chance.append(abs((image.GetSize()[2] - 1) / 2 - truth) * mm)
    assert np.median(errors) < 0.4 * np.median(chance), (errors, chance)
    assert np.mean(errors) < 0.5 * np.mean(chance), (errors, chance)


def test_model_card_records_the_level_preset_and_keeps_the_negative_case(c3_finder):
    card = json.loads((c3_finder["model"] / "model.json").read_text(encoding="utf-8"))
    assert card["preset"] == "c3_level" and card["spatial_dims"] == 3
    assert [label["name"] for label in card["labels"]] == ["background", "C3", "cranial", "caudal"]
    assert card["training"]["data"]["cases_used"] == 8 and not card["training"]["data"]["left_out"]


def test_real_ct_gets_a_level_with_confidence_or_a_clean_not_found(l3_finder, c3_finder, shared_data):
    path = shared_data / "example_ct.nii.gz"  # RAS-stored abdomen–pelvis CT, T11 to proximal femurs
    image = read_image(path)
    for finder, preset in ((l3_finder, "l3"), (c3_finder, "c3")):
        result = F.find_level(preset, image, path, model_dir=finder["model"], device="cpu")
        json.dumps(result.to_dict())
        assert 0.0 <= result.confidence <= 1.0
        if result.found:
            assert 0 <= result.slice_index < image.GetSize()[2]
            centre = image.TransformContinuousIndexToPhysicalPoint((60.5, 50.0, float(result.slice_index)))
            assert result.position_mm == pytest.approx(list(centre))
        else:
            assert result.reason and result.slice_index is None and "not found" in result.message()
    stale = read_image(shared_data / "example_ct_sm.nii.gz")  # header origin not updated after cropping
    result_sm = F.find_level("l3", stale, model_dir=l3_finder["model"], device="cpu")
    assert result_sm.found or result_sm.reason


def test_evaluate_levels_cli_round_trip(l3_finder, run_cli, tmp_path):
    out = tmp_path / "levels.json"
    code, stdout, err = run_cli("--progress", "json", "evaluate-levels", "--preset", "l3", "--data", l3_finder["outside"],
                                "--level-model", l3_finder["model"], "--out", out, "--device", "cpu")
    assert code == 0, err
    report = json.loads(out.read_text(encoding="utf-8"))
    summary = report["summary"]
    assert summary["out_of_view"] == 1 and summary["in_view"] == 0
    assert summary["out_of_view_flagged_rate"] in (0.0, 1.0)
    assert set(summary["levels"]["L3"]) >= {"error_mm", "within_5mm_rate", "chance_error_mm"}
    assert report["cases"][0]["found"] is (summary["out_of_view_flagged_rate"] == 0.0)
    done = json.loads(stdout.strip().splitlines()[-1])
    assert done["stage"] == "done" and done["result"]["report"] == str(out)
    code, _, err = run_cli("evaluate-levels", "--preset", "thigh", "--data", l3_finder["outside"])
    assert code == 2 and "no level finder" in err
