"""Approved corrections back into the batch table (issue 15 item 8, engine side). The Slicer module
calls :func:`merge_approved` with the label map a reviewer corrected and approved; the case's row then
shows the approved values with provenance (version, approver, time, Dice between the automatic and the
approved segmentation). Every approval is a new ``review/vN`` folder: nothing is overwritten."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from .. import __version__
from ..errors import InputError
from ..fileio import write_json
from .store import REVIEW_DIR, CaseStore

APPROVAL = "approval.json"


def latest_approval(case_dir: Path) -> dict[str, Any] | None:
    review = case_dir / REVIEW_DIR
    if not review.is_dir():
        return None
    versions = sorted((int(p.name[1:]), p) for p in review.iterdir()
                      if p.name.startswith("v") and p.name[1:].isdigit() and (p / APPROVAL).exists())
    if not versions:
        return None
    return json.loads((versions[-1][1] / APPROVAL).read_text(encoding="utf-8"))


def reviewed_row(case_dir: Path, row: dict[str, Any]) -> dict[str, Any]:
    """The table row: automatic values, or the latest approved ones with their provenance."""
    approval = latest_approval(case_dir)
    if approval is None:
        return {**row, "review_status": "automatic"}
    return {**row, **approval["row"], "review_status": "approved", "review_version": approval["version"],
            "approved_by": approval["approver"], "approved_at": approval["time"],
            "review_software": approval["software"], "dice_auto_vs_approved": approval["dice_auto_vs_approved"]}


def _dice(a: np.ndarray, b: np.ndarray) -> float | None:
    """All-label Dice between two label maps (None when both are empty)."""
    total = np.count_nonzero(a) + np.count_nonzero(b)
    if total == 0:
        return None
    return round(2.0 * np.count_nonzero((a == b) & (a > 0)) / total, 4)


def merge_approved(out: Path, case_id: str, labels_path: Path, approver: str, note: str = "") -> dict[str, Any]:
    """Measure an approved label map of a done case and make it the case's table row; returns the approval."""
    from ..imageio import read_image, require_same_grid, write_labelmap
    from ..quantify.engine import QuantifyOptions, quantify_images
    from ..quantify.patient import make_patient
    from ..quantify.report import write_case_json
    from .reader import read_series
    from .table import case_rows, write_measurements

    if not approver.strip():
        raise InputError("an approval needs the approver's name", field="approver")
    store = CaseStore(out)
    state = store.read(case_id)
    if state is None or state.get("status") != "done":
        raise InputError("no measured case of that id in the batch folder", path=out, field=case_id)
    case_dir = store.folder(case_id)
    automatic = read_image(case_dir / state["outputs"]["labels"], allow_single_slice=True)
    approved = read_image(labels_path, allow_single_slice=True)
    require_same_grid(automatic, approved, labels_path)
    approved = sitk.Cast(approved, sitk.sitkUInt16)
    source = state["source_series"]
    image = read_series(_series_info(source)).image
    measured = json.loads((case_dir / state["outputs"]["measurements"]).read_text(encoding="utf-8"))
    patient = measured.get("patient") or {}
    segmentation = json.loads((case_dir / state["outputs"]["segmentation"]).read_text(encoding="utf-8"))
    options = QuantifyOptions(preset=measured["preset"], slice_index=state["row"].get("slice_index"),
                              patient_id=state["row"]["patient_id"], model=measured.get("model"),
                              label_names={e["value"]: e["name"] for e in segmentation["labels"]})
    result = quantify_images(image, approved, options, make_patient(
        age=patient.get("age_y"), sex=patient.get("sex"), height=patient.get("height_m"),
        weight=patient.get("weight_kg"), strict=False))
    version = 1 + max([int(p.name[1:]) for p in (case_dir / REVIEW_DIR).glob("v*") if p.name[1:].isdigit()] or [0])
    folder = case_dir / REVIEW_DIR / f"v{version}"
    folder.mkdir(parents=True, exist_ok=False)
    write_labelmap(approved, image, folder / "labels.nii.gz")
    write_case_json(folder / "measurements.json", result.record, result.row)
    approval = {"version": version, "approver": approver.strip(), "note": note,
                "time": datetime.now(UTC).isoformat(timespec="seconds"), "software": __version__,
                "labels": str(Path(REVIEW_DIR) / f"v{version}" / "labels.nii.gz"),
                "dice_auto_vs_approved": _dice(sitk.GetArrayViewFromImage(automatic),
                                               sitk.GetArrayViewFromImage(approved)),
                "row": {k: v for k, v in result.row.items() if k != "patient_id"}}
    write_json(folder / APPROVAL, approval)  # written last: a version without it is not an approval
    rows = case_rows(store, store.case_ids())
    write_measurements(out, rows)
    _rebuild_gallery(out, rows)
    return approval


def _rebuild_gallery(out: Path, rows: list[dict[str, Any]]) -> None:
    """The gallery shows what the table shows: an approval re-draws it (a batch folder without a gallery or
    summary, e.g. one made by an older version, is left as it is)."""
    from .gallery import build_gallery

    summary_path = out / "summary.json"
    if (out / "gallery.html").exists() and summary_path.exists():
        build_gallery(out, rows, json.loads(summary_path.read_text(encoding="utf-8")))


def review_queue(out: Path) -> list[dict[str, Any]]:
    """The measured cases of a batch folder in review order: flagged (needs_review) first, then the others,
    each with what a viewer needs to open it (source files, label map, flags, current review state)."""
    store = CaseStore(out)
    queue = []
    for case_id in store.case_ids():
        state = store.read(case_id)
        if state is None or state.get("status") != "done":
            continue
        row = reviewed_row(store.folder(case_id), state["row"])
        queue.append({"case_id": case_id, "patient_id": row.get("patient_id"),
                      "flagged": row.get("plausibility_status") == "needs_review",
                      "flags": row.get("plausibility_flags") or "", "review_status": row["review_status"],
                      "slice_index": row.get("slice_index"), "source": state["source_series"],
                      "labels": str(store.folder(case_id) / state["outputs"]["labels"])})
    return sorted(queue, key=lambda item: (not item["flagged"], item["case_id"]))


def _series_info(source: dict[str, Any]):
    from .discover import SeriesInfo

    return SeriesInfo(key=source["key"], kind=source["kind"], patient_id="", study_uid="", files=source["files"],
                      thickness_mm=source.get("thickness_mm"))
