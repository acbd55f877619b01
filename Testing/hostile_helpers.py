"""Builders for the hostile-input and fault-injection tests: tiny CT cases, an untrained (but valid)
L3 model, raw NIfTI header surgery, DICOM series with chosen slice positions, Slicer .seg.nrrd files,
and file systems that are full or read-only (tiny tmpfs mounts, root only)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

SPACING = (2.0, 2.0, 5.0)
SHAPE = (3, 48, 64)  # z, y, x


def write_image(path: Path, array: np.ndarray, spacing=SPACING, origin=(0.0, 0.0, 0.0), direction=None) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in spacing[: image.GetDimension()]))
    image.SetOrigin(tuple(float(o) for o in origin[: image.GetDimension()]))
    if direction is not None:
        image.SetDirection(tuple(float(v) for v in np.asarray(direction).ravel()))
    sitk.WriteImage(image, str(path))
    return path


def l3_arrays() -> tuple[np.ndarray, np.ndarray]:
    """A CT (HU, air around a soft-tissue body) and L3-preset labels: psoas (3) and erector spinae (5)
    on both sides of slice 1, and a little psoas on slice 0."""
    nz, ny, nx = SHAPE
    image = np.full(SHAPE, -1000, np.int16)
    yy, xx = np.mgrid[:ny, :nx]
    body = ((yy - ny / 2) / (ny * 0.42)) ** 2 + ((xx - nx / 2 + 0.5) / (nx * 0.42)) ** 2 <= 1
    image[:, body] = -80  # fat
    labels = np.zeros(SHAPE, np.uint8)
    for x0 in (18, 40):
        labels[1, 20:28, x0:x0 + 6] = 3
        labels[1, 32:38, x0 + 2:x0 + 6] = 5
    labels[0, 22:25, 18:22] = 3
    image[labels > 0] = 45
    return image, labels


def l3_case(folder: Path, name: str = "case") -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    image, labels = l3_arrays()
    return (write_image(folder / f"{name}_image.nii.gz", image), write_image(folder / f"{name}_labels.nii.gz", labels))


def untrained_model(out_dir: Path, preset_name: str = "l3", profile: str = "tiny") -> Path:
    """A valid, loadable model of the preset's profile with random weights (segment's file handling is
    under test here, not its accuracy); built and saved in well under a second."""
    import torch

    from MuscleQuantLib.models.modelfile import save_model
    from MuscleQuantLib.networks import build_network
    from MuscleQuantLib.presets import get_preset
    from MuscleQuantLib.training.data import DatasetSummary
    from MuscleQuantLib.training.run import TrainRequest, model_card_fields
    from MuscleQuantLib.training.trainer import FoldResult

    torch.manual_seed(0)
    preset = get_preset(preset_name)
    network = build_network(preset.profile(profile).network, preset.network_args(profile)).eval()
    request = TrainRequest(preset=preset, data=out_dir, out=out_dir, profile=profile)
    fold = FoldResult(0, network, 1, 0.5, "max_epochs", [{"epoch": 1, "val_dice": 0.5}])
    fields = model_card_fields(request, profile, [fold], DatasetSummary(str(out_dir), 2, 2, 2), "cpu", 0.1)
    return save_model([network], fields, out_dir)


def patch_nifti_pixdim(path: Path, axis: int, value: float) -> Path:
    """Overwrite pixdim[axis] in an uncompressed NIfTI-1 header (little endian, as ITK writes it)."""
    data = bytearray(path.read_bytes())
    data[76 + 4 * axis: 80 + 4 * axis] = np.float32(value).tobytes()
    path.write_bytes(bytes(data))
    return path


def patch_nifti_dim(path: Path, dims: tuple[int, int, int]) -> Path:
    """Overwrite dim[1..3] of a gzipped NIfTI-1 header (the voxel data stays as it is)."""
    import gzip

    raw = bytearray(gzip.decompress(path.read_bytes()))
    for i, value in enumerate(dims, start=1):
        raw[40 + 2 * i: 42 + 2 * i] = np.int16(value).tobytes()
    path.write_bytes(gzip.compress(bytes(raw)))
    return path


def dicom_series(folder: Path, z_positions: list[float], pixel_spacings: list[float] | None = None) -> Path:
    """A CT DICOM series (one file per slice) with the given ImagePositionPatient z values."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = "1.2.826.0.1.3680043.2.1125." + str(uuid.uuid4().int % 10**20)
    study_uid = series_uid + ".1"
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for n, z in enumerate(z_positions):
        array = np.full((1, 16, 16), -1000, np.int16)
        array[0, 4:12, 4:12] = 40
        image = sitk.GetImageFromArray(array)
        ps = (pixel_spacings or [0.8] * len(z_positions))[n]
        image.SetSpacing((ps, ps, 1.0))
        image.SetOrigin((0.0, 0.0, float(z)))
        tags = {"0008|0060": "CT", "0020|000d": study_uid, "0020|000e": series_uid, "0020|0013": str(n + 1),
                "0020|0032": f"0\\0\\{z}", "0020|0037": "1\\0\\0\\0\\1\\0", "0028|0030": f"{ps}\\{ps}",
                "0018|0050": "5", "0008|0018": f"{series_uid}.{n + 1}", "0028|1052": "0", "0028|1053": "1"}
        for key, value in tags.items():
            image.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"slice{n:03d}.dcm"))
        writer.Execute(image)
    return folder


def seg_nrrd(path: Path, reference: sitk.Image, layer: np.ndarray, segments: list[tuple[str, int]]) -> Path:
    """A one-layer Slicer .seg.nrrd on the reference grid; ``segments`` are (name, LabelValue)."""
    image = sitk.GetImageFromArray(layer.astype(np.uint8))
    image.CopyInformation(reference)
    for n, (name, value) in enumerate(segments):
        for key, text in (("Name", name), ("LabelValue", str(value)), ("Layer", "0"), ("ID", f"S{n}"),
                          ("Color", "0.5 0.2 0.2")):
            image.SetMetaData(f"Segment{n}_{key}", text)
    sitk.WriteImage(image, str(path), True)
    return path


def listing(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> bytes), hidden bookkeeping locks excepted."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")}


def can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@contextmanager
def tmpfs(folder: Path, size: str = "64k", read_only: bool = False) -> Iterator[Path]:
    """A tiny tmpfs at ``folder`` (full after ``size``), optionally read-only; root only, else skip."""
    if not can_mount():
        pytest.skip("needs root to mount a tmpfs (full / read-only file system)")
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@contextmanager
def read_only_copy(folder: Path, source: Path | None = None) -> Iterator[Path]:
    """``folder`` as a read-only tmpfs, holding a copy of ``source`` (a file or folder) when given."""
    with tmpfs(folder, size="8m") as mounted:
        if source is not None:
            target = mounted / source.name
            (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)
        subprocess.run(["mount", "-o", "remount,ro", str(mounted)], check=True)
        yield mounted


def one_line_error(code: int, err: str, *needles: str) -> str:
    """Assert exit 2 and a single stderr line that names every needle; returns that line."""
    lines = [ln for ln in err.strip().splitlines() if ln.strip() and not ln.startswith("** ERROR")]
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    for needle in needles:
        assert needle.lower() in lines[0].lower(), (needle, lines[0])
    assert "internal error" not in lines[0] and "Traceback" not in err
    return lines[0]


def strict_json(text: str) -> object:
    """Parse JSON refusing NaN/Infinity, as strict parsers (JavaScript, the Slicer protocol) do."""
    def refuse(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=refuse)
