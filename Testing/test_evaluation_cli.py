"""``musclequant evaluate`` end to end: files written, values in mm from the file's spacing, exit codes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage


def _write(array: np.ndarray, path: Path, spacing=(0.8, 0.8, 3.0), origin=(0.0, 0.0, 0.0)) -> Path:
    """Write a (z, y, x) label array; ``spacing`` is SimpleITK's (x, y, z)."""
    image = sitk.GetImageFromArray(array.astype(np.uint8))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))
    return path


def _box(shape=(8, 16, 16)) -> np.ndarray:
    array = np.zeros(shape, dtype=np.uint8)
    array[2:6, 4:12, 4:12] = 1
    return array


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_single_pair_round_trip_uses_the_file_spacing(tmp_path, run_cli):
    ref = _box()
    ref[2:6, 13:15, 2:6] = 2
    pred = np.where(np.roll(ref == 1, 2, axis=2), 1, 0).astype(np.uint8)  # label 1: 2 voxels along x
    pred[np.roll(ref == 2, 1, axis=0)] = 2  # label 2: one slice along z
    out = tmp_path / "out"
    code, stdout, _ = run_cli("evaluate", _write(pred, tmp_path / "p_labels.nii.gz"),
                              _write(ref, tmp_path / "case1_labels.nii.gz"), "--out", out,
                              "--label-names", "1=psoas_major,2=erector_spinae")
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "metrics.json"]  # one case: no cohort
    rows = {row["label_name"]: row for row in _rows(out / "metrics.csv")}
    assert set(rows) == {"psoas_major", "erector_spinae", "all_muscle"}
    assert rows["psoas_major"]["case_id"] == "case1"
    assert float(rows["psoas_major"]["hausdorff_mm"]) == pytest.approx(2 * 0.8)  # x spacing, not z
    assert float(rows["erector_spinae"]["hausdorff_mm"]) == pytest.approx(3.0)  # z spacing
    assert float(rows["psoas_major"]["dice"]) == pytest.approx(2 * 4 * 8 * 6 / (2 * 256))
    assert float(rows["psoas_major"]["ref_size"]) == pytest.approx(256 * 0.8 * 0.8 * 3.0)
    assert rows["psoas_major"]["size_unit"] == "mm3" and rows["psoas_major"]["mode"] == "volume"
    document = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert document["cases"][0]["spacing_mm"] == pytest.approx([3.0, 0.8, 0.8])
    assert set(document["columns"]) == set(rows["psoas_major"])
    assert "psoas_major" in stdout or "all_muscle" in stdout


def test_grid_mismatch_exits_2_with_one_line_and_no_output(tmp_path, run_cli):
    ref = _write(_box(), tmp_path / "ref_labels.nii.gz")
    pred = _write(_box(), tmp_path / "pred_labels.nii.gz", spacing=(0.8, 0.8, 2.5))
    out = tmp_path / "out"
    code, _, stderr = run_cli("evaluate", pred, ref, "--out", out, "--progress", "none")
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "pred_labels.nii.gz" in lines[0] and "spacing" in lines[0]
    assert not out.exists()


