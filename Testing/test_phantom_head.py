"""The head T1 post-gad phantom (temporalis preset): the data the orbit finder, the 2D U-Net and
temporalis CSA/TMT quantification are trained and tested on, so its anatomy must hold."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from MuscleQuantLib.cli import main
from MuscleQuantLib.phantoms import head_mri
from MuscleQuantLib.phantoms.base import RawCase
from MuscleQuantLib.phantoms.head_anatomy import STRUCTURES
from MuscleQuantLib.phantoms.registry import PhantomOptions, case_rng, generate_case
from MuscleQuantLib.phantoms.subject import sample_subject

ORBIT_LANDMARKS = ("globe_bottom", "mid_orbit", "superior_orbital_quarter", "globe_top", "orbital_roof")
N_CASES = 8


def _raw(index: int, in_view: bool = True, resolution: str = "low", seed: int = 11) -> RawCase:
    rng = case_rng("temporalis", seed, index)
    return head_mri.generate(rng, sample_subject(rng), in_view, resolution)


@pytest.fixture(scope="module")
def raws() -> list[RawCase]:
    return [_raw(i) for i in range(N_CASES)]


def _area_mm2(raw: RawCase, k: int) -> float:
    return float((raw.labels[k] == 1).sum() * raw.spacing[0] * raw.spacing[1])


def test_same_seed_gives_the_same_case_and_another_index_does_not():
    options = PhantomOptions(in_view=True, resolution="low")
    a, b = generate_case("temporalis", 5, 1, options), generate_case("temporalis", 5, 1, options)
    assert np.array_equal(sitk.GetArrayFromImage(a.image), sitk.GetArrayFromImage(b.image))
    assert np.array_equal(sitk.GetArrayFromImage(a.labels), sitk.GetArrayFromImage(b.labels))
    assert json.dumps(a.metadata, sort_keys=True) == json.dumps(b.metadata, sort_keys=True)
    c = generate_case("temporalis", 5, 2, options)
    assert c.metadata["truth"]["index"]["value"] != a.metadata["truth"]["index"]["value"]


def test_orbit_landmarks_are_ordered_from_globe_bottom_to_orbital_roof(raws):
    for raw in raws:
        lm = raw.landmarks
        assert [lm[n] for n in ORBIT_LANDMARKS[:3]] == sorted(lm[n] for n in ORBIT_LANDMARKS[:3])
        assert lm["superior_orbital_quarter"] < lm["orbital_roof"]
        assert lm["globe_top"] < lm["orbital_roof"]  # the roof lies above the globe
        assert lm["superior_orbital_quarter"] == pytest.approx((lm["orbital_roof"] + lm["mid_orbit"]) / 2)
        assert raw.target_level == "superior_orbital_quarter"
        assert 0 <= lm["globe_bottom"] and lm["orbital_roof"] <= raw.image.shape[0] - 1


def test_feet_first_storage_reverses_landmark_slices():
    def case(orientation: str):
        return generate_case("temporalis", 4, 0, PhantomOptions(in_view=True, orientation=orientation, resolution="low"))

    lps, feet_first = case("LPS"), case("feet_first")
    nz = lps.image.GetSize()[2]
    for name in ORBIT_LANDMARKS:
        assert feet_first.metadata["landmarks"][name]["slice"] == pytest.approx(nz - 1 - lps.metadata["landmarks"][name]["slice"])
    stored = {n: feet_first.metadata["landmarks"][n]["slice"] for n in ORBIT_LANDMARKS}
    assert stored["globe_bottom"] > stored["mid_orbit"] > stored["superior_orbital_quarter"] > stored["orbital_roof"]
    assert feet_first.metadata["target_in_view"] and lps.metadata["target_in_view"]
    k = round(stored["superior_orbital_quarter"])
    assert (sitk.GetArrayFromImage(feet_first.labels)[k] == 1).sum() > 0


def test_temporalis_is_largest_near_the_orbits_and_thinner_above(raws):
    for raw in raws:
        sz = raw.spacing[2]
        target = round(raw.landmarks["superior_orbital_quarter"])
        above = round(raw.landmarks["orbital_roof"] + 20.0 / sz)
        assert above < raw.image.shape[0]
        assert _area_mm2(raw, target) > 1.15 * _area_mm2(raw, above)
        areas = [_area_mm2(raw, k) for k in range(raw.image.shape[0])]
        peak_mm = (int(np.argmax(areas)) - raw.landmarks["superior_orbital_quarter"]) * sz
        assert abs(peak_mm) < 15.0


def test_both_temporalis_muscles_are_present_either_side_of_the_midline(raws):
    for raw in raws:
        k = raw.truth["slices"]["superior_orbital_quarter"]
        nx = raw.image.shape[2]
        midline = (nx - 1) / 2 + raw.truth["design"]["head_center_mm"][0] / raw.spacing[0]
        columns = np.nonzero(raw.labels[k] == 1)[1]
        pixel = raw.spacing[0] * raw.spacing[1]
        csa = raw.truth["csa_superior_orbital_quarter_mm2"]
        assert (columns > midline).sum() * pixel == pytest.approx(csa["left"])  # patient's left = larger x
        assert (columns < midline).sum() * pixel == pytest.approx(csa["right"])
        assert min(csa.values()) > 150.0


def test_left_and_right_truth_agree_within_a_quarter(raws):
    for raw in raws:
        for key in ("csa_superior_orbital_quarter_mm2", "csa_mid_orbit_mm2", "tmt_orbital_roof_mm"):
            left, right = raw.truth[key]["left"], raw.truth[key]["right"]
            assert 0.75 < left / right < 1.33, key
        index = raw.truth["index"]
        assert index["value"] == pytest.approx(np.mean(list(raw.truth["csa_superior_orbital_quarter_mm2"].values())))
        assert index["name"] == "temporalis_csa_mm2" and index["unit"] == "mm2"
        assert index["center"] == head_mri.INDEX_CENTER_MM2 and index["step"] == head_mri.INDEX_STEP_MM2


def test_masseter_below_the_zygoma_looks_like_muscle_but_is_not_labelled(raws):
    for raw in raws:
        structures = raw.extra_labels["head_structures"][0]
        masseter, arch = structures == STRUCTURES["masseter"], structures == STRUCTURES["zygomatic_arch"]
        assert masseter.sum() > 100 and arch.any()
        assert not raw.labels[masseter].any()
        assert np.nonzero(masseter)[0].mean() < np.nonzero(arch)[0].mean()  # below the arch
        temporalis = np.median(raw.image[raw.labels == 1])
        assert np.median(raw.image[masseter]) == pytest.approx(temporalis, rel=0.05)
        eye_muscles = structures == STRUCTURES["extraocular_muscle"]
        assert eye_muscles.any() and not raw.labels[eye_muscles].any()


def test_tissue_contrast_is_t1_post_contrast(raws):
    for raw in raws:
        structures = raw.extra_labels["head_structures"][0]
        muscle = np.median(raw.image[raw.labels == 1])
        assert np.median(raw.image[structures == STRUCTURES["orbital_fat"]]) > muscle  # fat is bright
        assert np.median(raw.image[structures == STRUCTURES["globe"]]) < muscle  # vitreous is dark
        assert np.median(raw.image[structures == STRUCTURES["brain"]]) > muscle
        assert raw.modality == "MR"


def test_scans_that_miss_the_orbits_have_no_orbit_landmarks():
    for index in range(3):
        raw = _raw(index, in_view=False)
        assert not set(ORBIT_LANDMARKS) & set(raw.landmarks)
        assert raw.truth["index"]["value"] is None
        assert not (raw.extra_labels["head_structures"][0] == STRUCTURES["globe"]).any()
    case = generate_case("temporalis", 2, 0, PhantomOptions(in_view=False, resolution="low"))
    assert case.metadata["target_in_view"] is False


def test_grid_varies_within_the_protocol_ranges():
    rng = np.random.default_rng(0)
    seen_thickness = set()
    for _ in range(200):
        shape, spacing, _, _ = head_mri._grid(rng, "standard", 1.0, True, np.eye(3))
        assert 0.99 <= spacing[0] <= 1.6
        assert shape[1] == shape[2] <= head_mri.MAX_IN_PLANE_PIXELS
        assert 158.0 <= shape[1] * spacing[0] <= 260.0
        seen_thickness.add(spacing[2])
    assert seen_thickness == set(head_mri.SLICE_THICKNESSES_MM)
    shape, spacing, _, _ = head_mri._grid(np.random.default_rng(1), "low", 1.0, True, np.eye(3))
    standard, _, _, _ = head_mri._grid(np.random.default_rng(1), "standard", 1.0, True, np.eye(3))
    assert shape[1] == standard[1] // 2


def test_tmt_is_the_inscribed_disc_diameter():
    band = np.zeros((40, 40), bool)
    band[5:35, 10:17] = True  # 7 pixels thick
    assert head_mri.inscribed_thickness_mm(band, 1.5) == pytest.approx((7 - 0.25) * 1.5)
    rows, cols = np.mgrid[0:80, 0:80]
    oblique = np.abs(rows - cols) / np.sqrt(2.0) <= 4.0  # 8 pixels thick across, ~11 along a row
    assert 7.0 <= head_mri.inscribed_thickness_mm(oblique, 1.0) <= 9.0
    assert head_mri.inscribed_thickness_mm(np.zeros((5, 5), bool), 1.0) == 0.0


def test_cli_writes_cases_that_read_back_on_identical_grids(tmp_path):
    out = tmp_path / "head"
    assert main(["phantom", "--anatomy", "temporalis", "--n", "2", "--seed", "3", "--out", str(out),
                 "--progress", "none"]) == 0
    dataset = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    assert len(dataset["cases"]) == 2
    for entry in dataset["cases"]:
        metadata = json.loads((out / entry["metadata"]).read_text(encoding="utf-8"))
        images = [sitk.ReadImage(str(out / entry[key])) for key in ("image", "labels", "head_structures")]
        for image in images:
            assert list(image.GetSize()) == metadata["size"]
            assert np.allclose(image.GetSpacing(), metadata["spacing_mm"])
            assert np.allclose(image.GetOrigin(), images[0].GetOrigin())
            assert np.allclose(image.GetDirection(), images[0].GetDirection())
        assert metadata["modality"] == "MR" and metadata["label_names"] == {"1": "temporalis"}
