"""Phantom DICOM studies for testing and benchmarking batch: per study a localizer, a thin and a thick
axial series and a secondary capture, all sampled from one analytic abdomen (so every series agrees in
patient space), optionally without the target level in view or with a tilted (oblique) thin series.

The abdomen is deliberately simple: an elliptic body with a subcutaneous fat ring, an abdominal-wall and
a paraspinal muscle ring, and a spine whose L3 body (27 mm tall, centred at z = 0) is denser than its
neighbours. It exercises series handling, geometry and bookkeeping, not segmentation accuracy."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
L3_HALF_HEIGHT_MM = 13.5
EXPLICIT_LE = "1.2.840.10008.1.2.1"
# Compressed syntaxes pydicom can write here (RLE natively, JPEG 2000 / JPEG-LS through pylibjpeg-openjpeg
# and pyjpegls); any other syntax is only relabelled, which is how an unsupported study is made.
ENCODABLE = ("1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.80")


@dataclass
class StudySpec:
    """One phantom study; ``expected`` tells the tests what selection must decide."""

    patient_id: str
    has_level: bool = True
    oblique_deg: float = 0.0  # tilt of the thin series about the L-R axis
    age: int | None = 60
    sex: str | None = "M"
    height_m: float | None = 1.75
    weight_kg: float | None = 80.0
    thin_mm: float = 2.5
    thick_mm: float = 5.0
    length_mm: float = 150.0
    matrix: int = 48
    pixel_mm: float = 7.0
    transfer_syntax: str = EXPLICIT_LE
    seed: int = 0
    series_uids: dict[str, str] = field(default_factory=dict)

    def expected(self) -> dict[str, Any]:
        return {"chosen": self.series_uids.get("thin"), "has_level": self.has_level,
                "rejected": {self.series_uids["localizer"]: "localizer",
                             self.series_uids["sc"]: "secondary capture"},
                "candidate": {self.series_uids["thick"]: "another series preferred"}}


def hu_at(points: np.ndarray, seed: int = 0) -> np.ndarray:
    """Hounsfield units of the analytic abdomen at LPS points (..., 3) in mm."""
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    rng = np.random.default_rng(seed)
    scale = 1.0 + 0.05 * rng.standard_normal()
    a, b = 150.0 * scale, 110.0 * scale
    r = np.sqrt((x / a) ** 2 + (y / b) ** 2)
    hu = np.full(x.shape, -1000.0)
    hu[r < 1.0] = -100.0  # subcutaneous fat
    hu[r < 0.9] = 50.0  # abdominal wall muscle
    hu[r < 0.8] = 30.0  # viscera
    spine = np.sqrt(x**2 + (y - 60.0) ** 2)
    hu[(spine < 45.0) & (np.abs(x) > 15.0) & (r < 0.8)] = 55.0  # paraspinal / psoas muscle
    hu[spine < 18.0] = 100.0  # vertebrae
    hu[(spine < 18.0) & (np.abs(z) <= L3_HALF_HEIGHT_MM)] = 500.0  # the dense L3 body
    return hu


def _uid(prefix: str, *parts: Any) -> str:
    import hashlib

    digits = str(int(hashlib.sha256(repr(parts).encode()).hexdigest()[:24], 16))
    return f"{prefix}.{digits}"[:64]


def _base_dataset(spec: StudySpec, study_uid: str, series_uid: str, sop_class: str, sop_uid: str) -> Any:
    from pydicom.dataset import Dataset, FileMetaDataset

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = EXPLICIT_LE
    meta.ImplementationClassUID = "1.2.826.0.1.3680043.10.1499.1"
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.FrameOfReferenceUID = _uid("1.2.826.0.1.3680043.10.1499.9", spec.patient_id, spec.seed)
    ds.PatientID, ds.PatientName = spec.patient_id, f"Phantom^{spec.patient_id}"
    ds.PatientBirthDate, ds.ReferringPhysicianName, ds.AccessionNumber, ds.StudyID = "", "", "", "1"
    ds.StudyDate, ds.StudyTime, ds.Manufacturer = "20260101", "120000", "MuscleQuant phantom"
    ds.PositionReferenceIndicator = ""
    if spec.age is not None:
        ds.PatientAge = f"{spec.age:03d}Y"
    if spec.sex is not None:
        ds.PatientSex = spec.sex
    if spec.height_m is not None:
        ds.PatientSize = f"{spec.height_m:.2f}"
    if spec.weight_kg is not None:
        ds.PatientWeight = f"{spec.weight_kg:.1f}"
    ds.Modality = "CT"
    return ds


def _pixels(ds: Any, values: np.ndarray) -> None:
    stored = np.clip(np.round(values + 1024.0), 0, 4095).astype(np.uint16)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = stored.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
    ds.PixelData = stored.tobytes()


def _plane(spec: StudySpec, origin: np.ndarray, row: np.ndarray, col: np.ndarray, rows: int, cols: int,
           pixel: float) -> np.ndarray:
    i = np.arange(cols)[None, :, None] * pixel
    j = np.arange(rows)[:, None, None] * pixel
    points = origin[None, None, :] + i * row[None, None, :] + j * col[None, None, :]
    return hu_at(points, spec.seed)


def _write_axial(spec: StudySpec, folder: Path, study_uid: str, name: str, number: int, thickness: float,
                 tilt_deg: float, z0: float, kernel: str) -> str:
    series_uid = _uid("1.2.826.0.1.3680043.10.1499.2", spec.patient_id, spec.seed, name)
    t = math.radians(tilt_deg)
    row = np.array([1.0, 0.0, 0.0])
    col = np.array([0.0, math.cos(t), math.sin(t)])
    normal = np.cross(row, col)
    half = spec.matrix * spec.pixel_mm / 2
    count = int(round(spec.length_mm / thickness))
    centre_z = z0 + spec.length_mm / 2
    for k in range(count):
        along = (k - (count - 1) / 2) * thickness
        centre = np.array([0.0, 0.0, centre_z]) + along * normal
        origin = centre - half * row - half * col
        sop_uid = _uid("1.2.826.0.1.3680043.10.1499.3", series_uid, k)
        ds = _base_dataset(spec, study_uid, series_uid, CT_IMAGE, sop_uid)
        ds.SeriesNumber, ds.InstanceNumber, ds.SeriesDescription = number, k + 1, name
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ConvolutionKernel, ds.SliceThickness = kernel, f"{thickness:g}"
        ds.ImagePositionPatient = [f"{v:.4f}" for v in origin]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in (*row, *col)]
        ds.PixelSpacing = [f"{spec.pixel_mm:g}", f"{spec.pixel_mm:g}"]
        _pixels(ds, _plane(spec, origin, row, col, spec.matrix, spec.matrix, spec.pixel_mm))
        _save(ds, folder / name / f"{k:04d}.dcm", spec.transfer_syntax)
    return series_uid


def _save(ds: Any, path: Path, transfer_syntax: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if transfer_syntax != EXPLICIT_LE:
        if transfer_syntax in ENCODABLE:
            ds.compress(transfer_syntax)
        else:  # a syntax this writer cannot encode: relabel it (what an unsupported study looks like)
            from pydicom.encaps import encapsulate

            ds.PixelData = encapsulate([bytes(ds.PixelData)])
            ds["PixelData"].VR = "OB"
            ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.save_as(path, enforce_file_format=True)


def write_study(spec: StudySpec, root: Path) -> StudySpec:
    """Write the study's four series under ``root/<patient_id>/``; fills ``spec.series_uids``."""
    folder = root / spec.patient_id
    study_uid = _uid("1.2.826.0.1.3680043.10.1499.1", spec.patient_id, spec.seed)
    z0 = -spec.length_mm / 2 + 10.0 * (spec.seed % 3 - 1) if spec.has_level else L3_HALF_HEIGHT_MM + 25.0
    uids = {"thin": _write_axial(spec, folder, study_uid, "thin", 2, spec.thin_mm, spec.oblique_deg, z0, "B30f"),
            "thick": _write_axial(spec, folder, study_uid, "thick", 3, spec.thick_mm, 0.0, z0, "B30f")}
    # Localizer: one coronal image covering the whole trunk.
    series_uid = _uid("1.2.826.0.1.3680043.10.1499.2", spec.patient_id, spec.seed, "localizer")
    ds = _base_dataset(spec, study_uid, series_uid, CT_IMAGE, _uid("1.2.826.0.1.3680043.10.1499.3", series_uid))
    ds.SeriesNumber, ds.InstanceNumber, ds.SeriesDescription = 1, 1, "localizer"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    row, col = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, -1.0])
    origin = np.array([-168.0, 60.0, 200.0])
    ds.ImagePositionPatient = [f"{v:.4f}" for v in origin]
    ds.ImageOrientationPatient = [f"{v:.6f}" for v in (*row, *col)]
    ds.PixelSpacing, ds.SliceThickness = ["8", "8"], "1"
    _pixels(ds, _plane(spec, origin, row, col, 50, 42, 8.0))
    _save(ds, folder / "localizer" / "0000.dcm", EXPLICIT_LE)
    uids["localizer"] = series_uid
    # Secondary capture: a screenshot-like derived image.
    series_uid = _uid("1.2.826.0.1.3680043.10.1499.2", spec.patient_id, spec.seed, "sc")
    ds = _base_dataset(spec, study_uid, series_uid, SECONDARY_CAPTURE,
                       _uid("1.2.826.0.1.3680043.10.1499.3", series_uid))
    ds.SeriesNumber, ds.InstanceNumber, ds.SeriesDescription = 99, 1, "screen capture"
    ds.ImageType, ds.ConversionType = ["DERIVED", "SECONDARY"], "WSD"
    _pixels(ds, np.zeros((32, 32)))
    _save(ds, folder / "sc" / "0000.dcm", EXPLICIT_LE)
    uids["sc"] = series_uid
    spec.series_uids = uids
    return spec


def write_cohort(root: Path, n: int, seed: int = 0, *, missing_every: int = 7, oblique_every: int = 5,
                 oblique_deg: float = 12.0) -> list[StudySpec]:
    """``n`` studies: every ``missing_every``-th without the target level, every ``oblique_every``-th with
    a tilted thin series, and patient data partly missing (every 4th without height)."""
    specs = []
    for i in range(n):
        spec = StudySpec(patient_id=f"P{i:04d}", has_level=(i % missing_every != missing_every - 1),
                         oblique_deg=oblique_deg if i % oblique_every == oblique_every - 1 else 0.0,
                         age=50 + (i * 7) % 30, sex="MF"[i % 2],
                         height_m=None if i % 4 == 3 else round(1.55 + (i * 13 % 40) / 100, 2),
                         weight_kg=round(55.0 + (i * 17) % 45, 1), seed=seed * 100003 + i)
        specs.append(write_study(spec, root))
    return specs