def test_pairs_csv_gives_cohort_statistics(tmp_path, run_cli):
    lengths, extras = [4, 6, 8, 10], [1, -1, 2, 0]  # box length along x, prediction minus reference
    lines = ["case_id,prediction,reference"]
    for i, (length, extra) in enumerate(zip(lengths, extras, strict=True)):
        ref = np.zeros((6, 12, 16), dtype=np.uint8)
        pred = np.zeros_like(ref)
        ref[1:5, 2:10, 2:2 + length] = 1
        pred[1:5, 2:10, 2:2 + length + extra] = 1
        _write(ref, tmp_path / "refs" / f"c{i}.nii.gz")
        _write(pred, tmp_path / "preds" / f"c{i}.nii.gz")
        lines.append(f"c{i},preds/c{i}.nii.gz,refs/c{i}.nii.gz")  # relative to the CSV
    (tmp_path / "pairs.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    code, _, stderr = run_cli("evaluate", "--pairs", tmp_path / "pairs.csv", "--out", out, "--progress", "none")
    assert code == 0, stderr
    cohort = json.loads((out / "cohort.json").read_text(encoding="utf-8"))
    label = cohort["labels"]["label_1"]
    voxel_mm3 = 0.8 * 0.8 * 3.0
    diff = np.array(extras) * 4 * 8 * voxel_mm3
    assert label["n_cases"] == 4 and cohort["size_unit"] == "mm3"
    assert label["bland_altman"]["bias"] == pytest.approx(diff.mean())
    assert label["bland_altman"]["loa_high"] == pytest.approx(diff.mean() + 1.959964 * diff.std(ddof=1), abs=1e-4)
    ref_sizes = np.array(lengths) * 4 * 8 * voxel_mm3
    assert label["pearson"]["n"] == 4
    assert label["pearson"]["r"] == pytest.approx(np.corrcoef(ref_sizes + diff, ref_sizes)[0, 1])
    assert len(_rows(out / "metrics.csv")) == 4  # one label each, no union row for a single label
    # a second run into the same folder is refused unless --overwrite
    code, _, stderr = run_cli("evaluate", "--pairs", tmp_path / "pairs.csv", "--out", out)
    assert code == 2 and "--overwrite" in stderr


def test_folders_merge_sides_and_summary_slice(tmp_path, run_cli):
    """Engine-style sided prediction on one slice vs a phantom-style class reference (L3 preset)."""
    ref = np.zeros((3, 20, 20), dtype=np.uint8)
    ref[:, 5:10, 2:8] = 3  # psoas_major (class 3), on every slice
    ref[:, 5:10, 12:18] = 3
    pred = np.zeros_like(ref)
    pred[1, 5:10, 2:8] = 6  # psoas_major_right ...
    pred[1, 5:10, 12:17] = 5  # ... and left, one column short; only the summary's slice is labelled
    _write(pred, tmp_path / "pred" / "caseA_image_labels.nii.gz")
    _write(ref, tmp_path / "ref" / "caseA_labels.nii.gz")
    _write(ref, tmp_path / "ref" / "caseA_image.nii.gz")  # not matched by the default *_labels.* glob
    summary = {"preset": "l3", "slice": {"index": 1},
               "labels": [{"value": 5, "name": "psoas_major_left"}, {"value": 6, "name": "psoas_major_right"}]}
    (tmp_path / "pred" / "caseA_image_segmentation.json").write_text(json.dumps(summary), encoding="utf-8")
    out = tmp_path / "out"
    code, _, stderr = run_cli("evaluate", "--pred-dir", tmp_path / "pred", "--ref-dir", tmp_path / "ref",
                              "--merge-sides", "--out", out)
    assert code == 0, stderr
    case = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["cases"][0]
    assert case["case_id"] == "caseA" and case["mode"] == "slice" and case["slice_index"] == 1
    psoas = next(row for row in case["labels"] if row["label_name"] == "psoas_major")
    assert psoas["size_unit"] == "mm2" and psoas["ref_size"] == pytest.approx(60 * 0.64)
    assert psoas["dice"] == pytest.approx(2 * 55 / 115)
    assert psoas["hausdorff_mm"] == pytest.approx(0.8)
    # without merging, the sided names of the summary are used and do not match the classes
    code, _, _ = run_cli("evaluate", "--pred-dir", tmp_path / "pred", "--ref-dir", tmp_path / "ref",
                         "--out", tmp_path / "unmerged")
    names = {row["label_name"] for row in _rows(tmp_path / "unmerged" / "metrics.csv")}
    assert code == 0 and {"psoas_major_left", "psoas_major_right", "label_3"} <= names
    # both maps sided: --reference-sided merges the reference too (preset given explicitly)
    sided = tmp_path / "pred" / "caseA_image_labels.nii.gz"
    code, _, stderr = run_cli("evaluate", sided, sided, "--merge-sides", "--reference-sided", "--preset", "l3",
                              "--summary", tmp_path / "pred" / "caseA_image_segmentation.json", "--out",
                              tmp_path / "both_sided", "--progress", "none")
    rows = {r["label_name"]: r for r in _rows(tmp_path / "both_sided" / "metrics.csv")}
    assert code == 0, stderr
    assert rows["psoas_major"]["ref_voxels"] == "55" and float(rows["psoas_major"]["dice"]) == 1.0
    # a reference without prediction is refused: it would silently leave the cohort
    _write(ref, tmp_path / "ref" / "caseB_labels.nii.gz")
    code, _, stderr = run_cli("evaluate", "--pred-dir", tmp_path / "pred", "--ref-dir", tmp_path / "ref",
                              "--out", tmp_path / "missing")
    assert code == 2 and "caseB" in stderr and not (tmp_path / "missing").exists()


@pytest.mark.parametrize("case", ["two_modes", "merge_without_preset", "not_labels", "slice_outside", "image_grid"])
def test_bad_input_is_refused(tmp_path, run_cli, case):
    ref = _write(_box(), tmp_path / "ref.nii.gz")
    pred = _write(_box(), tmp_path / "pred.nii.gz")
    args = {"two_modes": [pred, ref, "--pairs", tmp_path / "pairs.csv"],
            "merge_without_preset": [pred, ref, "--merge-sides"],
            "not_labels": [tmp_path / "float.nii.gz", ref],
            "slice_outside": [pred, ref, "--slice", "8"],
            "image_grid": [pred, ref, "--image", _write(_box(), tmp_path / "ct.nii.gz", origin=(0.0, 0.0, 5.0))],
            }[case]
    image = sitk.GetImageFromArray(_box().astype(np.float32) * 0.5)
    image.SetSpacing((0.8, 0.8, 3.0))
    sitk.WriteImage(image, str(tmp_path / "float.nii.gz"))
    code, _, stderr = run_cli("evaluate", *args, "--out", tmp_path / "out", "--progress", "none")
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_real_segmentation_against_itself_and_an_eroded_copy(shared_data, tmp_path, run_cli):
    seg = shared_data / "example_seg.nii.gz"
    code, _, stderr = run_cli("evaluate", seg, seg, "--out", tmp_path / "same", "--progress", "none")
    assert code == 0, stderr
    rows = _rows(tmp_path / "same" / "metrics.csv")
    assert len(rows) == 41 + 1  # every TotalSegmentator label present, plus the union
    assert all(float(r["dice"]) == 1.0 and float(r["hausdorff_mm"]) == 0.0 and float(r["assd_mm"]) == 0.0
               for r in rows)

    image = sitk.ReadImage(str(seg))
    array = sitk.GetArrayFromImage(image)
    iliopsoas = array == 88
    eroded_mask = ndimage.binary_erosion(iliopsoas)  # face-connected: removes one surface layer
    eroded = array.copy()
    eroded[iliopsoas & ~eroded_mask] = 0
    eroded_image = sitk.GetImageFromArray(eroded)
    eroded_image.CopyInformation(image)
    sitk.WriteImage(eroded_image, str(tmp_path / "eroded_labels.nii.gz"))
    code, _, stderr = run_cli("evaluate", tmp_path / "eroded_labels.nii.gz", seg, "--out", tmp_path / "eroded",
                              "--label-names", "86=autochthon_left,88=iliopsoas_left,89=iliopsoas_right")
    assert code == 0, stderr
    rows = {r["label_name"]: r for r in _rows(tmp_path / "eroded" / "metrics.csv")}
    left = rows["iliopsoas_left"]
    kept, total = int(eroded_mask.sum()), int(iliopsoas.sum())
    assert float(left["dice"]) == pytest.approx(2 * kept / (kept + total)) and float(left["dice"]) < 1
    assert float(left["precision"]) == 1.0 and float(left["recall"]) == pytest.approx(kept / total)
    assert float(left["ref_size"]) == pytest.approx(total * 27.0)  # 3 mm isotropic voxels
    # Every removed voxel is at least one voxel (3 mm) from what is left. At 3 mm this psoas is only
    # 1–3 voxels thick, so erosion deletes whole thin parts and HD exceeds one voxel.
    assert 3.0 <= float(left["hausdorff95_mm"]) <= float(left["hausdorff_mm"])
    assert float(rows["iliopsoas_right"]["dice"]) == 1.0 and float(rows["autochthon_left"]["assd_mm"]) == 0.0


def test_all_muscle_row_leaves_bone_out(tmp_path, run_cli):
    """A thigh-style map with a femur label: the femur is scored on its own row but never counted as
    muscle, so a perfect muscle with a missed femur still has all-muscle Dice 1."""
    ref = _box()
    ref[2:6, 13:15, 2:6] = 2
    ref[2:6, 1:3, 12:15] = 3
    pred = np.where(ref == 2, 0, ref).astype(np.uint8)  # both muscles right, the femur (2) missed entirely
    out = tmp_path / "out"
    code, _, stderr = run_cli("evaluate", _write(pred, tmp_path / "p_labels.nii.gz"),
                              _write(ref, tmp_path / "case1_labels.nii.gz"), "--out", out,
                              "--label-names", "1=sartorius_left,2=femur_left,3=gracilis_left", "--progress", "none")
    assert code == 0, stderr
    rows = {row["label_name"]: row for row in _rows(out / "metrics.csv")}
    assert float(rows["femur_left"]["dice"]) == 0.0
    assert float(rows["all_muscle"]["dice"]) == 1.0
