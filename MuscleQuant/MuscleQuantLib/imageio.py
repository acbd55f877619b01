"""Image input/output with geometry kept intact.

Every result is written on the exact grid (size, spacing, origin, direction) of its input, whatever
the direction matrix (RAS- or LPS-stored, oblique). Bad input is refused with one line naming the
file and the reason, before any output is created.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from .errors import InputError
from .fileio import atomic_path

sitk.ProcessObject_SetGlobalWarningDisplay(False)  # ITK prints warnings to stderr; our errors are one line

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
GEOMETRY_TOLERANCE = 1e-4  # mm and direction cosines; looser than float32 header round-off


def image_suffix(path: str | Path) -> str:
    """The recognised image suffix of ``path`` ('' when it is none of ours)."""
    name = Path(path).name.lower()
    return next((s for s in IMAGE_SUFFIXES if name.endswith(s)), "")


def read_image(path: str | Path, *, allow_single_slice: bool = False, series_uid: str | None = None) -> sitk.Image:
    """Read a 3D scalar image from a NIfTI/NRRD/MHA file or a DICOM series folder.

    ``allow_single_slice`` accepts a 2D image (or a 3D image one slice thick) as a one-slice volume,
    which single-slice L3/C3 exports need; otherwise such input is refused.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file or folder not found", path=path)
    image = _read_dicom_folder(path, series_uid) if path.is_dir() else _read_file(path)
    return _validated(image, path, allow_single_slice)


def _read_file(path: Path) -> sitk.Image:
    if path.stat().st_size == 0:
        raise InputError("empty file (0 bytes)", path=path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        raise InputError(
            "not a readable image (unknown or unsupported format; expected NIfTI, NRRD, MHA or a DICOM folder)",
            path=path,
        ) from None
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise InputError(f"image data could not be read (truncated or corrupt file): {_first_line(exc)}", path=path) from None
    if image_suffix(path) in (".nii", ".nii.gz"):
        _check_nifti_complete(path, image)
    return image


def _check_nifti_complete(path: Path, image: sitk.Image) -> None:
    """ITK's NIfTI reader pads a truncated file with zeros instead of failing; check the byte count."""
    data_bytes = image.GetNumberOfPixels() * image.GetNumberOfComponentsPerPixel() * image.GetSizeOfPixelComponent()
    if path.name.lower().endswith(".gz"):
        available, complete = _gzip_length(path)
        if not complete:
            raise InputError("truncated or corrupt file (compressed stream ends early)", path=path)
    else:
        available = path.stat().st_size
    with _open_maybe_gzip(path) as handle:
        header = handle.read(544)
    offset = _nifti_vox_offset(header)
    if available < offset + data_bytes:
        raise InputError(f"truncated or corrupt file ({available} bytes, {offset + data_bytes} expected)", path=path)


def _open_maybe_gzip(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _gzip_length(path: Path) -> tuple[int, bool]:
    """Uncompressed length of a gzip file and whether its stream ended properly (CRC checked)."""
    total = 0
    try:
        with gzip.open(path, "rb") as handle:
            while chunk := handle.read(1 << 22):
                total += len(chunk)
    except (EOFError, OSError, zlib.error):
        return total, False
    return total, True


def _nifti_vox_offset(header: bytes) -> int:
    """Where the voxel data starts (NIfTI-1 or NIfTI-2, either byte order)."""
    for order in "<>":
        if len(header) >= 4 and struct.unpack(f"{order}i", header[:4])[0] == 348:
            return int(struct.unpack(f"{order}f", header[108:112])[0])
        if len(header) >= 176 and struct.unpack(f"{order}i", header[:4])[0] == 540:
            return int(struct.unpack(f"{order}q", header[168:176])[0])
    return 0


def _read_dicom_folder(path: Path, series_uid: str | None) -> sitk.Image:
    series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(path))
    if not series:
        raise InputError("no DICOM series found in folder", path=path)
    if series_uid is None:
        if len(series) > 1:
            raise InputError(
                f"folder holds {len(series)} DICOM series ({', '.join(series)}); choose one with --series-uid",
                path=path,
            )
        series_uid = series[0]
    elif series_uid not in series:
        raise InputError(f"DICOM series {series_uid} not in folder (found: {', '.join(series)})", path=path)
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(path), series_uid)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    try:
        return reader.Execute()
    except RuntimeError as exc:
        raise InputError(f"DICOM series {series_uid} could not be read: {_first_line(exc)}", path=path) from None


