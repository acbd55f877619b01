"""What is in a batch input: DICOM files at any depth (any mix of patients, studies and series), image
files (NIfTI/NRRD/MHA), or a CSV manifest naming them. Only headers are read here; pixels are read by the
worker that measures the case."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError
from ..imageio import image_suffix

MANIFEST_REQUIRED = ("patient_id", "path")
MANIFEST_OPTIONAL = ("series_uid", "slice", "age", "sex", "height_m", "weight_kg")
_HEADER_TAGS = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "Modality", "SOPClassUID", "ImageType",
                "SeriesDescription", "ConvolutionKernel", "SliceThickness", "ImageOrientationPatient",
                "NumberOfFrames", "PatientAge", "PatientSex", "PatientSize", "PatientWeight", "SeriesNumber")


@dataclass
class SeriesInfo:
    """One series (DICOM) or one image file, with the header facts selection needs."""

    key: str  # SeriesInstanceUID, or the image file's path
    kind: str  # "dicom" or "file"
    patient_id: str
    study_uid: str
    files: list[str] = field(default_factory=list)
    modality: str = ""
    sop_class: str = ""
    image_type: tuple[str, ...] = ()
    description: str = ""
    kernel: str = ""
    thickness_mm: float | None = None
    orientation: tuple[float, ...] | None = None
    frames: int = 0
    transfer_syntaxes: tuple[str, ...] = ()
    series_number: int | None = None
    patient: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """The series.csv columns that describe it."""
        return {"patient_id": self.patient_id, "study_uid": self.study_uid, "series_uid": self.key,
                "series_number": self.series_number, "description": self.description, "modality": self.modality,
                "image_type": "\\".join(self.image_type), "kernel": self.kernel,
                "slice_thickness_mm": self.thickness_mm, "files": len(self.files), "frames": self.frames}


@dataclass
class Case:
    """One measurement: a study (or an image file, or a manifest row) and its candidate series."""

    case_id: str
    patient_id: str
    study_uid: str
    series: list[SeriesInfo]
    slice_index: int | None = None
    patient: dict[str, Any] = field(default_factory=dict)  # age/sex/height_m/weight_kg -> raw value
    patient_source: dict[str, str] = field(default_factory=dict)  # field -> "manifest" | "dicom"
    series_uid: str | None = None  # the manifest's choice
    problems: list[tuple[str, str]] = field(default_factory=list)  # (file, reason) found while discovering

    def input_sha256(self) -> str:
        """SHA-256 over the bytes of every file the case may read, plus the manifest's overrides."""
        digest = hashlib.sha256()
        for info in sorted(self.series, key=lambda s: s.key):
            digest.update(info.key.encode())
            for name in sorted(info.files):
                digest.update(Path(name).name.encode())
                with open(name, "rb") as handle:
                    for chunk in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(chunk)
        digest.update(repr((self.slice_index, sorted(self.patient.items()), self.series_uid)).encode())
        return digest.hexdigest()


def safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "case"


def _age_years(text: Any) -> float | None:
    """DICOM AS ('065Y', '018M', '030W', '200D') in years; None when absent or malformed."""
    match = re.fullmatch(r"(\d{3})([DWMY])", str(text or "").strip())
    if not match:
        return None
    return round(int(match.group(1)) / {"D": 365.25, "W": 52.1775, "M": 12.0, "Y": 1.0}[match.group(2)], 3)


def _header_patient(ds: Any) -> dict[str, Any]:
    """Age, sex, height and weight where the header holds them (PatientSize is in metres by the standard)."""
    found: dict[str, Any] = {}
    if (age := _age_years(getattr(ds, "PatientAge", None))) is not None:
        found["age"] = age
    if str(getattr(ds, "PatientSex", "")).upper() in ("M", "F"):
        found["sex"] = str(ds.PatientSex).upper()
    for tag, name in (("PatientSize", "height_m"), ("PatientWeight", "weight_kg")):
        value = getattr(ds, tag, None)
        if value not in (None, "") and float(value) > 0:
            found[name] = float(value)
    return found


