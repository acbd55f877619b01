"""Issue 17, engine side: each numbered defect (silent wrong number or lost file) and each
"internal error" case, as a test that failed on the code before the fix (noted per test)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import SimpleITK as sitk
from hostile_helpers import (
    dicom_series,
    l3_arrays,
    l3_case,
    listing,
    one_line_error,
    patch_nifti_dim,
    patch_nifti_pixdim,
    read_only_copy,
    seg_nrrd,
    strict_json,
    tmpfs,
    untrained_model,
    write_image,
)


@pytest.fixture(scope="module")
def l3_model(tmp_path_factory):
    return untrained_model(tmp_path_factory.mktemp("model") / "model")


def quantify(run_cli, image, labels, out, *extra):
    return run_cli("--progress", "none", "quantify", image, labels, "--out", out, "--no-qa", *extra)


# --- defect 1: voxel values ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind, needle", [("nan", "NaN"), ("inf_in_muscle", "infinite"), ("windowed_8bit", "Hounsfield"),
                                          ("raw_unrescaled", "Hounsfield")])
def test_ct_voxel_values_that_are_not_finite_hu_are_refused(tmp_path, run_cli, kind, needle):
    """Before: all-NaN CT measured CSA 0 ('sarcopenic'); an 8-bit display export read as muscle HU 126."""
    image, labels = l3_arrays()
    if kind == "nan":
        values = np.full(image.shape, np.nan, np.float32)
    elif kind == "inf_in_muscle":
        values = image.astype(np.float32)
        values[labels == 3] = np.inf
    elif kind == "windowed_8bit":  # window 40/400 mapped to 0..255
        values = np.clip((image.astype(float) + 160) / 400 * 255, 0, 255).astype(np.uint8)
    else:  # stored values without RescaleIntercept -1024
        values = (image.astype(np.int32) + 1024).astype(np.uint16)
    write_image(tmp_path / "ct.nii.gz", values)
    write_image(tmp_path / "labels.nii.gz", labels)
    code, _, err = quantify(run_cli, tmp_path / "ct.nii.gz", tmp_path / "labels.nii.gz", tmp_path / "out")
    one_line_error(code, err, "ct.nii.gz", "voxel values", needle)
    assert listing(tmp_path / "out") == {}


def test_mr_with_infinite_voxels_is_refused(tmp_path, run_cli):
    image, labels = l3_arrays()
    values = (image.astype(np.float32) + 1000)
    values[0, 0, 0] = -np.inf
    write_image(tmp_path / "mr.nii.gz", values)
    write_image(tmp_path / "labels.nii.gz", np.where(labels > 0, 1, 0).astype(np.uint8))
    code, _, err = quantify(run_cli, tmp_path / "mr.nii.gz", tmp_path / "labels.nii.gz", tmp_path / "out",
                            "--preset", "temporalis")
    one_line_error(code, err, "mr.nii.gz", "NaN or infinite")


def test_segment_refuses_a_nan_slice_instead_of_writing_an_empty_label_map(tmp_path, run_cli, l3_model):
    """Before: exit 0 and an empty label map."""
    image, _ = l3_arrays()
    values = image.astype(np.float32)
    values[1] = np.nan
    write_image(tmp_path / "ct.nii.gz", values)
    code, _, err = run_cli("--progress", "none", "segment", tmp_path / "ct.nii.gz", "--model", l3_model,
                           "--out", tmp_path / "seg", "--slice", "1", "--device", "cpu")
    one_line_error(code, err, "ct.nii.gz", "NaN")
    assert listing(tmp_path / "seg") == {}


# --- defect 2: unknown label values; TotalSegmentator through an explicit mapping -----------------------

def test_totalsegmentator_labels_are_refused_without_a_mapping(tmp_path, run_cli, shared_data):
    """Before: spleen -> rectus abdominis, liver -> erector spinae; total CSA 314.6 cm², exit 0."""
    code, _, err = quantify(run_cli, shared_data / "example_ct_sm.nii.gz", shared_data / "example_seg.nii.gz",
                            tmp_path / "out", "--preset", "l3", "--slice", "5")
    line = one_line_error(code, err, "labels", "not labels of preset l3", "--label-map-from")
    assert "6, 7" in line  # names the unknown values (stomach, pancreas ...)
    assert listing(tmp_path / "out") == {}


def test_totalsegmentator_mapping_measures_only_psoas_and_erector_and_names_the_rest(tmp_path, run_cli, shared_data):
    code, _, err = quantify(run_cli, shared_data / "example_ct_sm.nii.gz", shared_data / "example_seg.nii.gz",
                            tmp_path / "out", "--preset", "l3", "--slice", "5", "--label-map-from", "totalsegmentator",
                            "--height", "1.75", "--sex", "M")
    assert code == 0, err
    record = strict_json((tmp_path / "out" / "example_ct_sm.json").read_text(encoding="utf-8"))
    assert set(record["labels"]) == {"psoas_major", "erector_spinae"}
    seg = sitk.GetArrayFromImage(sitk.ReadImage(str(shared_data / "example_seg.nii.gz")))[5]
    ct = sitk.GetArrayFromImage(sitk.ReadImage(str(shared_data / "example_ct_sm.nii.gz")))[5]
    in_range = (ct >= -29) & (ct <= 150)
    expected = np.count_nonzero(np.isin(seg, [86, 87, 88, 89]) & in_range) * 9.0 / 100  # 3 x 3 mm pixels
    assert record["total_muscle_slice"]["csa_cm2"] == pytest.approx(expected)
    assert 0 < expected < 80  # psoas + erector only, not the 314.6 cm² of organs and bones
    warnings = " ".join(record["warnings"])
    assert "1 (spleen)" in warnings and "5 (liver)" in warnings and "rectus_abdominis" in warnings
    assert record["sarcopenia"]["martin_smi"]["status"] == "not_applicable"  # a partial total is no SMI
    assert "lacks rectus_abdominis" in record["not_available"]["smi_cm2_m2"]


def test_ignore_unknown_labels_measures_only_preset_values_with_a_warning(tmp_path, run_cli):
    image, labels = l3_arrays()
    labels[2, 5:8, 5:8] = 42
    write_image(tmp_path / "ct.nii.gz", image)
    write_image(tmp_path / "labels.nii.gz", labels)
    code, _, err = quantify(run_cli, tmp_path / "ct.nii.gz", tmp_path / "labels.nii.gz", tmp_path / "out",
                            "--ignore-unknown-labels", "--slice", "1")
    assert code == 0, err
    record = json.loads((tmp_path / "out" / "ct.json").read_text(encoding="utf-8"))
    assert set(record["labels"]) == {"psoas_major", "erector_spinae"}
    assert any("42" in w and "ignored" in w for w in record["warnings"])


def test_segment_output_is_quantified_with_its_own_sided_label_names(tmp_path, run_cli):
    """Before: segment's sided values (l3: 5 = psoas_major_left) were read with the preset's training
    classes (5 = erector_spinae), so the left psoas was measured as erector spinae."""
    from MuscleQuantLib.presets import get_preset

    image, labels = l3_arrays()
    out_labels = np.where(labels == 3, 5, np.where(labels == 5, 9, 0)).astype(np.uint8)  # sided output values
    write_image(tmp_path / "ct.nii.gz", image)
    write_image(tmp_path / "ct_labels.nii.gz", out_labels)
    names = [{"value": o.value, "name": o.name} for o in get_preset("l3").output_labels()]
    (tmp_path / "ct_segmentation.json").write_text(json.dumps({"preset": "l3", "labels": names}), encoding="utf-8")
    code, _, err = quantify(run_cli, tmp_path / "ct.nii.gz", tmp_path / "ct_labels.nii.gz", tmp_path / "out",
                            "--slice", "1")
    assert code == 0, err
    record = json.loads((tmp_path / "out" / "ct.json").read_text(encoding="utf-8"))
    assert set(record["labels"]) == {"psoas_major_left", "erector_spinae_left"}
    assert record["values"]["psoas_area_mm2"]["value"] == pytest.approx(np.count_nonzero(labels[1] == 3) * 4.0)
    code, _, err = quantify(run_cli, tmp_path / "ct.nii.gz", tmp_path / "ct_labels.nii.gz", tmp_path / "out2",
                            "--slice", "1", "--preset", "c3")
    one_line_error(code, err, "ct_labels.nii.gz", "segmented with preset 'l3'")


# --- defect 3: NIfTI pixdim 0 / NaN / negative ----------------------------------------------------------

@pytest.mark.parametrize("value, needle", [(0.0, "is 0"), (float("nan"), "not a number"), (-0.8, "negative")])
def test_nifti_pixdim_zero_nan_or_negative_is_refused(tmp_path, run_cli, value, needle):
    """Before: SimpleITK read pixdim 0/NaN as 1 mm (CSA 6.4 instead of 186 cm²) and a negative one as a flip."""
    image, labels = l3_arrays()
    for name, array in (("ct.nii", image), ("labels.nii", labels)):
        patch_nifti_pixdim(write_image(tmp_path / name, array), 1, value)
    code, _, err = quantify(run_cli, tmp_path / "ct.nii", tmp_path / "labels.nii", tmp_path / "out", "--slice", "1")
    one_line_error(code, err, "ct.nii", "pixdim[1]", needle)
    code, out, err = run_cli("--progress", "none", "info", tmp_path / "ct.nii")
    one_line_error(code, err, "pixdim")
    assert out == ""


# --- defect 4: DICOM slice positions ----------------------------------------------------------------------

@pytest.mark.parametrize("positions, spacings, needle", [
    ([0, 5, 10, 10, 15], None, "duplicate slice position"),
    ([0, 5, 10, 20, 25], None, "slice spacing varies"),
    ([0, 5, 10, 15, 20], [0.8, 0.8, 0.9, 0.8, 0.8], "PixelSpacing changes"),
])
def test_dicom_series_with_duplicate_missing_or_uneven_slices_is_refused(tmp_path, run_cli, positions, spacings, needle):
    """Before: one uniform spacing was made up (duplicates read as 0.877 mm instead of 5 mm), exit 0."""
    folder = dicom_series(tmp_path / "dicom", positions, spacings)
    code, _, err = run_cli("--progress", "none", "convert", folder, tmp_path / "ct.nii.gz")
    one_line_error(code, err, str(folder), needle)
    assert not (tmp_path / "ct.nii.gz").exists()


def test_evenly_spaced_dicom_series_still_converts(tmp_path, run_cli):
    folder = dicom_series(tmp_path / "dicom", [0, 5, 10, 15])
    code, _, err = run_cli("--progress", "none", "convert", folder, tmp_path / "ct.nii.gz")
    assert code == 0, err
    assert sitk.ReadImage(str(tmp_path / "ct.nii.gz")).GetSpacing()[2] == pytest.approx(5.0)


# --- defect 5: atomic multi-file commits ------------------------------------------------------------------

def test_convert_onto_a_full_disk_leaves_no_truncated_file(tmp_path, run_cli):
    """Before: ITK's NIfTI writer ignored ENOSPC: exit 0 and a truncated .nii.gz."""
    values = np.random.default_rng(0).integers(-1000, 1000, (40, 100, 100)).astype(np.int16)
    write_image(tmp_path / "big.nii.gz", values)
    with tmpfs(tmp_path / "full", size="64k") as full:
        code, _, err = run_cli("--progress", "none", "convert", tmp_path / "big.nii.gz", full / "out.nii.gz")
        one_line_error(code, err, "out.nii.gz")
        assert os.listdir(full) == []


