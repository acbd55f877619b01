"""``segment`` uses the level finder unless ``--slice`` is given, stops with exit 2 and a one-line hint
when the level is not found, and ``find-level`` prints a finder's answer as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from MuscleQuantLib.levels import find as find_module
from MuscleQuantLib.levels.find import LevelResult
from MuscleQuantLib.models.modelfile import save_model
from MuscleQuantLib.networks import build_network
from MuscleQuantLib.presets import get_preset
from MuscleQuantLib.training.data import DatasetSummary
from MuscleQuantLib.training.run import TrainRequest, model_card_fields
from MuscleQuantLib.training.trainer import FoldResult


def _save(preset_name: str, out: Path, zero: bool = False) -> Path:
    """A saved model of ``preset_name``'s tiny profile (untrained; all-zero weights predict background)."""
    preset = get_preset(preset_name)
    profile = preset.profile("tiny")
    network = build_network(profile.network, preset.network_args("tiny"))
    if zero:
        for parameter in network.parameters():
            parameter.data.zero_()
    request = TrainRequest(preset=preset, data=out, out=out, profile="tiny")
    fields = model_card_fields(request, "tiny", [FoldResult(0, network, 0, 0.0, "max_epochs")],
                               DatasetSummary(str(out)), "cpu", 0.0)
    return save_model([network], fields, out / "model")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("level_models")
    return {"l3": _save("l3", root / "l3"), "blind": _save("l3_level", root / "blind", zero=True)}


@pytest.fixture(scope="module")
def ct(tmp_path_factory) -> Path:
    """A small abdomen-like CT volume (RAS-stored like many scanners)."""
    z, y, x = np.mgrid[0:24, 0:48, 0:48]
    array = np.where((y - 24) ** 2 + (x - 24) ** 2 < 20**2, 40, -1000).astype(np.int16)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((5.0, 5.0, 5.0))
    image.SetDirection((-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0))
    path = tmp_path_factory.mktemp("ct") / "scan.nii.gz"
    sitk.WriteImage(image, str(path))
    return path


def _found_at(k: int):
    def fake(preset, image, image_path=None, **kwargs):
        fake.calls.append(kwargs)
        return LevelResult("l3_level", "L3", True, 0.9, slice_index=k, slice_fraction=float(k),
                           position_mm=[0.0, 0.0, 5.0 * k], adjacent_slices=[k - 1, k, k + 1])

    fake.calls = []
    return fake


def test_segment_without_slice_measures_where_the_finder_says(run_cli, models, ct, tmp_path, monkeypatch):
    fake = _found_at(7)
    monkeypatch.setattr(find_module, "find_level", fake)
    code, out, err = run_cli("--progress", "none", "segment", ct, "--model", models["l3"], "--out", tmp_path / "a",
                             "--level-model", models["blind"])
    assert code == 0, err
    summary = json.loads((tmp_path / "a" / "scan_segmentation.json").read_text(encoding="utf-8"))
    assert summary["slice"]["index"] == 7 and summary["slice"]["chosen_by"].startswith("finder")
    assert summary["slice"]["level"]["adjacent_slices"] == [6, 7, 8]
    assert fake.calls and fake.calls[0]["model_dir"] == models["blind"]


def test_slice_option_overrides_the_finder(run_cli, models, ct, tmp_path, monkeypatch):
    fake = _found_at(7)
    monkeypatch.setattr(find_module, "find_level", fake)
    code, _, err = run_cli("--progress", "none", "segment", ct, "--model", models["l3"], "--out", tmp_path / "b",
                           "--slice", "3")
    assert code == 0, err
    summary = json.loads((tmp_path / "b" / "scan_segmentation.json").read_text(encoding="utf-8"))
    assert summary["slice"]["index"] == 3 and summary["slice"]["chosen_by"] == "user"
    assert not fake.calls


def test_level_not_found_exits_2_with_a_hint(run_cli, models, ct, tmp_path):
    code, _, err = run_cli("--progress", "none", "segment", ct, "--model", models["l3"], "--out", tmp_path / "c",
                           "--level-model", models["blind"])
    assert code == 2
    line = err.strip().splitlines()[-1]
    assert "L3 level not found" in line and "--slice" in line
    assert not (tmp_path / "c" / "scan_labels.nii.gz").exists()


def test_no_installed_level_model_says_what_to_do(run_cli, models, ct, tmp_path, monkeypatch):
    monkeypatch.setenv("MUSCLEQUANT_HOME", str(tmp_path / "empty-home"))
    # and no shipped starter finder (issue 14 ships one, which a fresh install uses instead)
    monkeypatch.setattr("MuscleQuantLib.models.starter.STARTER_DIR", tmp_path / "no-starters")
    code, _, err = run_cli("--progress", "none", "segment", ct, "--model", models["l3"], "--out", tmp_path / "d")
    assert code == 2 and "--level-model" in err and "--slice" in err


def test_default_level_model_is_the_newest_installed(models, tmp_path, monkeypatch):
    from MuscleQuantLib.models.modelfile import copy_model

    monkeypatch.setenv("MUSCLEQUANT_HOME", str(tmp_path / "home"))
    from MuscleQuantLib.models.registry import installed_dir

    card = json.loads((models["blind"] / "model.json").read_text(encoding="utf-8"))
    target = installed_dir(card["model_id"], card["version"])
    copy_model(models["blind"], target)
    assert find_module.default_level_model(find_module.spec_for("l3")) == target
    from MuscleQuantLib.models.starter import starter_for

    assert find_module.default_level_model(find_module.spec_for("c3")) == starter_for("c3_level")  # shipped starter
    monkeypatch.setattr("MuscleQuantLib.models.starter.STARTER_DIR", tmp_path / "no-starters")
    assert find_module.default_level_model(find_module.spec_for("c3")) is None


def test_find_level_cli_prints_json(run_cli, models, ct):
    code, out, err = run_cli("--progress", "json", "find-level", ct, "--preset", "l3", "--level-model", models["blind"])
    assert code == 0, err
    done = [json.loads(line) for line in out.splitlines() if line.strip()][-1]
    result = done.get("result", done)
    assert result["found"] is False and result["reason"] and result["preset"] == "l3_level"
    code, _, err = run_cli("find-level", ct, "--preset", "temporalis", "--protocol", "vertex",
                           "--level-model", models["blind"])
    assert code == 2 and "--protocol" in err
