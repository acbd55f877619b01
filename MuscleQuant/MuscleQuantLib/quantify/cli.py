"""``musclequant quantify``: measure one case and write its JSON, CSV row and QA figure."""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from typing import Any

from ..command import Command
from ..errors import InputError
from ..fileio import Commit, check_writable_folder, exclusive, json_text, names_existing_path
from ..imageio import image_suffix
from ..progress import Progress
from .engine import QuantifyOptions, quantify_files
from .patient import make_patient
from .presets import HU_RANGES, PRESET_NAMES
from .report import (
    COLUMNS_NAME,
    CSV_NAME,
    case_json,
    column_dictionary,
    read_measurements,
    upserted_table,
)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="CT/MR image (NIfTI, NRRD, MHA or DICOM folder)")
    parser.add_argument("labels", type=Path, help="label map on the image grid, or a Slicer .seg.nrrd")
    parser.add_argument("--out", required=True, type=Path, help="output folder (the cohort CSV there gains a row)")
    parser.add_argument("--preset", choices=PRESET_NAMES, default="l3", help="anatomy preset (default l3)")
    parser.add_argument("--slice", type=int, dest="slice_index", metavar="K",
                        help="stored slice index to measure (default: metadata level, else the slice with most muscle)")
    parser.add_argument("--tmt-slice", type=int, dest="tmt_slice_index", metavar="K",
                        help="temporalis: stored slice for TMT (default: metadata orbital roof, else the CSA slice)")
    parser.add_argument("--age", help="age in years")
    parser.add_argument("--sex", help="M (male) or F (female)")
    parser.add_argument("--height", help="height in metres (a value above 3 is refused as a unit error)")
    parser.add_argument("--weight", help="weight in kg")
    parser.add_argument("--strict-patient", action="store_true",
                        help="refuse bad patient data (default: warn, and make what needs it not applicable)")
    parser.add_argument("--hu-range", default="default",
                        help=f"muscle HU range: {', '.join(f'{k} ({a:g}..{b:g})' for k, (a, b) in HU_RANGES.items())}, "
                        "LOW,HIGH, or none (default: the preset's; ignored for MR)")
    parser.add_argument("--modality", choices=("CT", "MR"), help="override the preset's modality")
    parser.add_argument("--label-names", help="JSON file {label: name} or inline '1=psoas_major,2=...'; "
                        "when given, only these labels are measured")
    parser.add_argument("--label-map-from", metavar="SOURCE",
                        help="another tool's label map: 'totalsegmentator' (v2 'total' ids; preset l3) or a mapping "
                        "JSON {\"map\": {\"<value>\": \"<preset label>\" or null}}; unmapped values are ignored "
                        "with a warning")
    parser.add_argument("--ignore-unknown-labels", action="store_true",
                        help="measure only the preset's label values and warn about the others (default: refuse)")
    parser.add_argument("--metadata", type=Path, help="case JSON (phantom or engine): label names, level, patient data")
    parser.add_argument("--model-card", type=Path, help="model card JSON: its id and SHA-256 go into every output")
    parser.add_argument("--patient-id", help="case identifier (default: metadata case_id, else the image name)")
    parser.add_argument("--midline-mm", type=float, help="LPS x (mm) of the body midline, to override detection")
    parser.add_argument("--per-slice", action="store_true", help="also write <id>_per_slice.csv (area per label per slice)")
    parser.add_argument("--no-qa", action="store_true", help="skip the QA PNG")


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a readable {what} JSON ({exc})", path=path) from None
    if not isinstance(data, dict):
        raise InputError(f"{what} JSON must be an object", path=path)
    return data


def parse_label_names(text: str) -> dict[int, str]:
    """Label names from a JSON file or inline 'value=name' pairs."""
    path = Path(text)
    if path.suffix.lower() == ".json" or names_existing_path(path):
        data = _read_json(path, "label names")
        data = data.get("label_names", data)
    else:
        pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
        if not pairs or any(len(p) != 2 for p in pairs):
            raise InputError("use a JSON file or 'value=name,value=name'", field="--label-names")
        data = {k.strip(): v.strip() for k, v in pairs}
    try:
        return {int(k): str(v) for k, v in data.items()}
    except ValueError:
        raise InputError("label values must be integers", field="--label-names") from None


def read_model_card(path: Path) -> dict[str, Any]:
    """The id and weights SHA-256 of a model card, wherever the card keeps them (top level or one down)."""
    card = _read_json(path, "model card")
    found: dict[str, Any] = {"source": str(path)}
    for scope in [card, *[v for v in card.values() if isinstance(v, dict)]]:
        found.setdefault("id", next((scope[k] for k in ("id", "model_id") if k in scope), None))
        found.setdefault("sha256", next((scope[k] for k in ("sha256", "weights_sha256", "sha") if k in scope), None))
        found = {k: v for k, v in found.items() if v is not None}
    if "id" not in found:
        raise InputError("model card has no 'id' or 'model_id'", path=path)
    from ..models.starter import is_starter

    starter = isinstance(card.get("training"), dict) and is_starter(card)
    return {"id": found.get("id"), "sha256": found.get("sha256"), "source": str(path), **({"starter": True} if starter else {})}


