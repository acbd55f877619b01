"""Training on approved work: a case store (what readers approved in Slicer) is a training folder.

Each case gives its latest approved version and the image file it was approved on. The image must be
the very file that was approved (same SHA-256), so a model never learns a segmentation drawn on another
image; a case whose image is not one file, is gone or has changed is left out with that reason, which
the training summary lists.
"""

from __future__ import annotations

from pathlib import Path

from ..models.modelfile import sha256_file
from ..slicer_bridge.casestore import PROVENANCE_FILE, SEGMENTATION_FILE, VERSION_PATTERN, CaseStore
from .data import TrainingCase


def is_case_store(folder: Path) -> bool:
    """True when ``folder`` holds ``<case>/vNNN/provenance.json`` approvals."""
    return any(case.is_dir() and any(VERSION_PATTERN.match(v.name) and (v / PROVENANCE_FILE).is_file()
                                     for v in case.iterdir() if v.is_dir())
               for case in folder.iterdir())


def approved_cases(folder: Path) -> list[TrainingCase]:
    """The latest approval of every case with the image it was approved on (or why it cannot be used)."""
    store = CaseStore(folder)
    cases = []
    for case_id in store.cases():
        version = store.latest(case_id)
        provenance = store.read_provenance(version)
        source = (provenance.get("input") or {}).get("file")
        image = Path(source) if source else version / "missing-image"
        problem = _image_problem(source, provenance.get("input") or {})
        metadata = {"approval": {"version": version.name, "approved_by": provenance.get("approved_by"),
                                 "approved_at": provenance.get("approved_at"), "slice": provenance.get("slice")}}
        cases.append(TrainingCase(case_id, image, version / SEGMENTATION_FILE, metadata,
                                  problem=f"{version.name}: {problem}" if problem else None))
    return cases


def _image_problem(source: str | None, identity: dict) -> str | None:
    if not source:
        return ("the approved image was not loaded from one file (a DICOM series?); save it as NRRD/NIfTI, "
                "load that file and approve again")
    path = Path(source)
    if not path.is_file():
        return f"the approved image {path} is not there any more"
    expected = identity.get("file_sha256")
    if not expected:
        return f"the approval does not record the SHA-256 of {path}, so the image cannot be checked"
    if sha256_file(path) != expected:
        return f"the image {path} has changed since it was approved (SHA-256 differs)"
    return None
