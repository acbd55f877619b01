"""The head starter models (temporalis, orbit level finder) ship as package data, trained only on the
randomised head-MRI generator (``phantoms.synth_head``) by the repository's script with fixed seeds and
iteration counts, and are what ``segment``/``find-level`` use on a fresh install."""

from __future__ import annotations

import pytest

from MuscleQuantLib.models.starter import STARTER_DIR, default_model, starter_for
from MuscleQuantLib.phantoms.synth_head import GENERATOR_VERSION
from MuscleQuantLib.training.starter import STARTERS, SYNTH_GENERATORS

HEAD = {"temporalis": "temporalis-starter", "orbit_level": "orbit-level-starter"}



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
    card = read_card(folder)  # sealing, size and recipe: test_starter_models.py, for every starter
    synthetic = card["training"]["synthetic"]
    assert synthetic["generator"] == "MuscleQuantLib.phantoms.synth_head"
    assert synthetic["generator_version"] == GENERATOR_VERSION
    assert synthetic["recipe"]["intensity"] == "synthseg"
