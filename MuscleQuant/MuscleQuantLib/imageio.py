"""Image input/output with geometry kept intact.

Every result is written on the exact grid (size, spacing, origin, direction) of its input, whatever
the direction matrix (RAS- or LPS-stored, oblique). Bad input is refused with one line naming the
file and the reason, before any output is created.
"""

from __future__ import annotations

import errno
import gzip
import re
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from .errors import InputError
from .fileio import atomic_path
from .imageio_nifti import (
    MAX_COMPRESSION_RATIO,
    check_nifti_complete,
    check_nifti_header,
    gzip_trailer,
    nifti_stored_bytes,
    nifti_vox_offset,
    read_nifti_gz_once,
    restore_non_finite,
)
from .imageio_nifti import first_line as _first_line

sitk.ProcessObject_SetGlobalWarningDisplay(False)  # ITK prints warnings to stderr; our errors are one line

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
GEOMETRY_TOLERANCE = 1e-4  # mm and direction cosines; looser than float32 header round-off


def image_suffix(path: str | Path) -> str:
    """The recognised image suffix of ``path`` ('' when it is none of ours)."""
    name = Path(path).name.lower()
    return next((s for s in IMAGE_SUFFIXES if name.endswith(s)), "")


MAX_FIELD_OF_VIEW_MM = 2500.0  # no body part is longer: a larger grid means a wrong spacing, not a big patient
MAX_SPACING_MM = 100.0
CT_AIR_OR_FAT_HU = -150.0  # every CT in HU holds air or fat below this; a display export (0..255) does not
CT_MAX_HU = 65535.0
TEXT_HEADER_GEOMETRY = re.compile(r"^\s*(offset|origin|position|elementspacing|elementsize|transformmatrix|"
                                  r"rotation|orientation|space origin|space directions|spacings)\s*:?=?(.*)$",
                                  re.IGNORECASE)


