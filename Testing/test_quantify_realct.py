"""Quantify on the real CT (example_ct_sm + TotalSegmentator labels) against an independent NumPy count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from MuscleQuantLib.cli import main
from MuscleQuantLib.errors import InputError
from MuscleQuantLib.quantify import QuantifyOptions, make_patient, quantify_files, quantify_images

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not (DATA / "example_ct_sm.nii.gz").exists():
    DATA = Path("/work/shared/data")
CT, SEG = DATA / "example_ct_sm.nii.gz", DATA / "example_seg.nii.gz"
NAMES = {86: "autochthon_left", 87: "autochthon_right", 88: "iliopsoas_left", 89: "iliopsoas_right"}
ALBERTA = (-29, 150)
pytestmark = pytest.mark.skipif(not CT.exists(), reason="real CT test data not available")


@pytest.fixture(scope="module")
def real():
    image, labels = sitk.ReadImage(str(CT)), sitk.ReadImage(str(SEG))
    hu, lab = sitk.GetArrayFromImage(image).astype(float), sitk.GetArrayFromImage(labels)
    pixel = image.GetSpacing()[0] * image.GetSpacing()[1]
    return image, labels, hu, lab, pixel


def numpy_areas(hu, lab, ids, pixel, k):
    mask = np.isin(lab[k], ids)
    muscle = mask & (hu[k] >= ALBERTA[0]) & (hu[k] <= ALBERTA[1])
    return mask.sum() * pixel, muscle.sum() * pixel, (hu[k][muscle].mean() if muscle.any() else None)


def test_per_slice_areas_of_erector_spinae_and_psoas_equal_numpy(real):
    image, labels, hu, lab, pixel = real
    assert pixel == pytest.approx(9.0)
    result = quantify_images(image, labels, QuantifyOptions(preset="custom", label_names=NAMES, per_slice=True),
                             make_patient())
    table = {row["slice_index"]: row for row in result.per_slice}
    assert sorted(table) == [k for k in range(lab.shape[0]) if np.isin(lab[k], list(NAMES)).any()]
    checked = 0
    for k, row in table.items():
        for ids, names in (((86, 87), ("autochthon_left", "autochthon_right")),
                           ((88, 89), ("iliopsoas_left", "iliopsoas_right"))):
            outline, csa, _ = numpy_areas(hu, lab, ids, pixel, k)
            assert sum(row[f"outline_{n}_mm2"] for n in names) == pytest.approx(outline)
            assert sum(row[f"csa_{n}_mm2"] for n in names) == pytest.approx(csa)
            checked += outline > 0
    assert checked >= 40  # both muscle groups on most of the 30 slices


@pytest.mark.parametrize("k", [0, 5, 12, 20, 29])
def test_slice_csa_mean_hu_psoas_and_volumes_equal_numpy(real, k):
    image, labels, hu, lab, pixel = real
    row = quantify_images(image, labels, QuantifyOptions(preset="custom", slice_index=k, label_names=NAMES),
                          make_patient(height=1.7)).row
    _, csa, hu_mean = numpy_areas(hu, lab, list(NAMES), pixel, k)
    assert row["csa_total_mm2"] == pytest.approx(csa)
    if hu_mean is None:
        assert row["muscle_hu_mean"] is None
    else:
        assert row["muscle_hu_mean"] == pytest.approx(hu_mean)
    _, psoas, psoas_hu = numpy_areas(hu, lab, [88, 89], pixel, k)
    assert row["psoas_area_mm2"] == pytest.approx(psoas)
    if psoas_hu is not None:
        assert row["psoas_hu_mean"] == pytest.approx(psoas_hu)
    in_range = (hu >= ALBERTA[0]) & (hu <= ALBERTA[1])
    for label_id, name in NAMES.items():
        assert row[f"volume_{name}_cm3"] == pytest.approx(np.count_nonzero((lab == label_id) & in_range) * 27 / 1000)
    assert row["slice_position_mm"] == pytest.approx(image.TransformContinuousIndexToPhysicalPoint((60.5, 50, k))[2])


def test_sides_from_geometry_agree_with_totalsegmentator_names_on_ras_stored_ct(real):
    image, labels, hu, lab, pixel = real
    assert image.GetDirection()[0] < 0  # RAS-stored: array order alone would swap the sides
    merged = np.zeros_like(lab)
    merged[np.isin(lab, [86, 87])] = 1
    merged[np.isin(lab, [88, 89])] = 2
    merged_image = sitk.GetImageFromArray(merged)
    merged_image.CopyInformation(labels)
    k = 10
    row = quantify_images(image, merged_image, QuantifyOptions(preset="custom", slice_index=k,
                                                               label_names={1: "erector_spinae", 2: "psoas"}),
                          make_patient()).row
    for name, (left_id, right_id) in (("erector_spinae", (86, 87)), ("psoas", (88, 89))):
        _, left, _ = numpy_areas(hu, lab, [left_id], pixel, k)
        _, right, _ = numpy_areas(hu, lab, [right_id], pixel, k)
        assert row[f"csa_{name}_left_cm2"] == pytest.approx(left / 100)
        assert row[f"csa_{name}_right_cm2"] == pytest.approx(right / 100)
    named = quantify_images(image, labels, QuantifyOptions(preset="custom", slice_index=k, label_names=NAMES),
                            make_patient())
    assert not [w for w in named.record["warnings"] if "other side" in w]


def test_label_map_on_another_grid_is_refused_without_output(tmp_path, capsys):
    shifted = sitk.ReadImage(str(SEG))
    shifted.SetOrigin(tuple(v + 1.5 for v in shifted.GetOrigin()))
    path = tmp_path / "shifted_seg.nii.gz"
    sitk.WriteImage(shifted, str(path))
    with pytest.raises(InputError, match="not on the image grid: origin"):
        quantify_files(CT, path, QuantifyOptions(preset="custom", label_names=NAMES), make_patient())
    out = tmp_path / "out"
    code = main(["--progress", "none", "quantify", str(CT), str(path), "--out", str(out), "--preset", "custom"])
    assert code == 2 and "not on the image grid" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
    code = main(["--progress", "none", "quantify", str(CT), str(SEG), "--out", str(out), "--slice", "30",
                 "--label-names", "86=autochthon_left"])
    assert code == 2 and "slice 30 is outside the image (stored slices 0..29)" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
