"""The head starter models (temporalis, orbit level finder) ship as package data, trained only on the
randomised head-MRI generator (``phantoms.synth_head``) by the repository's script with fixed seeds and
iteration counts, and are what ``segment``/``find-level`` use on a fresh install."""

from __future__ import annotations

import pytest

from MuscleQuantLib.models.modelfile import check_files
from MuscleQuantLib.models.starter import STARTER_DIR, STARTER_NOTICE, default_model, starter_for
from MuscleQuantLib.phantoms.synth_head import GENERATOR_VERSION
from MuscleQuantLib.training.starter import STARTERS, SYNTH_GENERATORS

HEAD = {"temporalis": "temporalis-starter", "orbit_level": "orbit-level-starter"}


@pytest.fixture
def fresh_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSCLEQUANT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MUSCLEQUANT_REGISTRY", raising=False)
    return tmp_path / "home"


def test_head_recipes_use_the_randomised_head_generator() -> None:
    assert "synth_head" in SYNTH_GENERATORS
    for preset in HEAD:
        spec = STARTERS[preset]
        assert spec.data == "synth_head" and spec.samples > 0 and spec.max_epochs > 0


@pytest.mark.parametrize("preset", sorted(HEAD))
def test_head_starter_is_shipped_sealed_and_records_its_recipe(preset: str, fresh_home) -> None:
    from MuscleQuantLib.models.card import read_card

    folder = starter_for(preset)
    assert folder == STARTER_DIR / HEAD[preset]
    assert default_model(preset) == folder  # fresh install: the starter model
    card = read_card(folder)
    check_files(folder, card)
    assert sum(p.stat().st_size for p in folder.iterdir()) < 8 * 2**20
    training = card["training"]
    assert training["starter"] is True and training["notice"] == STARTER_NOTICE and training["real_data_used"] == "none"
    assert f"--preset {preset}" in training["command"] and "train_starter_models.py" in training["command"]
    synthetic = training["synthetic"]
    assert synthetic["generator"] == "MuscleQuantLib.phantoms.synth_head"
    assert synthetic["generator_version"] == GENERATOR_VERSION
    spec = STARTERS[preset]  # the shipped model is what the recipe in the repository reproduces
    assert (synthetic["data_seed"], synthetic["samples"]) == (spec.data_seed, spec.samples)
    assert training["seed"] == spec.train_seed
    assert synthetic["recipe"]["intensity"] == "synthseg"
    assert training["max_minutes"] is None
