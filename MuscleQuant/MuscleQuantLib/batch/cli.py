"""``musclequant batch``: a folder of studies (or a CSV manifest) to a cohort table, a QA gallery and
case folders, resumable, on local worker processes or a Dask cluster."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..command import Command
from ..errors import InputError
from ..progress import Progress
from .settings import BatchSettings, SelectionSettings


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..presets import all_presets

    parser.add_argument("input", type=Path, help="folder tree (DICOM files at any depth, NIfTI/NRRD/MHA files) or a "
                        "CSV manifest with columns patient_id,path and optional series_uid,slice,age,sex,height_m,"
                        "weight_kg (slice: stored slice index, overrides level finding)")
    parser.add_argument("--preset", required=True, choices=sorted(n for n, p in all_presets().items() if p.role != "level"),
                        help="anatomy preset")
    parser.add_argument("--out", required=True, type=Path, help="output folder (re-running resumes it)")
    parser.add_argument("--model", type=Path, help="segmentation model folder (model.json); default: the newest "
                        "installed model for --preset, else its shipped starter model")
    parser.add_argument("--level-model", type=Path, help="level finder model (default: newest installed)")
    parser.add_argument("--workers", type=int, default=1, help="local worker processes (default 1: this process)")
    parser.add_argument("--scheduler", help="address of an existing Dask distributed scheduler (tcp://host:8786)")
    parser.add_argument("--cluster", choices=("slurm", "pbs", "sge"), help="start workers through dask-jobqueue")
    parser.add_argument("--cluster-option", action="append", default=[], metavar="KEY=VALUE",
                        help="dask-jobqueue cluster argument (queue=..., account=..., walltime=..., memory=...)")
    parser.add_argument("--cluster-jobs", type=int, default=1, help="batch jobs to start with --cluster (default 1)")
    parser.add_argument("--dicom-seg", action="store_true", help="also write a DICOM SEG of each result")
    parser.add_argument("--dicom-sr", action="store_true", help="also write a DICOM SR (TID 1500) measurement report")
    parser.add_argument("--radiomics", metavar="PROFILE", help="also extract radiomic features per case (fast, "
                        "paper, original or a settings JSON; needs PyRadiomics) into OUT/radiomics.csv")
    parser.add_argument("--no-qa", action="store_true", help="skip the full QA figure per case (the gallery "
                        "thumbnail is still made)")
    parser.add_argument("--hu-range", help="muscle HU range name (default: the preset's)")
    parser.add_argument("--prefer-thickness", type=float, default=3.0, metavar="MM",
                        help="prefer the series whose slice thickness is closest to this (default 3 mm)")
    parser.add_argument("--prefer-kernel", action="append", default=[], metavar="NAME",
                        help="preferred reconstruction kernel (substring, repeat in order of preference)")
    parser.add_argument("--min-slices", type=int, default=5, help="fewest slices a series needs (default 5)")
    parser.add_argument("--max-tilt", type=float, default=45.0, metavar="DEG",
                        help="largest slice tilt from axial still measured (default 45)")
    parser.add_argument("--device", default="cpu", help="torch device for the networks (default cpu)")


def cluster_options(pairs: list[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{pair!r}: use KEY=VALUE", field="--cluster-option")
        options[key.strip()] = value.strip()
    return options


def _run(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    from .run import run_batch

    if args.workers < 1:
        raise InputError("must be at least 1", field="--workers")
    if args.scheduler and args.cluster:
        raise InputError("give either --scheduler or --cluster, not both", field="--scheduler")
    if args.out.exists() and not args.out.is_dir():
        raise InputError("exists and is not a folder", path=args.out)
    if args.model is None:  # the same default as ``segment``: newest installed, else the shipped starter
        from ..models.starter import default_model

        args.model = default_model(args.preset)
        if args.model is None:
            raise InputError(f"no model for preset {args.preset!r} is installed and none ships with this version: "
                             "train or fetch one and pass --model DIR", field="--model")
        progress.info(f"using model {args.model}")
    selection = SelectionSettings(min_slices=args.min_slices, max_tilt_deg=args.max_tilt,
                                  prefer_thickness_mm=args.prefer_thickness, prefer_kernels=tuple(args.prefer_kernel))
    settings = BatchSettings(preset=args.preset, out=args.out, model=args.model, level_model=args.level_model,
                             hu_range=args.hu_range, selection=selection, dicom_seg=args.dicom_seg,
                             dicom_sr=args.dicom_sr, qa_png=not args.no_qa, radiomics=args.radiomics,
                             device=args.device)
    return run_batch(args.input, settings, workers=args.workers, scheduler=args.scheduler, cluster=args.cluster,
                     cluster_options=cluster_options(args.cluster_option), cluster_jobs=args.cluster_jobs,
                     progress=progress)


COMMAND = Command("batch", "measure a cohort: studies to a table, QA gallery and case folders (resumable, parallel)",
                  _add_arguments, _run)
