"""The L3 abdominal CT phantom: determinism, labels, vertebral levels in every storage orientation,
ribs/iliac context, out-of-view scans, HU overlap with organs, SMI truth and the CLI round trip.
Most cases are "low" resolution; a module-scoped cache keeps each case generated once."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from MuscleQuantLib.cli import main as cli_main
from MuscleQuantLib.phantoms import abdomen_ct
from MuscleQuantLib.phantoms.base import ORIENTATIONS
from MuscleQuantLib.phantoms.registry import PhantomOptions, generate_case
from MuscleQuantLib.phantoms.subject import sample_subject
from MuscleQuantLib.phantoms.trunk_spine import build_spine
from MuscleQuantLib.phantoms.vertebrae import VERTEBRA_LABELS

L3_LABEL = VERTEBRA_LABELS["L3"]
LATERAL_MM = 45.0  # further than this from the vertebra outline = lateral to the spine


@cache
def make_case(seed: int, in_view: bool = True, resolution: str = "low"):
    rng = np.random.default_rng(seed)
    subject = sample_subject(rng)
    return subject, abdomen_ct.generate(rng, subject, in_view, resolution)


def center_slice(raw, level: str) -> int:
    first, last = raw.levels[level]
    return (first + last) // 2


def lateral_bone_pixels(raw, k: int) -> int:
    """Voxels above 300 HU outside the vertebra label and well lateral of it (ribs, iliac wings)."""
    vertebra = raw.extra_labels["vertebrae"][0][k]
    columns = np.nonzero(vertebra.any(axis=0))[0]
    assert columns.size, "no vertebra labelled on this slice"
    sx = raw.spacing[0]
    x = np.arange(vertebra.shape[1])
    lateral = ((columns.min() - x) * sx > LATERAL_MM) | ((x - columns.max()) * sx > LATERAL_MM)
    return int(np.count_nonzero((raw.image[k] > 300) & (vertebra == 0) & lateral[None, :]))


def cases_with(levels: tuple[str, ...], n: int = 3):
    """The first n in-view cases whose scan holds all the given vertebral bodies completely."""
    found = []
    for seed in range(40):
        _, raw = make_case(seed)
        nz = raw.image.shape[0]
        if all(name in raw.levels and 0 < raw.levels[name][0] and raw.levels[name][1] < nz - 1 for name in levels):
            found.append(raw)
        if len(found) == n:
            return found
    pytest.fail(f"no case holds {levels}")


def test_same_seed_same_case_and_different_seed_differs():
    options = PhantomOptions(resolution="low", in_view=True)
    a, b, c = generate_case("l3", 5, 0, options), generate_case("l3", 5, 0, options), generate_case("l3", 6, 0, options)
    assert np.array_equal(sitk.GetArrayFromImage(a.image), sitk.GetArrayFromImage(b.image))
    assert np.array_equal(sitk.GetArrayFromImage(a.labels), sitk.GetArrayFromImage(b.labels))
    assert np.array_equal(sitk.GetArrayFromImage(a.extra_labels["vertebrae"]),
                          sitk.GetArrayFromImage(b.extra_labels["vertebrae"]))
    assert json.dumps(a.metadata, sort_keys=True) == json.dumps(b.metadata, sort_keys=True)
    assert a.metadata["truth"] != c.metadata["truth"]
    arr_a, arr_c = sitk.GetArrayFromImage(a.image), sitk.GetArrayFromImage(c.image)
    assert arr_a.shape != arr_c.shape or not np.array_equal(arr_a, arr_c)


def test_label_table_and_all_five_muscles_at_l3():
    for seed in range(4):
        _, raw = make_case(seed)
        assert raw.label_names == {1: "rectus_abdominis", 2: "abdominal_wall", 3: "psoas_major",
                                   4: "quadratus_lumborum", 5: "erector_spinae"}
        assert raw.target_level == "L3" and raw.modality == "CT"
        k = raw.truth["l3_center_slice_canonical"]
        first, last = raw.levels["L3"]
        assert first <= k <= last
        present = set(np.unique(raw.labels[k]).tolist())
        assert {1, 2, 3, 4, 5} <= present
        # paired muscles on both sides of the spine under one label id
        spine_columns = np.nonzero(raw.extra_labels["vertebrae"][0][k].any(axis=0))[0]
        middle = (spine_columns.min() + spine_columns.max()) / 2
        for label in (2, 3, 4, 5):
            columns = np.nonzero((raw.labels[k] == label).any(axis=0))[0]
            assert columns.min() < middle < columns.max(), label


def test_muscles_follow_their_craniocaudal_extent():
    raw = cases_with(("T11", "T12", "L1", "L3", "L5"), n=1)[0]
    at = {name: set(np.unique(raw.labels[center_slice(raw, name)]).tolist()) for name in ("T11", "L3", "L5")}
    assert 3 not in at["T11"], "psoas starts at T12/L1"
    assert 5 in at["T11"] and 5 in at["L5"], "erector spinae runs along the whole spine"
    assert 4 not in at["L5"], "quadratus lumborum ends at the iliac crest"
    psoas_area = [np.count_nonzero(raw.labels[center_slice(raw, n)] == 3) for n in ("L1", "L3", "L5")]
    assert psoas_area[0] < psoas_area[1] < psoas_area[2], "psoas grows caudally"


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_vertebra_labels_match_stated_levels_in_stored_image(orientation):
    case = generate_case("l3", 11, 2, PhantomOptions(in_view=True, orientation=orientation, resolution="low"))
    vertebrae = sitk.GetArrayFromImage(case.extra_labels["vertebrae"])
    levels = case.metadata["levels"]
    assert case.metadata["target_in_view"] is True and "L3" in levels
    for name, level in levels.items():
        slices = np.nonzero((vertebrae == VERTEBRA_LABELS[name]).any(axis=(1, 2)))[0]
        assert slices.min() == level["first_slice"] and slices.max() == level["last_slice"], name
        assert len(slices) == level["last_slice"] - level["first_slice"] + 1, name
    # levels run in anatomical order along the stored z axis
    order = [levels[n]["center_slice"] for n in ("L1", "L2", "L3", "L4") if n in levels]
    assert order == sorted(order) or order == sorted(order, reverse=True)
    assert (orientation == "feet_first") == (levels["L1"]["center_slice"] < levels["L3"]["center_slice"])


def test_ribs_at_t12_not_at_l3():
    for raw in cases_with(("T12", "L3")):
        assert lateral_bone_pixels(raw, center_slice(raw, "T12")) >= 3
        assert lateral_bone_pixels(raw, raw.truth["l3_center_slice_canonical"]) == 0


def test_iliac_bone_near_l5_not_at_l2():
    for raw in cases_with(("L2", "L5")):
        assert lateral_bone_pixels(raw, center_slice(raw, "L5")) >= 3
        assert lateral_bone_pixels(raw, center_slice(raw, "L2")) == 0


def test_vertebral_heights_and_discs_vary_realistically():
    heights = []
    for seed in range(6):
        spine = build_spine(np.random.default_rng(seed), sample_subject(np.random.default_rng(seed)))
        lumbar = [spine.by_name[f"L{i}"] for i in range(1, 6)]
        for upper, lower in zip(lumbar, lumbar[1:], strict=False):
            assert 8.0 <= upper.bottom_mm - lower.top_mm <= 12.0
            assert lower.half_width > upper.half_width
        heights.append([v.top_mm - v.bottom_mm for v in lumbar])
        assert all(25.0 <= h <= 35.0 for h in heights[-1])
        assert {rib.level for rib in spine.ribs} <= set(range(6, 13))
    assert np.std(np.array(heights)[:, 2]) > 0.5


def test_out_of_view_cases_miss_l3():
    regions = set()
    for index in range(6):
        case = generate_case("l3", 21, index, PhantomOptions(in_view=False, resolution="low"))
        vertebrae = sitk.GetArrayFromImage(case.extra_labels["vertebrae"])
        assert "L3" not in case.metadata["levels"]
        assert case.metadata["target_in_view"] is False
        assert not np.any(vertebrae == L3_LABEL)
        assert case.metadata["truth"]["index"]["value"] is None
        regions.add(case.metadata["truth"]["scan_region"])
    assert "chest" in regions


def test_chest_scan_has_lungs_on_top():
    for seed in range(10):
        _, raw = make_case(seed, in_view=False)
        if raw.truth["scan_region"] == "chest":
            top = raw.image[-1]
            assert np.count_nonzero((top > -950) & (top < -700)) > 100, "lungs at the top of the scan"
            return
    pytest.fail("no chest scan drawn")


def test_muscle_hu_outside_muscle_labels_is_common():
    """Organs, bowel wall, vessels and unlabelled muscles share muscle HU: thresholds cannot segment."""
    for seed in range(3):
        _, raw = make_case(seed)
        k = raw.truth["l3_center_slice_canonical"]
        image, labels = raw.image[k], raw.labels[k]
        interior = ndimage.binary_erosion(image > -500, iterations=int(np.ceil(8.0 / raw.spacing[0])))  # no skin
        muscle_like = (image >= -29) & (image <= 150)
        outside = np.count_nonzero(muscle_like & interior & (labels == 0))
        assert outside > 0.15 * np.count_nonzero(labels > 0)
        volume_outside = np.count_nonzero((raw.image >= -29) & (raw.image <= 150) & (raw.labels == 0))
        assert volume_outside > 0.3 * np.count_nonzero(raw.labels > 0)


def test_smi_truth_matches_subject_and_csa_adds_up():
    errors = []
    for seed in range(10):
        subject, raw = make_case(seed)
        truth = raw.truth
        value = truth["index"]["value"]
        assert truth["index"]["name"] == "smi_cm2_m2" and truth["index"]["unit"] == "cm2/m2"
        errors.append(value / subject.target_smi - 1)
        k = truth["l3_center_slice_canonical"]
        pixel = raw.spacing[0] * raw.spacing[1]
        assert sum(truth["csa_mm2"].values()) == pytest.approx(np.count_nonzero(raw.labels[k] > 0) * pixel)
        assert value == pytest.approx(sum(truth["csa_mm2"].values()) / 100 / subject.height_m**2)
        assert truth["contrast_phase"] in ("none", "arterial", "venous")
    assert max(abs(e) for e in errors) < 0.15


def test_muscle_hu_and_imat_follow_subject():
    subject, raw = make_case(1)
    k = raw.truth["l3_center_slice_canonical"]
    muscle = raw.image[k][raw.labels[k] > 0]
    assert np.median(muscle) == pytest.approx(subject.muscle_hu, abs=0.5)
    assert raw.truth["imat_mm2"] > 0


def test_standard_case_geometry():
    _, raw = make_case(3, resolution="standard")
    sx, sy, sz = raw.spacing
    assert sx == sy and 2.0 <= sx <= 3.6 and sz in (2.5, 3.0, 5.0)
    assert max(raw.image.shape[1:]) <= 170
    assert raw.image.dtype == np.float32 and raw.labels.dtype == np.uint16
    assert abs(raw.truth["index"]["value"] / make_case(3, resolution="standard")[0].target_smi - 1) < 0.15


def test_cli_writes_cases_on_identical_grids(tmp_path):
    assert cli_main(["phantom", "--anatomy", "l3", "--n", "2", "--seed", "3", "--out", str(tmp_path)]) == 0
    dataset = json.loads((tmp_path / "dataset.json").read_text(encoding="utf-8"))
    assert len(dataset["cases"]) == 2
    for entry in dataset["cases"]:
        image = sitk.ReadImage(str(tmp_path / entry["image"]))
        metadata = json.loads((tmp_path / entry["metadata"]).read_text(encoding="utf-8"))
        for key in ("labels", "vertebrae"):
            other = sitk.ReadImage(str(tmp_path / entry[key]))
            assert other.GetSize() == image.GetSize()
            assert np.allclose(other.GetSpacing(), image.GetSpacing())
            assert np.allclose(other.GetOrigin(), image.GetOrigin())
            assert np.allclose(other.GetDirection(), image.GetDirection())
        assert list(image.GetSize()) == metadata["size"]
