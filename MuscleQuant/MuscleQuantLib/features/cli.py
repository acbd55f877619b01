"""``musclequant radiomics``: radiomic features of muscle and psoas, one CSV row per case.

Examples::

    musclequant radiomics ct.nii.gz labels.nii.gz --out features.csv --patient-id P001
    musclequant radiomics --dataset cohort/ --out cohort/features.csv --features paper

The settings (profile, PyRadiomics version, image types, bin width, regions and each case's slice)
are written next to the table as ``<name>.settings.json``, so every number can be traced.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd

from ..command import Command
from ..errors import InputError
from ..fileio import write_atomic, write_json
from ..progress import Progress
from ..quantify.engine import read_labels
from ..quantify.presets import PRESET_NAMES
from .extract import extract_case, pyradiomics_version
from .settings import PROFILES, load_settings


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, nargs="?", help="CT/MR image (one case; or use --dataset)")
    parser.add_argument("labels", type=Path, nargs="?", help="label map on the image grid, or a Slicer .seg.nrrd")
    parser.add_argument("--dataset", type=Path, help="folder of cases (dataset.json, or <id>_image/<id>_labels pairs)")
    parser.add_argument("--out", required=True, type=Path, help="output CSV (one row per case); refuses to overwrite")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output table")
    parser.add_argument("--preset", choices=PRESET_NAMES, default="l3", help="anatomy preset (default l3)")
    parser.add_argument("--features", default="paper",
                        help=f"feature profile ({', '.join(PROFILES)}; default paper) or a settings JSON file")
    parser.add_argument("--slice", type=int, dest="slice_index", metavar="K",
                        help="one case: stored slice to measure (default: metadata level, else the slice with most muscle)")
    parser.add_argument("--metadata", type=Path, help="one case: case JSON (level, label names)")
    parser.add_argument("--patient-id", help="one case: identifier (default: metadata case_id, else the image name)")


def _cases(args: argparse.Namespace) -> list[tuple[str, Path, Path, dict[str, Any] | None]]:
    if args.dataset is not None:
        if args.image or args.labels:
            raise InputError("give either IMAGE LABELS or --dataset, not both", field="--dataset")
        from ..training.data import discover_cases

        return [(c.case_id, c.image_path, c.labels_path, c.metadata) for c in discover_cases(args.dataset)]
    if args.image is None or args.labels is None:
        raise InputError("give IMAGE and LABELS, or --dataset FOLDER", field="arguments")
    metadata = None
    if args.metadata is not None:
        try:
            metadata = json.loads(args.metadata.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"not a readable case JSON ({exc})", path=args.metadata) from None
    patient_id = args.patient_id or (metadata or {}).get("case_id") or args.image.name.split(".")[0]
    return [(str(patient_id), args.image, args.labels, metadata)]


def _run(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    if args.out.exists() and not args.overwrite:
        raise InputError("already exists; use --overwrite or another name", path=args.out)
    if args.out.suffix.lower() != ".csv":
        raise InputError("the feature table must be a .csv file", path=args.out)
    settings = load_settings(args.features)
    cases = _cases(args)
    from ..imageio import read_image

    rows, infos = [], {}
    for i, (patient_id, image_path, labels_path, metadata) in enumerate(cases):
        progress.update("radiomics", i / len(cases), f"{patient_id} ({i + 1} of {len(cases)})")
        image = read_image(image_path, allow_single_slice=True)
        labels, seg_names, _ = read_labels(labels_path, image)
        try:
            result = extract_case(image, labels, settings, preset=args.preset, patient_id=patient_id,
                                  slice_index=args.slice_index, metadata=metadata, label_names=seg_names or None)
        except InputError as exc:
            raise InputError(f"{exc} (case {patient_id})", path=labels_path) from None
        rows.append({"patient_id": patient_id, **result.values})
        infos[patient_id] = result.info
        for warning in result.info["warnings"]:
            progress.info(f"warning: {patient_id}: {warning}")
    table = pd.DataFrame(rows)
    settings_path = args.out.with_suffix(".settings.json")
    write_json(settings_path, {"pyradiomics": pyradiomics_version(), "settings": settings.to_dict(),
                               "pyradiomics_settings": settings.pyradiomics_settings(), "preset": args.preset,
                               "n_features": table.shape[1] - 1, "cases": infos})
    write_atomic(args.out, lambda p: table.to_csv(p, index=False, float_format="%.10g"))
    progress.update("radiomics", 1.0, f"{len(rows)} cases x {table.shape[1] - 1} features")
    return {"out": str(args.out), "settings": str(settings_path), "cases": len(rows), "features": table.shape[1] - 1}


COMMAND = Command("radiomics", "radiomic features (PyRadiomics) of muscle and psoas, one CSV row per case",
                  _add_arguments, _run)