def read_image(path: str | Path, *, allow_single_slice: bool = False, series_uid: str | None = None,
               modality: str | None = None) -> sitk.Image:
    """Read a 3D scalar image from a NIfTI/NRRD/MHA file or a DICOM series folder.

    ``allow_single_slice`` accepts a 2D image (or a 3D image one slice thick) as a one-slice volume,
    which single-slice L3/C3 exports need; otherwise such input is refused. ``modality`` ("CT"/"MR")
    also checks the voxel values (:func:`check_intensities`), for images that will be measured.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file or folder not found", path=path)
    image = _read_dicom_folder(path, series_uid) if path.is_dir() else _read_file(path)
    image = _validated(image, path, allow_single_slice)
    if modality is not None:
        check_intensities(image, modality, path)
    return image


def check_intensities(image: sitk.Image, modality: str, path: str | Path | None = None) -> None:
    """Refuse voxel values that would silently give a wrong measurement: NaN/inf (dropped from every HU
    window, so an all-NaN CT measured 0 cm²), and for CT values that are not Hounsfield units."""
    array = sitk.GetArrayViewFromImage(image)
    if np.issubdtype(array.dtype, np.floating):
        bad = ~np.isfinite(array)
        if bad.any():
            first = tuple(int(v) for v in reversed(np.argwhere(bad)[0]))
            raise InputError(f"{int(bad.sum())} of {array.size} voxels are NaN or infinite (first at index {first}); "
                             f"a {modality} image must hold finite values", path=path, field="voxel values")
    if modality.upper() != "CT" or array.size == 0:
        return
    low, high = float(array.min()), float(array.max())
    if low > CT_AIR_OR_FAT_HU:
        raise InputError(f"CT values range {low:g}..{high:g} with nothing below {CT_AIR_OR_FAT_HU:g} (no air or fat), "
                         "so they are not Hounsfield units: a display-windowed export or stored values without "
                         "their rescale slope/intercept? Export the CT in HU", path=path, field="voxel values")
    if high > CT_MAX_HU:
        raise InputError(f"CT maximum {high:g} is far above any Hounsfield unit (> {CT_MAX_HU:g}); export the CT "
                         "in HU", path=path, field="voxel values")


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
    data_bytes = _claimed_bytes(reader, path)
    if image_suffix(path) in (".nrrd", ".nhdr", ".mha", ".mhd"):
        _check_text_header(path)
    if image_suffix(path) == ".nii.gz":
        image = read_nifti_gz_once(reader, path, data_bytes)  # one decompression, checks included
        if image is not None:
            return image
    if image_suffix(path) in (".nii", ".nii.gz"):
        check_nifti_header(path)
        # the bytes the file stores: a scaled int16 CT is read as float32, twice the bytes it holds
        data_bytes = nifti_stored_bytes(path) or data_bytes
        check_nifti_complete(path, data_bytes)  # before reading: a tiny file may claim gigabytes
    elif image_suffix(path) in (".nrrd", ".mha") and data_bytes > MAX_COMPRESSION_RATIO * path.stat().st_size:
        raise InputError(f"header claims {data_bytes / 1e6:.0f} MB of voxels but the file holds only "
                         f"{path.stat().st_size} bytes (corrupt header or truncated file)", path=path)
    try:
        image = reader.Execute()
    except (RuntimeError, MemoryError) as exc:
        raise InputError(f"image data could not be read (truncated or corrupt file): {_first_line(exc)}", path=path) from None
    if image_suffix(path) in (".nii", ".nii.gz") and image.GetPixelID() in (sitk.sitkFloat32, sitk.sitkFloat64):
        image = restore_non_finite(path, image)
    return image


def _check_text_header(path: Path) -> None:
    """NaN or infinite geometry in a NRRD/MetaImage header: ITK reads 'Offset = nan' as 0 without a word."""
    with open(path, "rb") as handle:
        head = handle.read(8192).split(b"\n\n", 1)[0].decode("latin-1")
    for line in head.splitlines():
        match = TEXT_HEADER_GEOMETRY.match(line)
        if match and re.search(r"\b(nan|inf|infinity)\b", match[2], re.IGNORECASE):
            raise InputError(f"header geometry holds NaN or infinity: {line.strip()[:80]!r}", path=path,
                             field=match[1].strip())
        if line.strip().lower().startswith("elementdatafile"):
            break


def _claimed_bytes(reader: sitk.ImageFileReader, path: Path) -> int:
    """The voxel bytes the header claims, refused when the grid itself is absurd."""
    size = reader.GetSize()
    bits = re.search(r"(\d+)-bit", sitk.GetPixelIDValueAsString(reader.GetPixelID()))
    per_component = int(bits[1]) // 8 if bits else 8
    total = int(np.prod([int(v) for v in size], dtype=object)) * reader.GetNumberOfComponents() * per_component
    if total > 1 << 36:  # 64 GiB: no CT or MR is that large
        raise InputError(f"header claims a grid of {tuple(size)} voxels ({total / 1e9:.0f} GB); corrupt header?",
                         path=path)
    return total


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
    _check_slice_positions(path, files)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    try:
        return reader.Execute()
    except RuntimeError as exc:
        raise InputError(f"DICOM series {series_uid} could not be read: {_first_line(exc)}", path=path) from None


def _dicom_geometry(file: str) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]] | None:
    """(ImagePositionPatient, ImageOrientationPatient, PixelSpacing) of one DICOM file, None if absent."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(file)
    try:
        reader.ReadImageInformation()
        position = np.array([float(v) for v in reader.GetMetaData("0020|0032").split("\\")])
        orientation = np.array([float(v) for v in reader.GetMetaData("0020|0037").split("\\")])
        spacing = tuple(round(float(v), 4) for v in reader.GetMetaData("0028|0030").split("\\"))
    except (RuntimeError, ValueError):
        return None
    if position.size != 3 or orientation.size != 6:
        return None
    return position, orientation, spacing


