"""The randomised head-MRI generator (``phantoms.synth_head``) that trains the temporalis and orbit-finder
starter models: deterministic per seed, a random value per tissue class per image, FOVs that cut the
face, and training folders that both presets read (temporalis labels; orbit slab zones + globes)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from MuscleQuantLib.phantoms.synth_head import (
    ABLATIONS,
    FULL,
    GENERATOR_VERSION,
    draw_head_case,
    write_training_folder,
)
from MuscleQuantLib.phantoms.synth_head.generate import head_recipe
from MuscleQuantLib.phantoms.synth_head.intensity import tissue_values

FAST = dataclasses.replace(FULL, low_resolution_fraction=1.0, in_view_fraction=1.0)


def test_same_seed_same_image_and_labels() -> None:
    a, _ = draw_head_case(np.random.default_rng(7), FAST)
    b, _ = draw_head_case(np.random.default_rng(7), FAST)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)
    assert (a.labels == 1).any() and "mid_orbit" in a.landmarks and "orbital_roof" in a.landmarks


def test_tissue_values_are_random_per_image_and_muscle_overlaps_brain() -> None:
    draws = [tissue_values(np.random.default_rng(i), FULL)[0] for i in range(60)]
    muscle = np.array([d["muscle"] for d in draws])
    brain = np.array([d["brain"] for d in draws])
    assert muscle.std() > 0.1  # not one T1 value per tissue
    assert (muscle > brain).any() and (muscle < brain).any()  # the network cannot tell them by brightness
    kinds = {tissue_values(np.random.default_rng(i), FULL)[1] for i in range(60)}
    assert kinds == {"random", "t1_gadolinium", "t1_plain"}
    fixed = tissue_values(np.random.default_rng(0), ABLATIONS["no_intensity_randomisation"])
    assert fixed[1] == "t1_postgad_table"


def test_face_cut_removes_the_front_but_keeps_the_orbit_landmarks() -> None:
    raw, _ = draw_head_case(np.random.default_rng(3), dataclasses.replace(FAST, face_cut_fraction=1.0))
    cut = raw.truth["design"]["face_cut_row"]
    assert cut > 0
    assert not raw.labels[:, :cut].any() and not raw.extra_labels["head_structures"][0][:, :cut].any()
    assert "mid_orbit" in raw.landmarks


def test_training_folder_reads_for_both_presets(tmp_path) -> None:
    from MuscleQuantLib.phantoms.synth import FULL as L3_FULL
    from MuscleQuantLib.presets import get_preset
    from MuscleQuantLib.training.data import discover_cases, load_pair

    manifest = write_training_folder(tmp_path, 2, 5, L3_FULL)  # the training script passes the L3 recipe by name
    assert manifest["generator"] == "MuscleQuantLib.phantoms.synth_head"
    assert manifest["generator_version"] == GENERATOR_VERSION and manifest["recipe"]["face_cut_fraction"] == 0.3
    finder = get_preset("orbit_level")
    cases = discover_cases(tmp_path, finder.label_source)
    import SimpleITK as sitk

    classes = set()
    for case in cases:
        _, labels = load_pair(case, finder)
        classes |= set(np.unique(sitk.GetArrayViewFromImage(labels)).tolist())
    assert {1, 2}.issubset(classes)
    temporalis = get_preset("temporalis")
    _, labels = load_pair(discover_cases(tmp_path)[0], temporalis)
    assert set(np.unique(sitk.GetArrayViewFromImage(labels)).tolist()) <= {0, 1}


def test_recipe_without_head_counterpart_is_refused() -> None:
    from MuscleQuantLib.phantoms.synth import ABLATIONS as L3_ABLATIONS

    assert head_recipe(None) is FULL and head_recipe(ABLATIONS["no_face_cut"]) is ABLATIONS["no_face_cut"]
    with pytest.raises(ValueError, match="no head-MRI counterpart"):
        head_recipe(L3_ABLATIONS["no_organs"])
