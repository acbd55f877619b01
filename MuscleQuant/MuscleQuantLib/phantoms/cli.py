"""``musclequant phantom``: write synthetic cases (image, label maps, metadata) and cohort tables."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from ..command import Command
from ..errors import InputError
from ..fileio import write_atomic, write_json
from ..progress import Progress
from .base import ORIENTATIONS
from .cohort import CohortTruth, clinical_table, simulate_cohort_table
from .registry import ANATOMIES, PhantomOptions, generate_case, write_case
from .subject import Subject

DATASET_FILE = "dataset.json"


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--anatomy", choices=ANATOMIES, help="which preset's phantom to generate")
    parser.add_argument("--n", type=int, default=None, help="number of cases (default 4; with --cohort, the cohort size)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical files")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--cohort", type=int, metavar="N", help="also write a clinical table for N patients whose "
                        "survival depends on the muscle index with a known hazard ratio (cases forced in view)")
    parser.add_argument("--texture-cohort", type=int, metavar="N",
                        help="radiomics cohort: N L3 slices from two sites (train/internal from site A, external "
                        "from site B) whose muscle texture carries part of the hazard; writes features-ready cases, "
                        "clinical.csv with site and split, measurements.csv")
    parser.add_argument("--texture-hr", type=float, default=2.0,
                        help="with --texture-cohort: hazard ratio per SD of the latent myosteatosis score "
                        "(default 2.0; 1 = no texture signal, the negative control)")
    parser.add_argument("--no-images", action="store_true", help="with --cohort: tables only (fast; index = true SMI)")
    parser.add_argument("--in-view", choices=("random", "always", "never"), default="random",
                        help="whether the target level lies in the field of view (default: random, ~85%% in view)")
    parser.add_argument("--orientation", choices=("random", *ORIENTATIONS), default="random",
                        help="storage orientation of the images (default: random)")
    parser.add_argument("--resolution", choices=("standard", "low"), default="standard",
                        help="'low' doubles the in-plane spacing for fast tests")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing phantom dataset in --out")


def _check_args(args: argparse.Namespace) -> None:
    if args.seed < 0:
        raise InputError(f"{args.seed}: must be a non-negative integer", field="--seed")
    from ..fileio import check_writable_folder

    check_writable_folder(args.out)
    if args.cohort is not None and args.cohort < 1:
        raise InputError("must be at least 1", field="--cohort")
    if args.n is not None and args.n < 1:
        raise InputError("must be at least 1", field="--n")
    if args.texture_cohort is not None:
        if args.texture_cohort < 20:
            raise InputError("must be at least 20 (train, internal and external sets)", field="--texture-cohort")
        if args.cohort is not None or args.no_images:
            raise InputError("give either --texture-cohort or --cohort, not both", field="--texture-cohort")
        if args.anatomy not in (None, "l3"):
            raise InputError("the texture cohort is L3 only", field="--anatomy")
        if not args.texture_hr > 0:
            raise InputError("must be a positive hazard ratio", field="--texture-hr")
    elif not args.no_images and args.anatomy is None:
        raise InputError("required (unless --cohort N --no-images)", field="--anatomy")
    if args.no_images and args.cohort is None:
        raise InputError("only makes sense with --cohort N", field="--no-images")
    if args.out.exists() and not args.out.is_dir():
        raise InputError("exists and is not a folder", path=args.out)
    for existing in (DATASET_FILE, "clinical.csv"):
        if (args.out / existing).exists() and not args.overwrite:
            raise InputError(f"already holds a phantom dataset ({existing}); use --overwrite or another folder",
                             path=args.out)


def _run(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    _check_args(args)
    if args.texture_cohort is not None:
        from .texture_cohort import TextureTruth, generate_texture_cohort

        return generate_texture_cohort(args.texture_cohort, args.seed, args.out, TextureTruth(args.texture_hr),
                                       args.resolution, progress)
    if args.no_images:
        truth = CohortTruth()
        clinical, measurements = simulate_cohort_table(args.cohort, args.seed, truth)
        return _write_cohort(args.out, clinical, measurements, truth, args, progress)

    n = args.cohort if args.cohort is not None else (args.n or 4)
    in_view = True if args.cohort is not None else {"random": None, "always": True, "never": False}[args.in_view]
    options = PhantomOptions(in_view=in_view, orientation=None if args.orientation == "random" else args.orientation,
                             resolution=args.resolution)
    entries, subjects, indices, index_info = [], [], [], {}
    for i in range(n):
        progress.update("phantom", i / n, f"{args.anatomy} case {i + 1} of {n}")
        case = generate_case(args.anatomy, args.seed, i, options)
        entries.append(write_case(case, args.out))
        subjects.append(Subject(**{k: case.metadata["subject"][k] for k in Subject.__dataclass_fields__}))
        index_info = case.metadata["truth"]["index"]
        indices.append(index_info["value"])
    progress.update("phantom", 1.0, f"wrote {n} cases")
    write_json(args.out / DATASET_FILE, {"anatomy": args.anatomy, "seed": args.seed, "options": vars(options),
                                         "cases": entries})
    result: dict[str, Any] = {"out": str(args.out), "cases": len(entries)}
    if args.cohort is not None:
        ids = [e["case_id"] for e in entries]
        truth = CohortTruth(index_name=index_info["name"], index_center=index_info["center"],
                            index_step=index_info["step"])
        rng = np.random.default_rng(np.random.SeedSequence([args.seed, 9002]))
        clinical = clinical_table(ids, subjects, np.asarray(indices, dtype=float), rng, truth)
        import pandas as pd

        measurements = pd.DataFrame({"patient_id": ids, truth.index_name: np.round(indices, 3)})
        result.update(_write_cohort(args.out, clinical, measurements, truth, args, progress))
    return result


def _write_cohort(out: Path, clinical, measurements, truth: CohortTruth, args: argparse.Namespace,
                  progress: Progress) -> dict[str, Any]:
    write_atomic(out / "clinical.csv", lambda p: clinical.to_csv(p, index=False))
    write_atomic(out / "measurements.csv", lambda p: measurements.to_csv(p, index=False))
    write_json(out / "cohort_truth.json", {**truth.to_dict(), "index_column": truth.index_name,
                                            "n": len(clinical), "seed": args.seed,
                                            "anatomy": args.anatomy})
    progress.update("cohort", 1.0, f"wrote clinical.csv for {len(clinical)} patients")
    return {"clinical": str(out / "clinical.csv"), "measurements": str(out / "measurements.csv"),
            "truth": str(out / "cohort_truth.json")}


COMMAND = Command("phantom", "generate synthetic phantom cases and simulated cohorts", _add_arguments, _run)