def _check_slice_positions(folder: Path, files: tuple[str, ...] | list[str]) -> None:
    """Refuse a series whose slices are not one evenly spaced stack: ITK would give it one uniform
    spacing anyway (duplicate positions read as 0.9 mm instead of 5 mm, a gap stretched over the rest)."""
    if len(files) < 2:
        return
    found = [(f, _dicom_geometry(f)) for f in files]
    missing = [Path(f).name for f, g in found if g is None]
    if missing:
        raise InputError(f"{len(missing)} file(s) lack ImagePositionPatient/ImageOrientationPatient/PixelSpacing "
                         f"(e.g. {missing[0]}); slice positions cannot be checked", path=folder)
    orientation, spacing = found[0][1][1], found[0][1][2]  # type: ignore[index]
    for f, (_, o, sp) in found:  # type: ignore[misc]
        if not np.allclose(o, orientation, atol=1e-4):
            raise InputError(f"{Path(f).name} has another ImageOrientationPatient than {Path(files[0]).name}; "
                             "one series must be one stack", path=folder, field="ImageOrientationPatient")
        if sp != spacing:
            raise InputError(f"PixelSpacing changes within the series ({spacing} in {Path(files[0]).name}, {sp} in "
                             f"{Path(f).name}); resample the series to one grid first", path=folder, field="PixelSpacing")
    normal = np.cross(orientation[:3], orientation[3:])
    positions = sorted((float(np.dot(g[0], normal)), Path(f).name) for f, g in found)  # type: ignore[index]
    steps = np.diff([p for p, _ in positions])
    for step, (a, b) in zip(steps, zip(positions, positions[1:], strict=False), strict=True):
        if step < 1e-3:
            raise InputError(f"duplicate slice position {a[0]:.3f} mm ({a[1]} and {b[1]}); remove the duplicate",
                             path=folder, field="ImagePositionPatient")
    if steps.max() - steps.min() > max(0.01, 0.01 * float(np.median(steps))):
        raise InputError(f"slice spacing varies from {steps.min():.3f} to {steps.max():.3f} mm along the stack "
                         f"(missing slices or a changing spacing near position "
                         f"{positions[int(np.argmax(np.abs(steps - np.median(steps))))][0]:.1f} mm); export the complete "
                         "series or resample it to even spacing first", path=folder, field="ImagePositionPatient")


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
    if max(spacing) > MAX_SPACING_MM or max(s * n for s, n in zip(spacing, size, strict=True)) > MAX_FIELD_OF_VIEW_MM:
        raise InputError(f"voxel spacing {tuple(round(s, 4) for s in spacing)} mm over {size} voxels gives a field of "
                         f"view beyond {MAX_FIELD_OF_VIEW_MM:g} mm (or a voxel over {MAX_SPACING_MM:g} mm); the "
                         "spacing is wrong", path=path, field="spacing")
    if not all(np.isfinite(v) for v in image.GetOrigin()):
        raise InputError("origin holds NaN or infinite values", path=path, field="origin")
    direction = np.array(image.GetDirection()).reshape(3, 3)
    if not np.all(np.isfinite(direction)) or not np.allclose(direction.T @ direction, np.eye(3), atol=1e-3):
        raise InputError("invalid direction matrix (not a rotation: its axes are not orthogonal unit vectors, "
                         "e.g. a sheared grid)", path=path, field="direction")
    return image


def geometry(image: sitk.Image) -> dict[str, Any]:
    """The grid of ``image`` as plain data (for JSON summaries and grid comparisons)."""
    return {
        "size": list(image.GetSize()),
        "spacing": [float(v) for v in image.GetSpacing()],
        "origin": [float(v) for v in image.GetOrigin()],
        "direction": [float(v) for v in image.GetDirection()],
    }


