"""Areas, attenuation, IMAT, sides, volumes and TMT against truth built into synthetic arrays."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from quantify_synthetic import canonical_case, stored, stored_slice

from MuscleQuantLib.errors import InputError
from MuscleQuantLib.quantify import QuantifyOptions, make_patient, quantify_images
from MuscleQuantLib.quantify.labels import normalise_name, split_side
from MuscleQuantLib.quantify.measures import label_volumes
from MuscleQuantLib.quantify.thickness import max_inscribed_thickness

NAMES = {1: "psoas_major", 2: "erector_spinae_left"}


@pytest.mark.parametrize("orientation", ["LPS", "RAS", "feet_first", "oblique"])
def test_slice_measures_match_truth_in_every_storage_orientation(orientation):
    image, labels, truth = canonical_case()
    img, lab = stored([image, labels], orientation)
    k = stored_slice(orientation, truth["slice"])
    patient = make_patient(height=1.6, sex="F")
    result = quantify_images(img, lab, QuantifyOptions(preset="l3", slice_index=k, label_names=NAMES), patient)
    row = result.row
    assert row["csa_psoas_major_left_cm2"] == pytest.approx(truth["psoas_left_mm2"] / 100)
    assert row["csa_psoas_major_right_cm2"] == pytest.approx(truth["psoas_right_mm2"] / 100)
    assert row["csa_erector_spinae_left_mm2"] == pytest.approx(truth["erector_mm2"])
    assert row["csa_total_mm2"] == pytest.approx(truth["total_mm2"])
    assert row["csa_total_cm2"] == pytest.approx(truth["total_mm2"] / 100)
    assert row["csa_left_cm2"] == pytest.approx((truth["psoas_left_mm2"] + truth["erector_mm2"]) / 100)
    assert row["muscle_hu_mean"] == pytest.approx(truth["hu_mean"])
    assert row["muscle_hu_sd"] == pytest.approx(truth["hu_sd"])
    assert row["imat_psoas_major_cm2"] == pytest.approx(truth["psoas_imat_mm2"] / 100)
    assert row["psoas_area_mm2"] == pytest.approx(truth["psoas_left_mm2"] + truth["psoas_right_mm2"])
    assert row["psoas_hu_mean"] == pytest.approx(truth["psoas_hu_mean"])
    assert row["smi_cm2_m2"] == pytest.approx(truth["total_mm2"] / 100 / 1.6**2)
    assert row["psoas_index_cm2_m2"] == pytest.approx(row["psoas_area_cm2"] / 1.6**2)
    assert not [w for w in result.record["warnings"] if "other side" in w]


def test_wrongly_sided_name_is_flagged_and_hu_range_choice_changes_csa():
    image, labels, truth = canonical_case()
    img, lab = stored([image, labels], "RAS")
    names = {1: "psoas_major", 2: "erector_spinae_right"}  # label 2 really lies on the left
    result = quantify_images(img, lab, QuantifyOptions(slice_index=2, label_names=names), make_patient())
    assert any("erector_spinae_right" in w and "other side" in w for w in result.record["warnings"])
    no_range = quantify_images(img, lab, QuantifyOptions(slice_index=2, label_names=NAMES, hu_range=None),
                               make_patient()).row
    assert no_range["csa_total_mm2"] == pytest.approx((50 + 12) * truth["pixel"])  # whole outlines
    assert no_range["muscle_hu_mean"] is None
    kreher = quantify_images(img, lab, QuantifyOptions(slice_index=2, label_names=NAMES, hu_range="kreher"),
                             make_patient()).row
    assert kreher["hu_min"] == -20 and kreher["csa_total_mm2"] == pytest.approx(truth["total_mm2"])


def test_slice_choice_rules_and_refusals():
    image, labels, truth = canonical_case()
    img, lab = stored([image, labels])
    auto = quantify_images(img, lab, QuantifyOptions(label_names=NAMES), make_patient())
    assert auto.row["slice_index"] == truth["slice"] and "most labelled muscle" in auto.row["slice_rule"]
    meta = {"target_level": "L3", "levels": {"L3": {"center_slice": 1.0}}}
    by_level = quantify_images(img, lab, QuantifyOptions(label_names=NAMES, metadata=meta), make_patient())
    assert by_level.row["slice_index"] == 1 and "metadata level L3" in by_level.row["slice_rule"]
    with pytest.raises(InputError, match="slice 4 is outside the image"):
        quantify_images(img, lab, QuantifyOptions(slice_index=4, label_names=NAMES), make_patient())
    with pytest.raises(InputError, match="outside"):
        quantify_images(img, lab, QuantifyOptions(slice_index=-1, label_names=NAMES), make_patient())


def test_volumes_for_3d_presets_equal_numpy():
    image, labels, truth = canonical_case()
    img, lab = stored([image, labels], "oblique")
    result = quantify_images(img, lab, QuantifyOptions(preset="custom", label_names=NAMES), make_patient(height=2.0))
    voxel = 0.8 * 0.7 * 3.0
    in_range = (image >= -29) & (image <= 150)
    expected = np.count_nonzero((labels == 1) & in_range) * voxel / 1000
    assert result.row["volume_psoas_major_cm3"] == pytest.approx(expected)
    assert result.row["volume_total_cm3"] == pytest.approx(np.count_nonzero((labels > 0) & in_range) * voxel / 1000)
    assert result.row["volume_index_total_cm3_m2"] == pytest.approx(result.row["volume_total_cm3"] / 4.0)
    assert label_volumes(labels, None, [1], voxel, None)[1]["volume_mm3"] == np.count_nonzero(labels == 1) * voxel


def test_2d_presets_report_no_volume_and_bones_are_not_muscle():
    image, labels, _ = canonical_case()
    img, lab = stored([image, labels])
    row = quantify_images(img, lab, QuantifyOptions(preset="l3", slice_index=2, label_names=NAMES),
                          make_patient()).row
    assert "volume_total_cm3" not in row
    thigh = quantify_images(img, lab, QuantifyOptions(preset="thigh", slice_index=2,
                                                      label_names={1: "psoas", 2: "femur"}), make_patient()).row
    assert thigh["csa_total_mm2"] == pytest.approx(row["psoas_area_mm2"])  # the femur label is not muscle
    assert "volume_femur_cm3" in thigh


@pytest.mark.parametrize("width_px, spacing", [(7, (1.0, 1.0)), (8, (1.0, 1.0)), (10, (0.5, 0.9)), (9, (0.8, 0.8))])
def test_tmt_of_a_straight_band_is_its_width(width_px, spacing):
    mask = np.zeros((40, 60), bool)
    mask[5:35, 20:20 + width_px] = True  # thickness runs along columns
    t = max_inscribed_thickness(mask, spacing)
    assert t.thickness_mm == pytest.approx(width_px * spacing[1], abs=0.3 * spacing[1])


def test_tmt_of_a_ring_is_its_radial_thickness_and_patient_value_is_the_side_mean():
    yy, xx = np.mgrid[:120, :120]
    r = np.hypot(yy - 60, xx - 60)
    ring = (r >= 40) & (r <= 48)  # circles 8 px apart; the staircase edge is good to about half a pixel
    t = max_inscribed_thickness(ring, (0.5, 0.5))
    assert t.thickness_mm == pytest.approx(8 * 0.5, abs=0.5 * 0.5)
    # a temporalis case: two bands of 6 and 10 px (1 mm) on either side of the head
    labels = np.zeros((3, 60, 80), np.uint8)
    labels[1, 10:50, 12:18] = 1  # patient's right (small x)
    labels[1, 10:50, 60:70] = 1
    image = np.full(labels.shape, 0, np.int16)
    image[:, 5:55, 8:74] = 500  # "head" for the MR body mask
    img, lab = stored([image, labels])
    for i in (img, lab):
        i.SetSpacing((1.0, 1.0, 3.0))
    result = quantify_images(img, lab, QuantifyOptions(preset="temporalis", slice_index=1), make_patient())
    assert result.row["tmt_right_mm"] == pytest.approx(6.0, abs=0.3)
    assert result.row["tmt_left_mm"] == pytest.approx(10.0, abs=0.3)
    assert result.row["tmt_mm"] == pytest.approx((result.row["tmt_left_mm"] + result.row["tmt_right_mm"]) / 2)
    assert result.row["muscle_hu_mean"] is None and result.row["modality"] == "MR"
    assert result.row["csa_side_mean_mm2"] == pytest.approx((6 * 40 + 10 * 40) / 2)


def test_label_names_and_sides():
    assert normalise_name("Psoas major (Left)") == "psoas_major_left"
    assert split_side("autochthon_left") == ("autochthon", "left")
    assert split_side("right_sternocleidomastoid") == ("sternocleidomastoid", "right")
    assert split_side("psoas_major") == ("psoas_major", None)


def test_negative_or_non_integer_label_maps_are_refused():
    image, labels, _ = canonical_case()
    img, _ = stored([image, labels])
    bad = sitk.Cast(img, sitk.sitkInt16)
    with pytest.raises(InputError, match="non-negative integers"):
        quantify_images(img, bad, QuantifyOptions(preset="l3", slice_index=2), make_patient())