def test_quantify_failing_on_the_qa_image_changes_no_earlier_output(tmp_path, run_cli, monkeypatch):
    """Before: the case JSON and CSV row were written, then the QA image failed (exit 1)."""
    image, labels = l3_case(tmp_path)
    out = tmp_path / "out"
    assert run_cli("--progress", "none", "quantify", image, labels, "--out", out, "--slice", "1",
                   "--patient-id", "p1")[0] == 0
    before = listing(out)
    import PIL.Image

    def full_disk(*args, **kwargs):  # the QA picture is drawn with Pillow and saved by PIL.Image.Image.save
        raise OSError(28, "No space left on device", str(out / "p1_qa.png"))

    monkeypatch.setattr(PIL.Image.Image, "save", full_disk)
    code, _, err = run_cli("--progress", "none", "quantify", image, labels, "--out", out, "--slice", "0",
                           "--patient-id", "p1")
    one_line_error(code, err, "p1_qa.png", "No space left")
    assert listing(out) == before


def test_segment_overwrite_on_a_failing_write_keeps_the_old_label_map_and_summary(tmp_path, run_cli, l3_model,
                                                                                  monkeypatch):
    """Before: --overwrite installed the new label map, kept the old summary and exited 1."""
    image, _ = l3_case(tmp_path)
    out = tmp_path / "seg"
    assert run_cli("--progress", "none", "segment", image, "--model", l3_model, "--out", out, "--slice", "1",
                   "--device", "cpu")[0] == 0
    before = listing(out)
    assert len(before) == 2
    original = os.replace

    def replace(src, dst, *args, **kwargs):  # the disk fills up while the summary is installed
        if str(dst).endswith("_segmentation.json"):
            raise OSError(28, "No space left on device", str(dst))
        return original(src, dst, *args, **kwargs)

    import MuscleQuantLib.fileio as fileio

    monkeypatch.setattr(fileio.os, "replace", replace)
    code, _, err = run_cli("--progress", "none", "segment", image, "--model", l3_model, "--out", out, "--slice", "0",
                           "--device", "cpu", "--overwrite")
    one_line_error(code, err, "case_image_segmentation.json", "No space left")
    assert listing(out) == before  # the label map installed first was put back: the old pair, whole


