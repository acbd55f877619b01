"""``musclequant radiomics``: radiomic features of muscle and psoas, one CSV row per case.

Examples::

    musclequant radiomics ct.nii.gz labels.nii.gz --out features.csv --patient-id P001
    musclequant radiomics --dataset cohort/ --out cohort/features.csv --features paper

The settings (profile, PyRadiomics version, image types, bin width, regions and each case's slice)
are written next to the table as ``<name>.settings.json``, so every number can be traced.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
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
    parser.add_argument("--jobs", type=int, default=1,
                        help="cases extracted in parallel (default 1; 0 = one per CPU core); the table is identical")


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
    if args.jobs < 0:
        raise InputError("must be 0 (one per core) or more", field="--jobs")
    version = pyradiomics_version()  # before any work: a missing PyRadiomics is one line, not a traceback
    settings = load_settings(args.features)
    cases = _cases(args)
    tasks = [(patient_id, image_path, labels_path, metadata, settings, args.preset, args.slice_index)
             for patient_id, image_path, labels_path, metadata in cases]
    jobs = min(len(tasks), args.jobs or os.cpu_count() or 1)
    rows, infos = [], {}
    with _pool(jobs) as pool:
        outcomes = pool.map(_extract_one, tasks) if pool else map(_extract_one, tasks)
        for i, (patient_id, values, info, error) in enumerate(outcomes):  # in case order, whatever finishes first
            if error is not None:
                raise InputError(f"{error} (case {patient_id})", path=tasks[i][2])
            progress.update("radiomics", (i + 1) / len(tasks), f"{patient_id} ({i + 1} of {len(tasks)})")
            rows.append({"patient_id": patient_id, **values})
            infos[patient_id] = info
            for warning in info["warnings"]:
                progress.info(f"warning: {patient_id}: {warning}")
    table = pd.DataFrame(rows)
    settings_path = args.out.with_suffix(".settings.json")
    write_json(settings_path, {"pyradiomics": version, "settings": settings.to_dict(),
                               "pyradiomics_settings": settings.pyradiomics_settings(), "preset": args.preset,
                               "n_features": table.shape[1] - 1, "cases": infos})
    write_atomic(args.out, lambda p: table.to_csv(p, index=False, float_format="%.10g"))
    progress.update("radiomics", 1.0, f"{len(rows)} cases x {table.shape[1] - 1} features")
    return {"out": str(args.out), "settings": str(settings_path), "cases": len(rows), "features": table.shape[1] - 1}


def _extract_one(task: tuple) -> tuple[str, dict[str, float] | None, dict[str, Any] | None, str | None]:
    """One case's features, or the reason it failed (an error message crosses process boundaries
    more reliably than an exception object)."""
    from ..imageio import read_image

    patient_id, image_path, labels_path, metadata, settings, preset, slice_index = task
    try:
        from ..quantify.presets import PRESETS

        modality = str((metadata or {}).get("modality") or PRESETS[preset].modality).upper()
        image = read_image(image_path, allow_single_slice=True, modality=modality)  # NaN / non-HU refused
        labels, seg_names, _ = read_labels(labels_path, image)
        result = extract_case(image, labels, settings, preset=preset, patient_id=patient_id,
                              slice_index=slice_index, metadata=metadata, label_names=seg_names or None)
    except InputError as exc:
        return patient_id, None, None, str(exc)
    return patient_id, result.values, result.info, None


@contextlib.contextmanager
def _pool(jobs: int) -> Iterator[ProcessPoolExecutor | None]:
    """Worker processes for ``jobs`` > 1 (spawned, not forked: the parent may hold threads), each
    limited to one SimpleITK thread so N workers use N cores; None means work in this process."""
    if jobs <= 1:
        yield None
        return
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_one_thread_per_worker)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _one_thread_per_worker() -> None:
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


COMMAND = Command("radiomics", "radiomic features (PyRadiomics) of muscle and psoas, one CSV row per case",
                  _add_arguments, _run)
