"""A chosen series to a volume, keeping which file (and frame) every stored slice came from, so DICOM
outputs reference the exact source instances. Pixels are decoded by pydicom with its pylibjpeg/pyjpegls
plugins (JPEG, JPEG-LS, JPEG 2000, RLE); enhanced multi-frame CT/MR is read frame by frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..imageio import read_image
from .discover import SeriesInfo
from .select import SUPPORTED_TRANSFER_SYNTAXES

SPACING_TOLERANCE = 0.05  # relative deviation of one slice gap from the median that is still regular


class SeriesError(InputError):
    """A series cannot be read; the message is the reason that goes into the tables."""


@dataclass
class SourceSlice:
    file: str
    frame: int  # 0-based frame in the file (0 for single-frame files)
    sop_instance_uid: str


@dataclass
class SeriesVolume:
    image: sitk.Image
    slices: list[SourceSlice] = field(default_factory=list)  # stored slice k -> source
    headers: list[Any] = field(default_factory=list)  # pydicom datasets without pixel data, one per file


def read_series(info: SeriesInfo) -> SeriesVolume:
    """The series as a volume whose slice k is ``slices[k]``; SeriesError naming the file and reason."""
    if info.kind == "file":
        return SeriesVolume(read_image(info.files[0], allow_single_slice=True))
    import pydicom

    frames: list[tuple[np.ndarray, np.ndarray, SourceSlice]] = []  # (position, pixels, source)
    orientation = None
    spacing = None
    headers = []
    for name in info.files:
        try:
            ds = pydicom.dcmread(name)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is a reason
            raise SeriesError(f"corrupt file ({type(exc).__name__}: {_short(exc)})", path=name) from None
        syntax = str(ds.file_meta.get("TransferSyntaxUID", "1.2.840.10008.1.2"))
        if syntax not in SUPPORTED_TRANSFER_SYNTAXES:
            raise SeriesError(f"unsupported transfer syntax {syntax}", path=name)
        if "PixelData" not in ds and "FloatPixelData" not in ds:
            raise SeriesError("empty series: the file holds no pixel data", path=name)
        try:
            pixels = ds.pixel_array
        except Exception as exc:  # noqa: BLE001 - truncated data, missing decoder: a reason per file
            raise SeriesError(f"corrupt or undecodable pixel data ({_short(exc)})", path=name) from None
        per_frame = _frame_geometry(ds)
        pixels = pixels[None] if pixels.ndim == 2 else pixels
        if len(per_frame) != pixels.shape[0]:
            raise SeriesError(f"{pixels.shape[0]} frames but {len(per_frame)} frame positions", path=name)
        for index, (position, iop, pixel_spacing, slope, intercept) in enumerate(per_frame):
            if orientation is None:
                orientation, spacing = iop, pixel_spacing
            elif not (np.allclose(iop, orientation, atol=1e-4) and np.allclose(pixel_spacing, spacing, atol=1e-4)):
                raise SeriesError("slices differ in orientation or pixel spacing", path=name)
            values = pixels[index].astype(np.float32) * slope + intercept
            frames.append((position, values, SourceSlice(name, index, str(ds.SOPInstanceUID))))
        del ds.PixelData
        headers.append(ds)
    if not frames:
        raise SeriesError("empty series: no image frames", path=info.key)
    row, col = orientation[:3], orientation[3:]
    normal = np.cross(row, col)
    frames.sort(key=lambda f: float(np.dot(f[0], normal)))
    along = np.array([float(np.dot(f[0], normal)) for f in frames])
    gaps = np.diff(along)
    if len(frames) > 1:
        if np.any(gaps < 1e-3):
            raise SeriesError("two slices share one position (duplicate or mixed acquisitions)", path=info.key)
        median = float(np.median(gaps))
        if np.any(np.abs(gaps - median) > SPACING_TOLERANCE * median):
            raise SeriesError(f"irregular slice spacing ({gaps.min():.2f}..{gaps.max():.2f} mm)", path=info.key)
        dz = median
    else:
        dz = float(info.thickness_mm or 1.0)
    shapes = {f[1].shape for f in frames}
    if len(shapes) != 1:
        raise SeriesError(f"slices differ in size {sorted(shapes)}", path=info.key)
    image = sitk.GetImageFromArray(np.stack([f[1] for f in frames]))
    image.SetSpacing((float(spacing[1]), float(spacing[0]), dz))  # PixelSpacing is (row gap, column gap)
    image.SetOrigin(tuple(float(v) for v in frames[0][0]))
    image.SetDirection(tuple(float(v) for v in np.column_stack([row, col, normal]).ravel()))
    return SeriesVolume(image, [f[2] for f in frames], headers)


def _frame_geometry(ds: Any) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, float, float]]:
    """(position, orientation, pixel spacing, slope, intercept) per frame, classic or enhanced."""
    if "PerFrameFunctionalGroupsSequence" in ds:
        shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None
        out = []
        for item in ds.PerFrameFunctionalGroupsSequence:
            def group(name: str, item=item):
                if name in item:
                    return item[name].value[0]
                if shared is not None and name in shared:
                    return shared[name].value[0]
                raise SeriesError(f"enhanced image lacks {name}", path=str(getattr(ds, "filename", "")))
            transform = None
            try:
                transform = group("PixelValueTransformationSequence")
            except SeriesError:
                pass
            out.append((np.array(group("PlanePositionSequence").ImagePositionPatient, dtype=float),
                        np.array(group("PlaneOrientationSequence").ImageOrientationPatient, dtype=float),
                        np.array(group("PixelMeasuresSequence").PixelSpacing, dtype=float),
                        float(getattr(transform, "RescaleSlope", 1.0) or 1.0),
                        float(getattr(transform, "RescaleIntercept", 0.0) or 0.0)))
        return out
    for tag in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
        if tag not in ds:
            raise SeriesError(f"missing {tag}", path=str(getattr(ds, "filename", "")))
    return [(np.array(ds.ImagePositionPatient, dtype=float), np.array(ds.ImageOrientationPatient, dtype=float),
             np.array(ds.PixelSpacing, dtype=float), float(getattr(ds, "RescaleSlope", 1.0) or 1.0),
             float(getattr(ds, "RescaleIntercept", 0.0) or 0.0))]


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160]


def relative(path: str | Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)
