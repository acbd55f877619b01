"""Image I/O: real CT geometry as its header states, grid-exact output for any direction, clear refusals."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from MuscleQuantLib.errors import InputError
from MuscleQuantLib.imageio import geometry, read_image, require_same_grid, same_grid, write_labelmap


def _nifti_header(path: Path) -> dict:
    """Independent NIfTI-1 header parse (no ITK): dims, pixdims, sform rows, data type."""
    raw = gzip.open(path, "rb").read()
    dim = struct.unpack("<8h", raw[40:56])
    datatype, bitpix = struct.unpack("<hh", raw[70:74])
    pixdim = struct.unpack("<8f", raw[76:108])
    vox_offset = struct.unpack("<f", raw[108:112])[0]
    scl_slope, scl_inter = struct.unpack("<ff", raw[112:120])
    sform_code = struct.unpack("<h", raw[254:256])[0]
    srow = np.array(struct.unpack("<12f", raw[280:328])).reshape(3, 4)
    n = dim[1] * dim[2] * dim[3]
    dtype = {8: "<i4", 4: "<i2", 2: "u1"}[datatype]
    data = np.frombuffer(raw[int(vox_offset): int(vox_offset) + n * bitpix // 8], dtype=dtype)
    if scl_slope not in (0.0, 1.0) or scl_inter != 0.0:
        data = data * scl_slope + scl_inter
    return {"dim": dim[1:4], "pixdim": pixdim[1:4], "srow": srow, "sform_code": sform_code, "data": data}


def test_real_ct_geometry_and_hu_match_its_header(shared_data):
    path = shared_data / "example_ct.nii.gz"
    header = _nifti_header(path)
    image = read_image(path)
    assert image.GetSize() == header["dim"] == (122, 101, 112)
    assert np.allclose(image.GetSpacing(), header["pixdim"]) and np.allclose(image.GetSpacing(), 3.0)
    # NIfTI stores RAS; ITK reports LPS: flip the first two rows of the sform.
    ras_to_lps = np.diag([-1.0, -1.0, 1.0])
    affine = ras_to_lps @ header["srow"]
    direction = affine[:, :3] / np.linalg.norm(affine[:, :3], axis=0)
    assert np.allclose(np.array(image.GetDirection()).reshape(3, 3), direction, atol=1e-5)
    assert np.allclose(image.GetOrigin(), affine[:, 3], atol=1e-4)
    assert np.allclose(np.array(image.GetDirection()).reshape(3, 3), np.diag([-1, -1, 1]))  # as the data README says
    array = sitk.GetArrayViewFromImage(image)
    assert array.min() == header["data"].min() and array.max() == header["data"].max()
    assert array.min() < -1000 and array.max() > 1500  # air and bone in HU


def _oblique_copy(image: sitk.Image) -> sitk.Image:
    """Same voxels, grid tilted 12° about an oblique axis, stored LPS-style."""
    transform = sitk.VersorTransform((0.3, 0.5, 0.8), np.deg2rad(12.0))
    direction = np.array(transform.GetMatrix()).reshape(3, 3) @ np.diag([1.0, 1.0, 1.0])
    copy = sitk.Image(image)
    copy.SetDirection(direction.ravel().tolist())
    copy.SetOrigin((-120.5, 33.25, 410.0))
    return copy


@pytest.mark.parametrize("variant", ["as_is", "oblique_lps"])
@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_labelmap_written_on_exact_input_grid(shared_data, tmp_path, variant, suffix):
    source = read_image(shared_data / "example_ct.nii.gz")
    if variant == "oblique_lps":
        source_path = tmp_path / f"oblique{suffix}"
        sitk.WriteImage(_oblique_copy(source), str(source_path))
    else:
        source_path = shared_data / "example_ct.nii.gz"
    image = read_image(source_path)
    labels = (sitk.GetArrayFromImage(image) > 200).astype(np.uint8)
    out = write_labelmap(labels, image, tmp_path / f"labels{suffix}")
    back = sitk.ReadImage(str(out))
    assert back.GetSize() == image.GetSize()
    assert back.GetSpacing() == pytest.approx(image.GetSpacing(), abs=1e-6)
    assert back.GetOrigin() == pytest.approx(image.GetOrigin(), abs=1e-4)
    assert back.GetDirection() == pytest.approx(image.GetDirection(), abs=1e-6)
    assert np.array_equal(sitk.GetArrayFromImage(back), labels)
    assert back.GetPixelID() == sitk.sitkUInt8
    # The same voxel index maps to the same physical point in image and label map.
    corner = (image.GetSize()[0] - 1, 0, image.GetSize()[2] - 1)
    assert back.TransformIndexToPhysicalPoint(corner) == pytest.approx(image.TransformIndexToPhysicalPoint(corner), abs=1e-3)


def test_oblique_copy_is_really_oblique(shared_data):
    image = _oblique_copy(read_image(shared_data / "example_ct.nii.gz"))
    direction = np.array(image.GetDirection()).reshape(3, 3)
    assert np.count_nonzero(np.abs(direction) > 1e-3) > 3


def test_dicom_series_folder_reads_with_geometry(tmp_path):
    rng = np.random.default_rng(0)
    volume = rng.integers(-1000, 1000, size=(6, 20, 24)).astype(np.int16)
    image = sitk.GetImageFromArray(volume)
    image.SetSpacing((0.8, 0.7, 2.5))
    image.SetOrigin((-10.0, 20.0, 30.0))
    _write_dicom_series(image, tmp_path / "series", "1.2.826.0.1.3680043.2.1125.1")
    back = read_image(tmp_path / "series")
    assert back.GetSize() == image.GetSize()
    assert back.GetSpacing() == pytest.approx(image.GetSpacing(), abs=1e-4)
    assert back.GetOrigin() == pytest.approx(image.GetOrigin(), abs=1e-4)
    assert np.array_equal(sitk.GetArrayFromImage(back), volume)


def _write_dicom_series(image: sitk.Image, folder: Path, series_uid: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    direction = image.GetDirection()
    for k in range(image.GetDepth()):
        slice_ = image[:, :, k]
        tags = {
            "0008|0060": "CT",
            "0020|000d": "1.2.826.0.1.3680043.2.1125.9",
            "0020|000e": series_uid,
            "0020|0037": "\\".join(str(v) for v in (direction[0], direction[3], direction[6], direction[1], direction[4], direction[7])),
            "0020|0032": "\\".join(str(v) for v in image.TransformIndexToPhysicalPoint((0, 0, k))),
            "0020|0013": str(k + 1),
            "0018|0050": str(image.GetSpacing()[2]),
            "0028|1052": "0",
            "0028|1053": "1",
        }
        for tag, value in tags.items():
            slice_.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"slice{k:03d}.dcm"))
        writer.Execute(slice_)


def test_folder_with_two_series_asks_which(tmp_path):
    image = sitk.GetImageFromArray(np.zeros((3, 8, 8), dtype=np.int16))
    _write_dicom_series(image, tmp_path / "mixed", "1.2.3.1")
    _write_dicom_series(image, tmp_path / "mixed2", "1.2.3.2")
    for f in (tmp_path / "mixed2").iterdir():
        f.rename(tmp_path / "mixed" / f"b_{f.name}")
    with pytest.raises(InputError, match="2 DICOM series"):
        read_image(tmp_path / "mixed")
    assert read_image(tmp_path / "mixed", series_uid="1.2.3.2").GetSize() == (8, 8, 3)


def _bad_inputs(tmp_path: Path, shared_data: Path) -> dict[str, tuple[Path, str]]:
    two_d = tmp_path / "slice2d.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((16, 16), dtype=np.int16)), str(two_d))
    four_d = tmp_path / "series4d.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 4, 8, 8), dtype=np.int16), isVector=False), str(four_d))
    text = tmp_path / "notes.nii.gz"
    text.write_text("this is not an image\n", encoding="utf-8")
    truncated = tmp_path / "truncated.nii.gz"
    truncated.write_bytes((shared_data / "example_ct.nii.gz").read_bytes()[:200_000])
    source = sitk.ReadImage(str(shared_data / "example_ct.nii.gz"))
    truncated_plain = {}
    for suffix in (".nii", ".mha", ".nrrd"):
        target = tmp_path / f"truncated_plain{suffix}"
        sitk.WriteImage(source, str(target), False)
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
        truncated_plain[suffix] = target
    empty_dir = tmp_path / "empty_folder"
    empty_dir.mkdir()
    empty_file = tmp_path / "empty.nrrd"
    empty_file.write_bytes(b"")
    return {
        "2d": (two_d, "2D image"),
        "4d": (four_d, "4D image with 3 volumes"),
        "text": (text, "not a readable image"),
        "truncated": (truncated, "truncated or corrupt"),
        "truncated_nii": (truncated_plain[".nii"], "truncated or corrupt"),
        "truncated_mha": (truncated_plain[".mha"], "truncated or corrupt"),
        "truncated_nrrd": (truncated_plain[".nrrd"], "truncated or corrupt"),
        "empty_folder": (empty_dir, "no DICOM series"),
        "empty_file": (empty_file, "empty file"),
        "missing": (tmp_path / "nope.nii.gz", "not found"),
    }


@pytest.mark.parametrize("kind", ["2d", "4d", "text", "truncated", "truncated_nii", "truncated_mha", "truncated_nrrd",
                                  "empty_folder", "empty_file", "missing"])
def test_bad_input_is_refused_with_one_line_and_no_output(tmp_path, shared_data, run_cli, kind):
    path, reason = _bad_inputs(tmp_path, shared_data)[kind]
    with pytest.raises(InputError, match=reason):
        read_image(path)
    out = tmp_path / "out" / "converted.nii.gz"
    code, stdout, stderr = run_cli("convert", path, out)
    assert code == 2
    lines = [ln for ln in stderr.splitlines() if ln.startswith("musclequant")]  # progress lines are "[stage] ..."
    assert len(lines) == 1 and str(path) in lines[0] and reason in lines[0], stderr
    assert "Traceback" not in stderr
    assert not out.exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_json_progress_reports_errors_machine_readably(tmp_path, run_cli):
    code, stdout, stderr = run_cli("--progress", "json", "info", tmp_path / "missing.nrrd")
    assert code == 2
    records = [json.loads(line) for line in stdout.splitlines()]
    assert records[-1]["stage"] == "error" and "not found" in records[-1]["message"]


def test_grid_check_names_the_difference(shared_data):
    image = read_image(shared_data / "example_ct.nii.gz")
    moved = sitk.Image(image)
    moved.SetOrigin((0.0, 0.0, 0.0))
    assert same_grid(image, image) and not same_grid(image, moved)
    with pytest.raises(InputError, match="origin"):
        require_same_grid(image, moved, "labels.nii.gz")


def test_stale_origin_file_reads_with_its_own_header(shared_data):
    """example_ct_sm's origin was never updated (data README): read as stated, no crash, no 'fixing'."""
    small = read_image(shared_data / "example_ct_sm.nii.gz")
    full = read_image(shared_data / "example_ct.nii.gz")
    assert small.GetSize() == (122, 101, 30)
    assert geometry(small)["origin"] == pytest.approx(geometry(full)["origin"], abs=1e-3)
    assert np.array_equal(sitk.GetArrayFromImage(small), sitk.GetArrayFromImage(full)[82:112])
