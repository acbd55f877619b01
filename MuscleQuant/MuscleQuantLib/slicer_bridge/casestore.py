"""The case store: approved segmentations, their measurements and provenance, versioned on disk.

Layout: ``<store>/<case_id>/v001/{segmentation.seg.nrrd, measurements.json, measurements.csv,
provenance.json}``. An approval is written completely into a hidden staging folder and then renamed
to the next free ``vNNN`` in one step; a rename onto an existing (non-empty) version fails, so a second
approval always becomes a new version and nothing is ever overwritten. Approved files are made
read-only. This module does not touch MRML: the caller passes the ``.seg.nrrd`` writer and arrays.
"""

from __future__ import annotations

import csv
import getpass
import json
import os
import platform
import re
import shutil
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..fileio import write_atomic, write_json

SEGMENTATION_FILE = "segmentation.seg.nrrd"
MEASUREMENTS_JSON = "measurements.json"
MEASUREMENTS_CSV = "measurements.csv"
PROVENANCE_FILE = "provenance.json"
VERSION_PATTERN = re.compile(r"^v(\d{3,})$")
STAGING_PREFIX = ".approval-"
STALE_STAGING_SECONDS = 3600.0  # an approval stages in seconds; an hour-old folder is a killed one's
REQUIRED_PROVENANCE = ("case_id", "version", "approved_by", "approved_at", "model", "dice_ai_vs_approved",
                       "input", "software", "files")


def safe_case_id(text: str) -> str:
    """A folder-safe case id (letters, digits, ``._-``), never empty, never a path."""
    if ".." in re.split(r"[/\\]", text.strip()) or text.strip().startswith((".", "/", "\\")):
        # '../../x' would silently become case 'x' and join another patient's approvals
        raise InputError(f"{text!r} is a path, not a case id", field="case id")
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip()).strip("._")
    if not cleaned:
        raise InputError("case id is empty", field="case id")
    return cleaned


def dice_per_label(ai: np.ndarray, approved: np.ndarray, names: dict[int, str]) -> dict[str, float | None]:
    """Dice between AI output and approved result per label (None where both are empty)."""
    result: dict[str, float | None] = {}
    for value, name in names.items():
        a, b = ai == value, approved == value
        total = int(a.sum()) + int(b.sum())
        result[name] = None if total == 0 else round(2.0 * int(np.logical_and(a, b).sum()) / total, 6)
    both_a, both_b = ai > 0, approved > 0
    total = int(both_a.sum()) + int(both_b.sum())
    result["all_muscle"] = None if total == 0 else round(2.0 * int((both_a & both_b).sum()) / total, 6)
    return result


def software_versions() -> dict[str, str]:
    """Versions that made the result (engine, Python, key libraries, Slicer when present)."""
    from importlib import metadata

    from .. import __version__

    versions = {"musclequant": __version__, "python": platform.python_version(), "platform": platform.platform()}
    for package in ("numpy", "SimpleITK", "torch", "monai"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    try:
        import slicer

        app = getattr(slicer, "app", None)
        if app is not None and hasattr(app, "applicationVersion"):
            versions["slicer"] = str(app.applicationVersion)
        else:
            versions["slicer_core"] = metadata.version("slicer-core")
    except (ImportError, metadata.PackageNotFoundError):
        pass
    return versions


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]+", "", platform.node())[:32] or "host"


