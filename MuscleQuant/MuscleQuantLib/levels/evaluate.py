"""Score a level finder against phantom (or approved) metadata: error in mm per protocol level, the
share within 5 mm, and how often out-of-view scans are flagged "not found" instead of guessed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..imageio import IMAGE_SUFFIXES, image_suffix, read_image
from ..progress import NULL_PROGRESS, Progress
from .find import find_level, load_level_model
from .specs import LevelSpec, spec_for

WITHIN_MM = 5.0


def evaluation_cases(folder: str | Path) -> list[tuple[str, Path, dict[str, Any]]]:
    """(case id, image, metadata) for a phantom folder (dataset.json) or ``<id>_image.*`` + ``<id>.json`` pairs."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("evaluation data folder not found", path=folder)
    dataset = folder / "dataset.json"
    cases = []
    if dataset.exists():
        from ..datasetfile import read_dataset, read_json_object

        for entry in read_dataset(folder):
            if not entry.get("metadata"):
                raise InputError(f"case {entry['case_id']!r} has no 'metadata'", path=dataset, field="metadata")
            cases.append((entry["case_id"], folder / entry["image"],
                          read_json_object(folder / entry["metadata"], "case metadata")))
    else:
        for image_path in sorted(folder.iterdir()):
            suffix = image_suffix(image_path)
            if suffix in IMAGE_SUFFIXES and image_path.name.endswith(f"_image{suffix}"):
                case_id = image_path.name[: -len(f"_image{suffix}")]
                meta = folder / f"{case_id}.json"
                if meta.exists():
                    cases.append((case_id, image_path, json.loads(meta.read_text(encoding="utf-8"))))
    if not cases:
        raise InputError("no cases with metadata found (expected dataset.json or <id>_image.* with <id>.json)",
                         path=folder)
    return cases


def true_slice(spec: LevelSpec, protocol: str, metadata: dict[str, Any]) -> float | None:
    """The stored (fractional) slice of ``protocol`` in the metadata; None when it is not in view."""
    kind, name = spec.truth[protocol]
    if kind == "landmark":
        entry = metadata.get("landmarks", {}).get(name)
        return None if entry is None else float(entry["slice"])
    entry = metadata.get("levels", {}).get(name)
    return None if entry is None else float(entry["center_slice"])


def slice_thickness(metadata: dict[str, Any]) -> float:
    return float(metadata["spacing_mm"][2])


def evaluate_levels(preset: str, data: str | Path, model_dir: str | Path | None = None, device: str = "auto",
                    progress: Progress = NULL_PROGRESS) -> dict[str, Any]:
    """Run the finder on every case and summarise (see :func:`summarise`)."""
    from ..pipeline.predict import select_device

    spec = spec_for(preset)
    torch_device = select_device(device)
    cases = evaluation_cases(data)  # bad data is refused before a model is looked for
    model = load_level_model(spec, model_dir, torch_device)
    rows = []
    for i, (case_id, image_path, metadata) in enumerate(cases):
        progress.update("evaluate-levels", i / len(cases), f"case {case_id}")
        image = read_image(image_path)
        result = find_level(spec.level_preset, image, image_path, model=model, device=device)
        in_view = metadata.get("target_in_view")
        if in_view is None:
            in_view = true_slice(spec, spec.default_protocol, metadata) is not None
        row: dict[str, Any] = {"case_id": case_id, "in_view": bool(in_view), "found": result.found,
                               "confidence": result.confidence, "reason": result.reason,
                               "slice_thickness_mm": slice_thickness(metadata),
                               "slab_thickness_mm": result.slab_thickness_mm, "levels": {}}
        nz = image.GetSize()[2]
        for protocol in spec.protocols:
            truth = true_slice(spec, protocol, metadata)
            entry: dict[str, Any] = {"true_slice": truth}
            if truth is not None:
                mm = slice_thickness(metadata)
                entry["chance_error_mm"] = abs((nz - 1) / 2 - truth) * mm  # predicting the middle slice
                if result.found:
                    found = result.levels[protocol]
                    entry.update(slice_index=found["slice_index"], error_mm=abs(found["slice_index"] - truth) * mm)
            row["levels"][protocol] = entry
        rows.append(row)
    progress.update("evaluate-levels", 1.0, f"{len(rows)} cases")
    return {"preset": spec.level_preset, "data": str(data), "model": str(model_dir or model.card.get("model_id")),
            "summary": summarise(spec, rows), "cases": rows}


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p95": None, "max": None, "mean": None}
    array = np.asarray(values, dtype=float)
    return {"median": round(float(np.median(array)), 2), "p95": round(float(np.percentile(array, 95)), 2),
            "max": round(float(array.max()), 2), "mean": round(float(array.mean()), 2)}


def summarise(spec: LevelSpec, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per protocol level: error statistics over found in-view cases, within-5 mm rate over all in-view
    cases (a miss counts as a failure), errors in slice thicknesses; out-of-view flag rate."""
    in_view = [r for r in rows if r["in_view"]]
    out_view = [r for r in rows if not r["in_view"]]
    found = [r for r in in_view if r["found"]]
    levels = {}
    for protocol in spec.protocols:
        errors = [r["levels"][protocol]["error_mm"] for r in found if "error_mm" in r["levels"][protocol]]
        in_slices = [r["levels"][protocol]["error_mm"] / r["slice_thickness_mm"] for r in found
                     if "error_mm" in r["levels"][protocol]]
        chance = [r["levels"][protocol]["chance_error_mm"] for r in in_view
                  if "chance_error_mm" in r["levels"][protocol]]
        within = sum(1 for e in errors if e <= WITHIN_MM)
        levels[protocol] = {
            "error_mm": _stats(errors),
            "error_slices": _stats(in_slices),
            f"within_{WITHIN_MM:g}mm_rate": round(within / len(in_view), 3) if in_view else None,
            "within_one_slice_rate": round(sum(1 for s in in_slices if s <= 1.0) / len(in_view), 3) if in_view else None,
            "chance_error_mm": _stats(chance),
        }
    thickness = [r["slice_thickness_mm"] for r in in_view]
    return {
        "cases": len(rows), "in_view": len(in_view), "out_of_view": len(out_view),
        "detection_rate": round(len(found) / len(in_view), 3) if in_view else None,
        "out_of_view_flagged_rate": round(sum(1 for r in out_view if not r["found"]) / len(out_view), 3)
        if out_view else None,
        "median_slice_thickness_mm": float(np.median(thickness)) if thickness else None,
        "levels": levels,
    }