def describe(image: sitk.Image) -> dict[str, Any]:
    """Geometry plus pixel type and intensity range (of the finite voxels; strict JSON, never NaN)."""
    array = sitk.GetArrayViewFromImage(image)
    info = geometry(image)
    finite = np.isfinite(array) if np.issubdtype(array.dtype, np.floating) else None
    values = array[finite] if finite is not None else array
    info.update(
        pixel_type=image.GetPixelIDTypeAsString(),
        min=float(values.min()) if values.size else None,
        max=float(values.max()) if values.size else None,
        mean=float(values.mean(dtype=np.float64)) if values.size else None,
        non_finite_voxels=int(array.size - values.size),
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
        write_image_to(image, tmp, compress)
    return path


def write_image_to(image: sitk.Image, path: str | Path, compress: bool = True) -> None:
    """Write and check the written file: ITK's NIfTI writer ignores a full disk and leaves a truncated
    file behind with no error, so the file is checked complete before anyone installs it."""
    path = Path(path)
    try:
        sitk.WriteImage(image, str(path), compress)
    except RuntimeError as exc:
        raise OSError(errno.EIO, f"image could not be written ({_first_line(exc)})", str(path)) from None
    expected = image.GetNumberOfPixels() * image.GetNumberOfComponentsPerPixel() * image.GetSizeOfPixelComponent()
    if image_suffix(path) == ".nii.gz" and _written_intact(image, path, expected):
        return  # the trailer proves it: no inflation of the file just written
    if image_suffix(path) in (".nii", ".nii.gz"):
        try:
            check_nifti_complete(path, expected)
        except InputError:
            raise OSError(errno.ENOSPC, "image file was written incomplete (disk full?)", str(path)) from None


def _written_intact(image: sitk.Image, path: Path, expected: int) -> bool:
    """Whether a .nii.gz just written ends in the gzip trailer of exactly its header plus ``image``'s voxels
    (length and CRC-32): a file cut short by a full disk ends in deflate data instead. False: not proven (the
    full check decides)."""
    try:
        crc, length = gzip_trailer(path)
        with gzip.open(path, "rb") as handle:
            head = handle.read(544)
        offset = nifti_vox_offset(head)
        if offset < 348 or length != (offset + expected) & 0xFFFFFFFF:
            return False
        voxels = sitk.GetArrayViewFromImage(image)
        if voxels.nbytes != expected or not voxels.flags.c_contiguous:
            return False
        with gzip.open(path, "rb") as handle:
            stored_head = handle.read(offset)
        return zlib.crc32(voxels.reshape(-1).view(np.uint8), zlib.crc32(stored_head)) == crc
    except (EOFError, OSError, zlib.error, ValueError):
        return False


def labelmap_image(labels: np.ndarray | sitk.Image, reference: sitk.Image) -> sitk.Image:
    """A label map on exactly the grid of ``reference``, in the smallest unsigned integer type."""
    array = sitk.GetArrayViewFromImage(labels) if isinstance(labels, sitk.Image) else np.asarray(labels)
    integral = array.dtype.kind in "ub" or (array.dtype.kind == "i" and (not array.size or array.min() >= 0))
    if array.size and not integral and (array.min() < 0 or not np.all(np.equal(np.mod(array, 1), 0))):
        raise ValueError("label maps hold non-negative integers")
    max_label = int(array.max()) if array.size else 0
    if (isinstance(labels, sitk.Image) and array.dtype == labelmap_pixel_type(max_label) and labels.GetSize() ==
            reference.GetSize() and all(getattr(labels, f)() == getattr(reference, f)() for f in
                                        ("GetSpacing", "GetOrigin", "GetDirection"))):
        return labels  # already what is asked for: no 40-Mvoxel copy for a one-slice label map
    return image_from_array(array.astype(labelmap_pixel_type(max_label), copy=False), reference)  # it copies


def write_labelmap(labels: np.ndarray | sitk.Image, reference: sitk.Image, path: str | Path) -> Path:
    """Write a label map on exactly the grid of ``reference`` (integer type, compressed)."""
    return write_image(labelmap_image(labels, reference), path)