def _series_from_header(ds: Any, path: Path) -> SeriesInfo:
    orientation = getattr(ds, "ImageOrientationPatient", None)
    if orientation is None and "SharedFunctionalGroupsSequence" in ds:  # enhanced multi-frame
        shared = ds.SharedFunctionalGroupsSequence[0]
        if "PlaneOrientationSequence" in shared:
            orientation = shared.PlaneOrientationSequence[0].ImageOrientationPatient
    thickness = getattr(ds, "SliceThickness", None)
    kernel = getattr(ds, "ConvolutionKernel", "")
    return SeriesInfo(
        key=str(getattr(ds, "SeriesInstanceUID", "") or f"file:{path}"), kind="dicom",
        patient_id=str(getattr(ds, "PatientID", "") or "unknown"),
        study_uid=str(getattr(ds, "StudyInstanceUID", "") or "unknown"),
        modality=str(getattr(ds, "Modality", "")), sop_class=str(getattr(ds, "SOPClassUID", "")),
        image_type=tuple(str(v).upper() for v in (getattr(ds, "ImageType", None) or ())),
        description=str(getattr(ds, "SeriesDescription", "")),
        kernel="\\".join(kernel) if isinstance(kernel, list | tuple) or type(kernel).__name__ == "MultiValue"
        else str(kernel),
        thickness_mm=float(thickness) if thickness not in (None, "") else None,
        orientation=tuple(float(v) for v in orientation) if orientation is not None else None,
        series_number=int(ds.SeriesNumber) if getattr(ds, "SeriesNumber", None) not in (None, "") else None,
        patient=_header_patient(ds))