def _hu_range(text: str) -> str | tuple[float, float] | None:
    if text in ("default", "none") or text in HU_RANGES:
        return None if text == "none" else text
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"{text!r}: use {', '.join(HU_RANGES)}, LOW,HIGH or none", field="--hu-range") from None
    return low, high


def _patient_id(args: argparse.Namespace, metadata: dict[str, Any] | None) -> str:
    raw = args.patient_id or (metadata or {}).get("case_id")
    if not raw:
        name = args.image.name
        raw = name[: -len(image_suffix(name))] if image_suffix(name) else name
    raw = str(raw)
    # The id names the output files: no folders, no hidden files, nothing a file system or CSV mangles.
    if (not raw.strip() or raw != raw.strip() or raw.startswith(".") or any(c in raw for c in "/\\")
            or any(ord(c) < 32 for c in raw) or len(raw) > 128):
        raise InputError(f"{raw!r} is not usable as a case identifier (no path separators, leading dot, control "
                         "characters or surrounding spaces; at most 128 characters)",
                         field="--patient-id" if args.patient_id else "case_id")
    return raw


def _run(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    check_writable_folder(args.out)
    if args.midline_mm is not None and not math.isfinite(args.midline_mm):
        raise InputError(f"{args.midline_mm} is not a position in mm", field="--midline-mm")
    read_measurements(args.out / CSV_NAME)  # a foreign or broken table is refused before any work
    metadata = _read_json(args.metadata, "metadata") if args.metadata else None
    subject = (metadata or {}).get("subject") or {}
    patient = make_patient(
        age=args.age if args.age is not None else subject.get("age"),
        sex=args.sex if args.sex is not None else subject.get("sex"),
        height=args.height if args.height is not None else subject.get("height_m"),
        weight=args.weight if args.weight is not None else subject.get("weight_kg"),
        strict=args.strict_patient)
    options = QuantifyOptions(
        preset=args.preset, slice_index=args.slice_index, hu_range=_hu_range(args.hu_range), modality=args.modality,
        label_names=parse_label_names(args.label_names) if args.label_names else None,
        patient_id=_patient_id(args, metadata), metadata=metadata,
        model=read_model_card(args.model_card) if args.model_card else None, midline_mm=args.midline_mm,
        per_slice=args.per_slice, tmt_slice_index=args.tmt_slice_index,
        ignore_unknown_labels=args.ignore_unknown_labels, label_map_from=args.label_map_from)
    progress.update("quantify", 0.1, f"measuring {options.patient_id}")
    result = quantify_files(args.image, args.labels, options, patient)
    files = write_outputs(args.out, options.patient_id, result, per_slice=args.per_slice, qa=not args.no_qa)
    if result.record.get("notice"):
        progress.info(result.record["notice"])
    for warning in result.record["warnings"]:
        progress.info(f"warning: {warning}")
    progress.update("quantify", 1.0, f"CSA {result.row['csa_total_cm2']:.2f} cm² on slice {result.row['slice_index']}")
    return {"patient_id": options.patient_id, "files": {k: str(v) for k, v in files.items()},
            "warnings": result.record["warnings"]}


def write_outputs(out: Path, patient_id: str, result, *, per_slice: bool, qa: bool) -> dict[str, Path]:
    """The case JSON, its CSV row, the column dictionary, per-slice table and QA figure, committed together:
    a failure anywhere (full disk, read-only folder, a kill) leaves every earlier file as it was."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", patient_id)
    files = {"json": out / f"{stem}.json", "csv": out / CSV_NAME, "columns": out / COLUMNS_NAME}
    if per_slice:
        files["per_slice"] = out / f"{stem}_per_slice.csv"
    if qa:
        files["qa"] = out / f"{stem}_qa.png"
    with exclusive(files["csv"]), Commit(out) as commit:  # the lock keeps parallel cases' rows
        table = upserted_table(files["csv"], result.row)
        table.to_csv(commit.file(files["csv"]), index=False)
        commit.file(files["json"]).write_text(json_text(case_json(result.record, result.row)), encoding="utf-8")
        commit.file(files["columns"]).write_text(json_text(column_dictionary()), encoding="utf-8")
        if per_slice:
            import pandas as pd

            pd.DataFrame(result.per_slice).to_csv(commit.file(files["per_slice"]), index=False)
        if qa:
            from .qa import render_qa_png  # matplotlib only when a figure is drawn

            render_qa_png(result, commit.file(files["qa"]))
    return files


COMMAND = Command("quantify", "measure muscle CSA, attenuation, IMAT, volumes, indices and sarcopenia for one case",
                  _add_arguments, _run)