def _pid_alive(pid: int) -> bool:
    """POSIX only: signal 0 probes without touching the process (on Windows ``os.kill`` would end it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists but belongs to someone else
    return True


def _sweep_stale_staging(case_dir: Path, now: float | None = None) -> list[Path]:
    """Remove staging folders that approvals killed mid-write left behind (never a version folder).

    A folder is stale when its process, on this host, is gone (POSIX), or when it is older than
    ``STALE_STAGING_SECONDS`` (any platform, any host: e.g. a store on a shared drive)."""
    removed: list[Path] = []
    now = datetime.now(UTC).timestamp() if now is None else now
    for folder in case_dir.glob(f"{STAGING_PREFIX}*"):
        if not folder.is_dir() or VERSION_PATTERN.match(folder.name):
            continue
        parts = folder.name[len(STAGING_PREFIX):].split("-")
        try:
            age = now - folder.stat().st_mtime
        except OSError:
            continue
        dead = (os.name == "posix" and len(parts) >= 3 and parts[0] == _host() and parts[1].isdigit()
                and int(parts[1]) != os.getpid() and not _pid_alive(int(parts[1])))
        if dead or age > STALE_STAGING_SECONDS:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@dataclass
class Approval:
    """Everything an approval stores; ``write_segmentation(path)`` writes the ``.seg.nrrd``."""

    case_id: str
    approver: str
    write_segmentation: Callable[[Path], Any]
    approved_labels: np.ndarray
    ai_labels: np.ndarray | None
    label_names: dict[int, str]
    engine_summary: dict[str, Any] | None
    input_identity: dict[str, Any]
    measurements: dict[str, Any] | None = None  # {"record": {...}, "row": {...}} from quantify
    note: str = ""


class CaseStore:
    """Versioned approvals under ``root``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def case_dir(self, case_id: str) -> Path:
        return self.root / safe_case_id(case_id)

    def versions(self, case_id: str) -> list[Path]:
        """Approved versions of a case, oldest first."""
        folder = self.case_dir(case_id)
        if not folder.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := VERSION_PATTERN.match(p.name))]
        return [p for _, p in sorted(found)]

    def cases(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name)) \
            if self.root.is_dir() else []

    def latest(self, case_id: str) -> Path | None:
        versions = self.versions(case_id)
        return versions[-1] if versions else None

    def read_provenance(self, version_dir: str | Path) -> dict[str, Any]:
        return json.loads((Path(version_dir) / PROVENANCE_FILE).read_text(encoding="utf-8"))

    def approve(self, approval: Approval) -> Path:
        """Write a new version; returns its folder. Never replaces an existing version."""
        case_id = safe_case_id(approval.case_id)
        if not approval.approver.strip():
            raise InputError("an approval needs the approver's name", field="approver")
        case_dir = self.case_dir(case_id)
        case_dir.mkdir(parents=True, exist_ok=True)
        _sweep_stale_staging(case_dir)
        staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{_host()}-{os.getpid()}-", dir=case_dir))
        try:
            approval.write_segmentation(staging / SEGMENTATION_FILE)
            if not (staging / SEGMENTATION_FILE).is_file():
                raise InputError("the segmentation file was not written", path=staging / SEGMENTATION_FILE)
            if approval.measurements:
                self._write_measurements(staging, case_id, approval.measurements)
            return self._publish(staging, case_dir, case_id, approval)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _write_measurements(self, staging: Path, case_id: str, measurements: dict[str, Any]) -> None:
        row = {"patient_id": case_id, **{k: v for k, v in measurements["row"].items() if k != "patient_id"}}
        write_json(staging / MEASUREMENTS_JSON, {**measurements.get("record", {}), "row": row})
        with open(staging / MEASUREMENTS_CSV, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row))
            writer.writeheader()
            writer.writerow({k: "" if v is None else v for k, v in row.items()})

    def _publish(self, staging: Path, case_dir: Path, case_id: str, approval: Approval) -> Path:
        for _ in range(1000):
            existing = self.versions(case_id)
            number = (int(VERSION_PATTERN.match(existing[-1].name).group(1)) + 1) if existing else 1
            version = f"v{number:03d}"
            self._write_provenance(staging, case_id, version, approval)
            target = case_dir / version
            if target.exists():
                continue  # another approval took this number between listing and renaming
            try:
                os.rename(staging, target)  # fails onto a non-empty folder: never overwrites
            except OSError:
                continue
            _make_read_only(target)
            return target
        raise InputError("could not find a free version number", path=case_dir)

    def _write_provenance(self, staging: Path, case_id: str, version: str, approval: Approval) -> None:
        summary = approval.engine_summary or {}
        names = approval.label_names
        dice = (dice_per_label(approval.ai_labels, approval.approved_labels, names)
                if approval.ai_labels is not None else None)
        provenance = {
            "case_id": case_id, "version": version, "approved_by": approval.approver.strip(),
            "approved_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "operating_system_user": _os_user(),
            "model": summary.get("model"), "preset": summary.get("preset"), "slice": summary.get("slice"),
            "hu_range": summary.get("hu_range"), "engine_device": summary.get("device"),
            "dice_ai_vs_approved": dice,
            "edited_voxels": None if approval.ai_labels is None else int(
                np.count_nonzero(approval.ai_labels != approval.approved_labels)),
            "labels": {str(v): n for v, n in sorted(names.items())},
            "input": approval.input_identity, "software": software_versions(), "note": approval.note,
            "files": sorted(p.name for p in staging.iterdir()) + [PROVENANCE_FILE],
        }
        write_json(staging / PROVENANCE_FILE, provenance)

    def export_measurements(self, out: str | Path) -> Path:
        """One CSV with the latest approved measurements of every case (input of the cohort analyses)."""
        rows: list[dict[str, str]] = []
        for case_id in self.cases():
            latest = self.latest(case_id)
            path = latest / MEASUREMENTS_CSV if latest else None
            if path and path.is_file():
                with open(path, newline="", encoding="utf-8") as handle:
                    for row in csv.DictReader(handle):
                        rows.append({**row, "approved_version": latest.name})
        if not rows:
            raise InputError("no approved measurements in the case store", path=self.root)
        columns = list(dict.fromkeys(key for row in rows for key in row))
        out = Path(out)

        def write(path: Path) -> None:
            with open(path, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=columns)
                writer.writeheader()
                writer.writerows(rows)

        return write_atomic(out, write)  # a full disk leaves the previous export, not half a table


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def _make_read_only(folder: Path) -> None:
    for path in folder.iterdir():
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