def scan_folder(root: Path) -> tuple[list[SeriesInfo], list[tuple[str, str]]]:
    """Every series and image file under ``root`` (any depth), and files that could not be read."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    series: dict[str, SeriesInfo] = {}
    images: list[SeriesInfo] = []
    problems: list[tuple[str, str]] = []
    syntaxes: dict[str, set[str]] = defaultdict(set)
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        if image_suffix(path):
            images.append(SeriesInfo(key=str(path), kind="file", patient_id=_stem(path), study_uid=str(path),
                                     files=[str(path)], description=path.name))
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=None)
        except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
            if path.suffix.lower() in (".dcm", ".dicom", ".ima") or _has_dicm_preamble(path):
                problems.append((str(path), f"unreadable DICOM file ({type(exc).__name__}: {str(exc)[:120]})"))
            continue
        if "SeriesInstanceUID" not in ds:
            problems.append((str(path), "DICOM file without SeriesInstanceUID"))
            continue
        uid = str(ds.SeriesInstanceUID)
        if uid not in series:
            series[uid] = _series_from_header(ds, path)
        info = series[uid]
        info.files.append(str(path))
        info.frames += int(getattr(ds, "NumberOfFrames", 1) or 1)
        syntaxes[uid].add(str(ds.file_meta.get("TransferSyntaxUID", "")) if ds.file_meta else "")
    for uid, info in series.items():
        info.transfer_syntaxes = tuple(sorted(syntaxes[uid]))
    return [*series.values(), *images], problems


def _stem(path: Path) -> str:
    suffix = image_suffix(path)
    return path.name[: -len(suffix)] if suffix else path.name


def _has_dicm_preamble(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(132)[128:132] == b"DICM"
    except OSError:
        return False


def cases_from_folder(root: Path) -> tuple[list[Case], list[tuple[str, str]]]:
    """One case per DICOM study (patient + study UID) and per image file."""
    found, problems = scan_folder(root)
    studies: dict[tuple[str, str], list[SeriesInfo]] = defaultdict(list)
    for info in found:
        studies[(info.patient_id, info.study_uid)].append(info)
    cases = []
    used: set[str] = set()
    for (patient_id, study_uid), members in sorted(studies.items()):
        if members[0].kind == "file":
            case_id = safe_id(patient_id)
        else:
            case_id = f"{safe_id(patient_id)}_{hashlib.sha256(study_uid.encode()).hexdigest()[:8]}"
        case_id = _unique(case_id, used)
        patient: dict[str, Any] = {}
        for info in members:
            for key, value in info.patient.items():
                patient.setdefault(key, value)
        cases.append(Case(case_id, patient_id, study_uid, sorted(members, key=lambda s: s.key), patient=patient,
                          patient_source={k: "dicom" for k in patient}))
    return cases, problems


def _unique(case_id: str, used: set[str]) -> str:
    candidate, n = case_id, 2
    while candidate in used:
        candidate, n = f"{case_id}_{n}", n + 1
    used.add(candidate)
    return candidate


def cases_from_manifest(manifest: Path) -> tuple[list[Case], list[tuple[str, str]]]:
    """One case per manifest row; a relative path is relative to the manifest's folder."""
    try:
        table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable CSV manifest ({exc})", path=manifest) from None
    missing = [c for c in MANIFEST_REQUIRED if c not in table.columns]
    if missing:
        raise InputError(f"manifest lacks column(s) {', '.join(missing)} (required: patient_id,path; optional: "
                         f"{','.join(MANIFEST_OPTIONAL)})", path=manifest)
    cases: list[Case] = []
    problems: list[tuple[str, str]] = []
    used: set[str] = set()
    for number, record in enumerate(table.to_dict("records"), start=2):
        patient_id = record["patient_id"].strip()
        if not patient_id or not record["path"].strip():
            raise InputError(f"line {number}: patient_id and path are required", path=manifest)
        path = Path(record["path"].strip())
        path = path if path.is_absolute() else manifest.parent / path
        slice_text = record.get("slice", "").strip()
        try:
            slice_index = int(slice_text) if slice_text else None
        except ValueError:
            raise InputError(f"line {number}: slice {slice_text!r} is not an integer", path=manifest,
                             field="slice") from None
        series_uid = record.get("series_uid", "").strip() or None
        if not path.exists():
            members, found_problems = [], [(str(path), "file or folder not found")]
        elif path.is_dir():
            members, found_problems = scan_folder(path)
        else:
            members, found_problems = scan_folder_file(path)
        if series_uid is not None:
            members = [m for m in members if m.key == series_uid] or members
        patient = {k: record[k].strip() for k in ("age", "sex", "height_m", "weight_kg") if record.get(k, "").strip()}
        source = {k: "manifest" for k in patient}
        for info in members:
            for key, value in info.patient.items():
                if key not in patient:
                    patient[key], source[key] = value, "dicom"
        case = Case(_unique(safe_id(patient_id), used), patient_id, members[0].study_uid if members else "",
                    members, slice_index=slice_index, patient=patient, patient_source=source, series_uid=series_uid,
                    problems=found_problems)
        for info in members:
            info.patient_id = patient_id
        cases.append(case)
        problems += found_problems
    return cases, problems


def scan_folder_file(path: Path) -> tuple[list[SeriesInfo], list[tuple[str, str]]]:
    """A single file named by a manifest: an image file or one DICOM file."""
    if image_suffix(path):
        return [SeriesInfo(key=str(path), kind="file", patient_id=_stem(path), study_uid=str(path),
                           files=[str(path)], description=path.name)], []
    found, problems = [], []
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        info = _series_from_header(ds, path)
        info.files, info.frames = [str(path)], int(getattr(ds, "NumberOfFrames", 1) or 1)
        info.transfer_syntaxes = (str(ds.file_meta.get("TransferSyntaxUID", "")),)
        found.append(info)
    except Exception as exc:  # noqa: BLE001 - any unreadable file becomes a reason, not a stop
        problems.append((str(path), f"unreadable file ({type(exc).__name__})"))
    return found, problems


def discover(source: Path) -> tuple[list[Case], list[tuple[str, str]]]:
    """Cases of a folder tree or a CSV manifest."""
    if not source.exists():
        raise InputError("input not found", path=source)
    if source.is_file():
        if source.suffix.lower() != ".csv":
            raise InputError("a batch input is a folder (DICOM/NIfTI/NRRD/MHA at any depth) or a CSV manifest",
                             path=source)
        return cases_from_manifest(source)
    return cases_from_folder(source)