# --- defect 6: out-of-view level in the metadata --------------------------------------------------------

def test_quantify_refuses_a_level_the_metadata_says_is_out_of_view(tmp_path, run_cli):
    """Before: the slice with most muscle was measured and reported as L3 with a sarcopenia status."""
    image, labels = l3_case(tmp_path)
    meta = {"case_id": "c1", "target_level": "L3", "target_in_view": False, "levels": {}, "modality": "CT"}
    (tmp_path / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    code, _, err = quantify(run_cli, image, labels, tmp_path / "out", "--metadata", tmp_path / "meta.json")
    one_line_error(code, err, "target_in_view", "not in view")
    assert listing(tmp_path / "out") == {}
    meta.update(target_in_view=None, levels={"L3": {"center_slice": 40.0}})
    (tmp_path / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    code, _, err = quantify(run_cli, image, labels, tmp_path / "out", "--metadata", tmp_path / "meta.json")
    one_line_error(code, err, "metadata", "outside the image")


# --- defect 7: train refuses wrong anatomy and unusable epoch counts ----------------------------------

@pytest.mark.parametrize("epochs", ["0", "-1"])
def test_train_refuses_non_positive_max_epochs(tmp_path, run_cli, epochs):
    """Before: -1 published an untrained model (validation Dice -1.0); 0 used the recipe's value."""
    code, _, err = run_cli("--progress", "none", "train", "--preset", "l3", "--data", tmp_path, "--out",
                           tmp_path / "run", "--max-epochs", epochs, "--profile", "tiny")
    one_line_error(code, err, "--max-epochs")
    assert not (tmp_path / "run").exists()


def test_train_refuses_another_anatomy_for_the_preset(tmp_path, run_cli):
    """Before: --preset l3 on C3 phantoms trained neck labels as L3 muscles."""
    assert run_cli("--progress", "none", "phantom", "--anatomy", "c3", "--n", "2", "--seed", "3", "--out",
                   tmp_path / "c3", "--resolution", "low")[0] == 0
    code, _, err = run_cli("--progress", "none", "train", "--preset", "l3", "--data", tmp_path / "c3", "--out",
                           tmp_path / "run", "--profile", "tiny", "--max-epochs", "1", "--device", "cpu")
    one_line_error(code, err, "anatomy", "'c3'", "'l3'")
    assert listing(tmp_path / "run") == {}


def test_a_fold_without_a_validated_epoch_publishes_no_model(tmp_path, monkeypatch):
    from MuscleQuantLib.errors import InputError
    from MuscleQuantLib.presets import get_preset
    from MuscleQuantLib.training import run
    from MuscleQuantLib.training.trainer import FoldResult

    for n in range(2):
        l3_case(tmp_path / "data", f"c{n}")
    monkeypatch.setattr(run, "train_fold", lambda k, *a, **kw: FoldResult(k, None, 0, -1.0, "time_budget", []))
    request = run.TrainRequest(preset=get_preset("l3"), data=tmp_path / "data", out=tmp_path / "run", profile="tiny",
                               device="cpu")
    with pytest.raises(InputError, match="without a validated epoch"):
        run.train(request, __import__("MuscleQuantLib.progress", fromlist=["NULL_PROGRESS"]).NULL_PROGRESS)
    assert not (tmp_path / "run" / "model").exists()


# --- defect 9: .seg.nrrd LabelValue 0 and segments matching nothing ----------------------------------

def test_seg_nrrd_label_value_zero_is_refused_and_an_empty_segment_is_reported(tmp_path, run_cli):
    """Before: LabelValue 0 claimed the whole background as muscle; an empty segment vanished silently."""
    image, labels = l3_arrays()
    write_image(tmp_path / "ct.nrrd", image)
    reference = sitk.ReadImage(str(tmp_path / "ct.nrrd"))
    seg_nrrd(tmp_path / "bad.seg.nrrd", reference, labels, [("psoas_major", 3), ("erector_spinae", 0)])
    code, _, err = quantify(run_cli, tmp_path / "ct.nrrd", tmp_path / "bad.seg.nrrd", tmp_path / "out")
    one_line_error(code, err, "bad.seg.nrrd", "Segment1_LabelValue", "positive")
    assert listing(tmp_path / "out") == {}
    seg_nrrd(tmp_path / "ok.seg.nrrd", reference, labels, [("psoas_major", 3), ("erector_spinae", 5),
                                                           ("quadratus_lumborum", 7)])
    code, _, err = quantify(run_cli, tmp_path / "ct.nrrd", tmp_path / "ok.seg.nrrd", tmp_path / "out2",
                            "--patient-id", "p")
    assert code == 0, err
    warnings = json.loads((tmp_path / "out2" / "p.json").read_text(encoding="utf-8"))["warnings"]
    assert any("quadratus_lumborum holds no voxel" in w for w in warnings)


# --- defect 11: sheared directions, --midline-mm nan, strict JSON from info ------------------------------

def test_sheared_direction_matrix_is_refused(tmp_path, run_cli):
    """Before: a non-orthonormal direction with determinant 1 was accepted."""
    image, _ = l3_arrays()
    write_image(tmp_path / "ct.mha", image, direction=[[1, 0.5, 0], [0, 1, 0], [0, 0, 1]])  # det 1
    code, out, err = run_cli("--progress", "none", "info", tmp_path / "ct.mha")
    one_line_error(code, err, "ct.mha", "direction", "not a rotation")


def test_midline_nan_is_refused(tmp_path, run_cli):
    """Before: all CSA went to one side and NaN was written into the JSON."""
    image, labels = l3_case(tmp_path)
    code, _, err = quantify(run_cli, image, labels, tmp_path / "out", "--midline-mm", "nan")
    one_line_error(code, err, "--midline-mm")
    assert listing(tmp_path / "out") == {}


def test_info_writes_strict_json_for_an_image_with_nan(tmp_path, run_cli):
    """Before: info printed NaN / -Infinity, which strict JSON parsers reject."""
    values = np.zeros((3, 8, 8), np.float32)
    values[0, 0, 0], values[1, 1, 1], values[2, 2, 2] = np.nan, -np.inf, 7.0
    write_image(tmp_path / "x.nii.gz", values)
    code, out, err = run_cli("--progress", "none", "info", tmp_path / "x.nii.gz")
    assert code == 0, err
    info = strict_json(out)
    assert info["min"] == 0.0 and info["max"] == 7.0 and info["non_finite_voxels"] == 2
    code, out, err = run_cli("--progress", "json", "info", tmp_path / "x.nii.gz")
    assert code == 0 and [strict_json(line) for line in out.splitlines()]
    import io

    from MuscleQuantLib.progress import Progress

    stream = io.StringIO()
    Progress("json", stream).done({"dice": float("nan"), "hd95": [float("inf"), 1.0]})  # undefined metrics
    assert strict_json(stream.getvalue())["result"] == {"dice": None, "hd95": [None, 1.0]}


# --- the internal errors (exit 1) that must be clear refusals (exit 2) ---------------------------------------

def test_read_only_output_folder_is_a_clear_refusal(tmp_path, run_cli):
    image, labels = l3_case(tmp_path)
    with read_only_copy(tmp_path / "ro") as ro:
        code, _, err = run_cli("--progress", "none", "quantify", image, labels, "--out", ro / "out", "--no-qa")
        one_line_error(code, err, "read-only")
        code, _, err = run_cli("--progress", "none", "convert", image, ro / "x.nii.gz")
        one_line_error(code, err, str(ro), "read-only")


def test_segment_out_that_is_a_file_is_refused(tmp_path, run_cli, l3_model):
    image, _ = l3_case(tmp_path)
    (tmp_path / "taken").write_text("x", encoding="utf-8")
    code, _, err = run_cli("--progress", "none", "segment", image, "--model", l3_model, "--out", tmp_path / "taken",
                           "--slice", "1")
    one_line_error(code, err, "taken", "not a folder")
    assert (tmp_path / "taken").read_text(encoding="utf-8") == "x"


def test_unknown_device_is_refused(tmp_path, run_cli, l3_model):
    image, _ = l3_case(tmp_path)
    code, _, err = run_cli("--progress", "none", "segment", image, "--model", l3_model, "--out", tmp_path / "s",
                           "--slice", "1", "--device", "tpu")
    one_line_error(code, err, "--device", "tpu")
    code, _, err = run_cli("--progress", "none", "train", "--preset", "l3", "--data", tmp_path, "--out",
                           tmp_path / "r", "--device", "tpu")
    one_line_error(code, err, "--device", "tpu")
    assert not (tmp_path / "s").exists() and not (tmp_path / "r").exists()


@pytest.mark.parametrize("content", [b"\x00\x01garbage\xff\xfe\n\x00", b"subject,score\nA,1\n", b""])
def test_garbage_or_foreign_measurements_csv_is_refused_and_nothing_is_written(tmp_path, run_cli, content):
    """Before: the case JSON was written, then pandas failed (internal error)."""
    image, labels = l3_case(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "measurements.csv").write_bytes(content)
    code, _, err = run_cli("--progress", "none", "quantify", image, labels, "--out", out)
    one_line_error(code, err, "measurements.csv")
    assert listing(out) == {"measurements.csv": content}


def test_phantom_negative_seed_is_refused(tmp_path, run_cli):
    code, _, err = run_cli("--progress", "none", "phantom", "--anatomy", "l3", "--seed", "-1", "--out", tmp_path / "p")
    one_line_error(code, err, "--seed")
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("text, needle", [("{not json", "not a readable dataset JSON"), ('{"cases": 3}', "cases"),
                                          ('{"cases": [{"image": "a.nii.gz"}]}', "case_id"),
                                          ('{"cases": [{"case_id": "a"}]}', "has no 'image'"),
                                          ('{"cases": [{"case_id": "a", "image": "../../etc/x.nii.gz", '
                                           '"labels": "a.nii.gz"}]}', "outside the data folder"),
                                          ('{"cases": [{"case_id": "a", "image": "/etc/x.nii.gz"}]}',
                                           "outside the data folder")])
def test_malformed_dataset_json_is_refused(tmp_path, run_cli, text, needle):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dataset.json").write_text(text, encoding="utf-8")
    code, _, err = run_cli("--progress", "none", "train", "--preset", "l3", "--data", tmp_path / "data", "--out",
                           tmp_path / "run", "--profile", "tiny")
    one_line_error(code, err, "dataset.json", needle)
    code, _, err = run_cli("--progress", "none", "evaluate-levels", "--data", tmp_path / "data", "--preset", "l3",
                           "--out", tmp_path / "lv")
    assert code == 2, err
    assert listing(tmp_path / "run") == {} and listing(tmp_path / "lv") == {}


def test_spacing_of_a_million_mm_is_refused_before_allocating(tmp_path, run_cli):
    image, labels = l3_arrays()
    write_image(tmp_path / "ct.nrrd", image, spacing=(1e6, 1e6, 5.0))
    write_image(tmp_path / "labels.nrrd", labels, spacing=(1e6, 1e6, 5.0))
    code, _, err = quantify(run_cli, tmp_path / "ct.nrrd", tmp_path / "labels.nrrd", tmp_path / "out")
    one_line_error(code, err, "ct.nrrd", "spacing")


def test_header_claiming_gigabytes_in_a_tiny_file_is_refused_before_reading(tmp_path, run_cli):
    """Before: a 338 kB .nii.gz claiming 1.5 GB cost 1.7 GB of memory before it was refused."""
    import resource

    path = write_image(tmp_path / "x.nii.gz", np.zeros((4, 8, 8), np.int16))
    patch_nifti_dim(path, (1024, 1024, 700))  # 1.5 GB of int16
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    code, _, err = run_cli("--progress", "none", "info", path)
    one_line_error(code, err, "x.nii.gz", "claims")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # kB: nothing allocated


def test_models_import_into_a_read_only_cache_is_refused(tmp_path, run_cli, l3_model, monkeypatch):
    with read_only_copy(tmp_path / "home") as home:
        monkeypatch.setenv("MUSCLEQUANT_HOME", str(home))
        code, _, err = run_cli("--progress", "none", "models", "import", l3_model)
        one_line_error(code, err, "model cache", "read-only")


def test_a_second_train_into_the_same_out_is_refused_while_the_first_runs(tmp_path, run_cli):
    from MuscleQuantLib.fileio import try_exclusive

    for n in range(2):
        l3_case(tmp_path / "data", f"c{n}")
    held = try_exclusive(tmp_path / "run", "train run")  # what the first run holds while it trains
    try:
        code, _, err = run_cli("--progress", "none", "train", "--preset", "l3", "--data", tmp_path / "data", "--out",
                               tmp_path / "run", "--profile", "tiny", "--device", "cpu")
        one_line_error(code, err, "run", "another train run")
    finally:
        held.close()
    assert listing(tmp_path / "run") == {}


def test_patient_id_with_a_path_is_refused(tmp_path, run_cli):
    """Before: --patient-id ../../x made a hidden file '.._.._x.json'."""
    image, labels = l3_case(tmp_path)
    code, _, err = quantify(run_cli, image, labels, tmp_path / "out", "--patient-id", "../../x")
    one_line_error(code, err, "--patient-id")
    assert listing(tmp_path / "out") == {}
    assert not list(tmp_path.rglob(".*x*"))


def test_segment_unknown_protocol_is_refused(tmp_path, run_cli, l3_model):
    image, _ = l3_case(tmp_path)
    code, _, err = run_cli("--progress", "none", "segment", image, "--model", l3_model, "--out", tmp_path / "s",
                           "--slice", "1", "--protocol", "foo")
    one_line_error(code, err, "--protocol", "foo")
    assert not (tmp_path / "s").exists()
