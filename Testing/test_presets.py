"""Presets are the one place labels live: phantoms, terminology, quantification and networks agree."""

from __future__ import annotations

import pytest

from MuscleQuantLib.networks import build_network
from MuscleQuantLib.phantoms.registry import PhantomOptions, generate_case
from MuscleQuantLib.presets import all_presets, get_preset
from MuscleQuantLib.presets.terminology import slicer_terminology_string
from MuscleQuantLib.quantify.presets import PRESETS as QUANTIFY_PRESETS

MUSCLE_PRESETS = [name for name, preset in all_presets().items() if preset.role == "muscle"]


def test_the_four_anatomies_are_presets():
    assert set(MUSCLE_PRESETS) == {"temporalis", "c3", "l3", "thigh"}


@pytest.mark.parametrize("name", MUSCLE_PRESETS)
def test_phantom_labels_are_the_preset_labels(name):
    preset = get_preset(name)
    case = generate_case(preset.phantom_anatomy, 0, 0, PhantomOptions(in_view=True, resolution="low"))
    assert case.metadata["label_names"] == {str(label.value): label.name for label in preset.labels}


@pytest.mark.parametrize("name", MUSCLE_PRESETS)
def test_every_output_label_has_terminology_and_quantify_knows_the_labels(name):
    preset = get_preset(name)
    for output in preset.output_labels():
        entry = slicer_terminology_string(output.name)
        assert entry.count("~") == 6
        if output.side:
            assert ("^Left" if output.side == "left" else "^Right") in entry
    assert QUANTIFY_PRESETS[name].label_names == {label.value: label.name for label in preset.labels}


@pytest.mark.parametrize("name", MUSCLE_PRESETS)
@pytest.mark.parametrize("profile", ["paper", "cpu", "tiny"])
def test_every_profile_builds_its_network(name, profile):
    preset = get_preset(name)
    network = build_network(preset.profile(profile).network, preset.network_args(profile))
    assert sum(p.numel() for p in network.parameters()) > 0


def test_output_labels_are_sided_and_numbered_consecutively():
    preset = get_preset("l3")
    outputs = preset.output_labels()
    assert [o.value for o in outputs] == list(range(1, 11))
    assert outputs[0].name == "rectus_abdominis_left" and outputs[1].name == "rectus_abdominis_right"
    assert {o.source_value for o in outputs} == {label.value for label in preset.labels}


@pytest.mark.parametrize("name", MUSCLE_PRESETS)
def test_label_tissue_agrees_with_what_quantify_counts_as_muscle(name):
    """Post-processing keeps bone out of the muscle HU window by the preset's tissue; quantify decides by
    name. Both must call the same labels muscle, or a bone label would be erased or measured as muscle."""
    from MuscleQuantLib.quantify.labels import label_infos

    preset = get_preset(name)
    infos = label_infos([label.value for label in preset.labels], {label.value: label.name for label in preset.labels})
    assert {info.label_id for info in infos if info.is_muscle} == set(preset.muscle_values())
    if name == "thigh":
        assert {label.name for label in preset.labels if label.tissue == "bone"} == {"femur", "iliac_bone"}


def test_hu_window_applies_to_muscle_labels_only():
    import numpy as np

    from MuscleQuantLib.pipeline.postprocess import apply_hu_window

    labels = np.array([[1, 1, 28, 28]], dtype=np.uint16)  # thigh: 1 sartorius, 28 femur
    hu = np.array([[40.0, 400.0, 400.0, 40.0]], dtype=np.float32)
    kept = apply_hu_window(labels, hu, (-29.0, 150.0), only=get_preset("thigh").muscle_values())
    assert kept.tolist() == [[1, 0, 28, 28]]  # muscle above the window goes; bone stays whatever its HU
    assert apply_hu_window(labels, hu, (-29.0, 150.0)).tolist() == [[1, 0, 0, 28]]  # no 'only': every label