def _validated(image: sitk.Image, path: Path, allow_single_slice: bool) -> sitk.Image:
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"image has {image.GetNumberOfComponentsPerPixel()} components per voxel (colour/vector); "
            "a scalar CT or MR image is required",
            path=path,
        )
    dim = image.GetDimension()
    if dim == 4:
        size = image.GetSize()
        if size[3] != 1:
            raise InputError(f"4D image with {size[3]} volumes; a single 3D volume is required", path=path)
        image = image[:, :, :, 0]
        dim = 3
    if dim == 2:
        if not allow_single_slice:
            raise InputError("2D image; a 3D volume is required", path=path)
        image = sitk.JoinSeries(image)
    elif dim != 3:
        raise InputError(f"{dim}D image; a 3D volume is required", path=path)
    size = image.GetSize()
    if 0 in size:
        raise InputError(f"empty image (size {size})", path=path)
    if not allow_single_slice and min(size) == 1:
        raise InputError(f"image is a single slice (size {size}); a 3D volume is required", path=path)
    spacing = image.GetSpacing()
    if not all(np.isfinite(s) and s > 0 for s in spacing):
        raise InputError(f"invalid voxel spacing {spacing}", path=path)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    if not np.all(np.isfinite(direction)) or abs(abs(np.linalg.det(direction)) - 1) > 1e-3:
        raise InputError("invalid direction matrix (not a rotation)", path=path)
    return image


def _first_line(exc: BaseException) -> str:
    """ITK's exception text without its source paths and banner lines, squeezed to one line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if "Exception" not in ln and not ln.startswith(("sitk::", "/", "Reason:"))]
    return " ".join(useful or lines or ["unknown error"])[:240]


def geometry(image: sitk.Image) -> dict[str, Any]:
    """The grid of ``image`` as plain data (for JSON summaries and grid comparisons)."""
    return {
        "size": list(image.GetSize()),
        "spacing": [float(v) for v in image.GetSpacing()],
        "origin": [float(v) for v in image.GetOrigin()],
        "direction": [float(v) for v in image.GetDirection()],
    }


def describe(image: sitk.Image) -> dict[str, Any]:
    """Geometry plus pixel type and intensity range."""
    array = sitk.GetArrayViewFromImage(image)
    info = geometry(image)
    info.update(
        pixel_type=image.GetPixelIDTypeAsString(),
        min=float(array.min()),
        max=float(array.max()),
        mean=float(array.mean()),
    )
    return info


def same_grid(a: sitk.Image, b: sitk.Image, tolerance: float = GEOMETRY_TOLERANCE) -> bool:
    """True when both images share size, spacing, origin and direction (within ``tolerance``)."""
    if a.GetDimension() != b.GetDimension() or a.GetSize() != b.GetSize():
        return False
    return all(
        np.allclose(getattr(a, f)(), getattr(b, f)(), atol=tolerance, rtol=0)
        for f in ("GetSpacing", "GetOrigin", "GetDirection")
    )


def grid_difference(a: sitk.Image, b: sitk.Image) -> str:
    """Say which grid property differs first, for error messages."""
    for name, getter in (("size", "GetSize"), ("spacing", "GetSpacing"), ("origin", "GetOrigin"), ("direction", "GetDirection")):
        va, vb = getattr(a, getter)(), getattr(b, getter)()
        if len(va) != len(vb) or not np.allclose(va, vb, atol=GEOMETRY_TOLERANCE, rtol=0):
            return f"{name} {tuple(round(v, 4) for v in vb)} differs from the image's {tuple(round(v, 4) for v in va)}"
    return "grids match"


def require_same_grid(image: sitk.Image, labels: sitk.Image, labels_path: str | Path) -> None:
    """Refuse a label map that is not on the image's grid: silent resampling would change the measurement."""
    if not same_grid(image, labels):
        raise InputError(f"label map is not on the image grid: {grid_difference(image, labels)}", path=labels_path)


def image_from_array(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    """A new image holding ``array`` (z, y, x order) on exactly the grid of ``reference``."""
    expected = tuple(reversed(reference.GetSize()))
    if array.shape != expected:
        raise ValueError(f"array shape {array.shape} does not match reference grid {expected}")
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


def labelmap_pixel_type(max_label: int) -> type:
    """Smallest unsigned integer type that holds the labels (uint8 for ≤ 255 classes)."""
    return np.uint8 if max_label <= np.iinfo(np.uint8).max else np.uint16


def write_image(image: sitk.Image, path: str | Path, *, compress: bool = True) -> Path:
    """Write ``image`` atomically; the format follows the suffix."""
    path = Path(path)
    if not image_suffix(path):
        raise InputError(f"unsupported output format (use one of {', '.join(IMAGE_SUFFIXES)})", path=path)
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), compress)
    return path


def write_labelmap(labels: np.ndarray | sitk.Image, reference: sitk.Image, path: str | Path) -> Path:
    """Write a label map on exactly the grid of ``reference`` (integer type, compressed)."""
    array = sitk.GetArrayFromImage(labels) if isinstance(labels, sitk.Image) else np.asarray(labels)
    if array.size and (array.min() < 0 or not np.all(np.equal(np.mod(array, 1), 0))):
        raise ValueError("label maps hold non-negative integers")
    max_label = int(array.max()) if array.size else 0
    image = image_from_array(array.astype(labelmap_pixel_type(max_label)), reference)
    return write_image(image, path)
