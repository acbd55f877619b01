"""Level finder mechanics without training: the z-profile reading (found / not found), the stored-slice
geometry for every storage orientation, slab training labels from metadata, and the real CT files."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from MuscleQuantLib.imageio import read_image
from MuscleQuantLib.levels.find import LevelResult, find_level, read_profile
from MuscleQuantLib.levels.specs import LEVEL_SPECS, check_protocol, spec_for
from MuscleQuantLib.models.ensemble import EnsembleModel
from MuscleQuantLib.presets import get_preset
from MuscleQuantLib.training.data import slab_labels

L3 = LEVEL_SPECS["l3_level"]
ORBIT = LEVEL_SPECS["orbit_level"]


class BrightIsSlab(torch.nn.Module):
    """A stand-in slab model: voxels brighter than ``threshold`` (normalised units) are slab."""

    def __init__(self, threshold: float = 0.5):
        super().__init__()
        self.threshold = threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logit = (x - self.threshold) * 20.0
        return torch.cat([-logit, logit], dim=1)


def bright_model(preset: str = "l3_level") -> EnsembleModel:
    return EnsembleModel([BrightIsSlab()], 2, "softmax", card={"preset": preset, "model_id": "bright-test"})


def band_image(k0: int, k1: int, nz: int = 60, sz: float = 2.5, orientation: str = "LPS") -> sitk.Image:
    """A CT-like cylinder body (40 HU) whose canonical slices k0..k1 are bright (200 HU), stored as asked."""
    z, y, x = np.mgrid[0:nz, 0:40, 0:40]
    body = (y - 19.5) ** 2 + (x - 19.5) ** 2 < 15**2
    array = np.where(body, 40, -1000).astype(np.int16)
    array[k0:k1 + 1][body[k0:k1 + 1]] = 200
    signs = {"LPS": (1, 1, 1), "RAS": (-1, -1, 1), "feet_first": (1, 1, -1)}[orientation]
    stored = array[:: signs[2], :: signs[1], :: signs[0]]
    image = sitk.GetImageFromArray(np.ascontiguousarray(stored))
    image.SetSpacing((8.0, 8.0, sz))
    image.SetDirection(tuple(float(v) for v in np.diag(signs).ravel()))
    image.SetOrigin((10.0, -20.0, 100.0))
    return image


def test_profile_with_one_plausible_slab_is_found_at_its_centre():
    prob = np.zeros(80)
    prob[30:39] = 1.0  # 9 slices of 3 mm = 27 mm, L3's nominal height
    result = read_profile(L3, "L3", prob, prob, 3.0)
    assert result.found and result.confidence > 0.8
    assert result.levels["L3"]["network_z"] == pytest.approx(34.0)
    assert result.slab_thickness_mm == pytest.approx(27.0)


@pytest.mark.parametrize("start, stop, reason", [
    (None, None, "no slab"),  # chest-only scan: nothing predicted
    (0, 4, "edge"),  # a slab cut by the bottom of the scan
    (30, 32, "thick"),  # 6 mm: a stray blob, not a vertebra
    (10, 40, "thick"),  # 90 mm: several vertebrae, ambiguous
])
def test_implausible_profiles_are_not_found(start, stop, reason):
    prob = np.zeros(80)
    if start is not None:
        prob[start:stop] = 1.0
    result = read_profile(L3, "L3", prob, prob, 3.0)
    assert not result.found and result.slice_index is None
    assert reason in result.reason
    assert "not found" in result.message()


def test_weak_or_split_slab_has_low_confidence_and_is_not_found():
    prob = np.zeros(80)
    prob[10:21], prob[50:61] = 0.55, 0.55  # two equally likely 33 mm sections at barely 0.5
    result = read_profile(LEVEL_SPECS["c3_level"], "C3", prob, prob, 3.0)
    assert not result.found and "confidence" in result.reason


def test_orbit_protocols_are_fractions_of_the_slab():
    prob = np.zeros(60)
    prob[20:29] = 1.0  # mid-orbit at the lower edge (19.5), orbital roof at the upper (28.5)
    result = read_profile(ORBIT, "superior_orbital_quarter", prob, prob, 2.0)
    z = {name: level["network_z"] for name, level in result.levels.items()}
    assert z["superior_orbital_quarter"] == pytest.approx(24.0)
    assert z["mid_orbit"] == pytest.approx(19.5) and z["orbital_roof"] == pytest.approx(28.5)


def test_specs_resolve_muscle_and_level_presets_and_protocols():
    assert spec_for("l3") is L3 and spec_for(get_preset("temporalis")) is ORBIT and spec_for("c3_level").adjacent == 0
    assert check_protocol(ORBIT, None) == "superior_orbital_quarter"
    assert check_protocol(ORBIT, "mid_orbit") == "mid_orbit"
    from MuscleQuantLib.errors import InputError

    with pytest.raises(InputError, match="protocol"):
        check_protocol(ORBIT, "vertex")
    with pytest.raises(InputError, match="no level finder"):
        spec_for("thigh")
    for name in LEVEL_SPECS:
        preset = get_preset(name)
        assert preset.role == "level" and preset.spatial_dims == 3


@pytest.mark.parametrize("orientation", ["LPS", "RAS", "feet_first"])
def test_found_slice_is_the_band_centre_in_stored_indices(orientation):
    image = band_image(20, 30, orientation=orientation)  # 11 slices × 2.5 mm = 27.5 mm
    result = find_level("l3", image, model=bright_model(), device="cpu")
    assert result.found, result.reason
    expected = 25 if orientation != "feet_first" else 60 - 1 - 25
    assert abs(result.slice_fraction - expected) <= 0.6
    assert result.slice_index == round(result.slice_fraction)
    assert result.adjacent_slices == [result.slice_index - 1, result.slice_index, result.slice_index + 1]
    centre = image.TransformContinuousIndexToPhysicalPoint((19.5, 19.5, float(result.slice_index)))
    assert result.position_mm == pytest.approx(list(centre))


@pytest.mark.parametrize("order", [(0, 2, 1), (2, 0, 1)])
def test_coronal_or_sagittal_storage_gives_the_level_in_mm_not_a_stored_slice(order):
    """A stored slice of a coronal or sagittal acquisition is not a level (2D presets refuse such images)."""
    axial = band_image(20, 30)
    found = find_level("l3", axial, model=bright_model(), device="cpu")
    stored = sitk.PermuteAxes(axial, list(order))  # same voxels in space, slices along y (coronal) or x (sagittal)
    result = find_level("l3", stored, model=bright_model(), device="cpu")
    assert not result.found and result.slice_index is None and result.levels == {}
    assert "not axial" in result.reason, result.reason
    z = float(re.search(r"at z (-?[0-9.]+) mm", result.reason).group(1))
    assert abs(z - found.position_mm[2]) <= 2.5  # within a slice of the axial answer (that one is rounded to a slice)


def test_synthetic_out_of_view_scan_is_not_found():
    no_band = band_image(0, -1)
    result = find_level("l3", no_band, model=bright_model(), device="cpu")
    assert not result.found and result.slice_index is None and result.position_mm is None
    cut = band_image(0, 3)  # the level's lower part only: a chest scan ending inside L3
    assert not find_level("l3", cut, model=bright_model(), device="cpu").found


def test_single_slice_image_is_not_found_rather_than_guessed():
    single = band_image(0, 0, nz=1)
    result = find_level("l3", single, model=bright_model(), device="cpu")
    assert isinstance(result, LevelResult) and not result.found and "single slice" in result.reason


def test_wrong_model_preset_and_missing_default_model_are_user_errors(tmp_path, monkeypatch):
    from MuscleQuantLib.errors import InputError

    monkeypatch.setenv("MUSCLEQUANT_HOME", str(tmp_path / "home"))
    monkeypatch.setattr("MuscleQuantLib.models.starter.STARTER_DIR", tmp_path / "no-starters")  # a C3 finder ships
    with pytest.raises(InputError, match="--slice"):
        find_level("c3", band_image(20, 30), device="cpu")


def zone_preset():
    """A three-class L3 zone finder (the design the C3 and orbit finders use; L3 now has a ladder)."""
    from dataclasses import replace

    return replace(get_preset("c3_level"), label_source="zones:L3:L3")


def test_zone_training_labels_follow_the_metadata_levels():
    """Slab 1 between the level's first and last stored slice; body cranial 2, caudal 3 — in stored
    index terms, whichever way the file runs."""
    meta = {"levels": {"L3": {"first_slice": 20, "last_slice": 30, "center_slice": 25.0}}, "landmarks": {}}
    preset = zone_preset()
    for orientation, cranial in (("LPS", slice(31, None)), ("feet_first", slice(0, 20))):
        image = band_image(0, -1, orientation=orientation)
        labels = sitk.GetArrayFromImage(slab_labels(image, meta, preset))
        body = sitk.GetArrayFromImage(image) > -500
        assert np.array_equal(labels[20:31] == 1, body[20:31])
        assert (labels[cranial][body[cranial]] == 2).all()
        caudal = slice(0, 20) if orientation == "LPS" else slice(31, None)
        assert (labels[caudal][body[caudal]] == 3).all() and not labels[~body].any()


@pytest.mark.parametrize("seen, value", [(["T10", "T11", "T12"], 2), (["L5", "sacrum"], 3), ([], 0)])
def test_out_of_view_scans_are_labelled_cranial_or_caudal_from_the_vertebrae_they_show(seen, value):
    meta = {"levels": {name: {"first_slice": 0, "last_slice": 5, "center_slice": 2.5} for name in seen}}
    image = band_image(0, -1)
    labels = sitk.GetArrayFromImage(slab_labels(image, meta, zone_preset()))
    body = sitk.GetArrayFromImage(image) > -500
    assert (labels[body] == value).all()
    head = slab_labels(image, {"levels": {}, "landmarks": {}}, get_preset("orbit_level"))
    assert set(np.unique(sitk.GetArrayFromImage(head))) <= {0, 2}  # an MR head slab above the orbits


def test_real_ct_on_its_true_geometry(shared_data):
    """example_ct is RAS-stored (direction diag(−1, −1, 1)); the answer is in its own index and LPS mm."""
    image = read_image(shared_data / "example_ct.nii.gz")
    result = find_level("l3", image, model=bright_model(), device="cpu")
    json.dumps(result.to_dict())  # serialisable whatever the outcome
    assert 0.0 <= result.confidence <= 1.0
    if result.found:
        k = result.slice_index
        assert 0 <= k < image.GetSize()[2]
        assert result.position_mm == pytest.approx(
            list(image.TransformContinuousIndexToPhysicalPoint(((122 - 1) / 2, (101 - 1) / 2, float(k)))))
    else:
        assert result.reason


def test_real_ct_with_stale_origin_does_not_crash(shared_data):
    image = read_image(shared_data / "example_ct_sm.nii.gz")
    result = find_level("l3", image, model=bright_model(), device="cpu")
    assert isinstance(result, LevelResult) and 0.0 <= result.confidence <= 1.0
    assert result.found or result.reason
