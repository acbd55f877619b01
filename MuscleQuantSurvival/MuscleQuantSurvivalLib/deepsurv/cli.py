"""``musclequant cohort deepsurv``: the radiomics survival pipeline from the command line.

Example::

    musclequant cohort deepsurv clinical.csv --measurements measurements.csv \\
        --features features.csv --split-column split --out deepsurv/
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from MuscleQuantLib.errors import InputError
from MuscleQuantLib.progress import Progress

from .hcc import HCC_DEFINITIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--features", type=Path, required=True,
                        help="feature table from `musclequant radiomics` (patient_id + one column per feature)")
    parser.add_argument("--split-column", default="split",
                        help="clinical column with train / internal / external per patient (default split)")
    parser.add_argument("--endpoint", default="OS", help="endpoint to model (default OS)")
    parser.add_argument("--definitions", default=",".join(HCC_DEFINITIONS),
                        help="definitions to compare against (default: the HCC paper's five)")
    parser.add_argument("--auc-months", default="12,24,36", help="times for the time-dependent AUC (default 12,24,36)")
    parser.add_argument("--code-size", type=int, default=100, help="autoencoder variables (default 100, as the paper)")
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples for C-index CIs (default 200)")
    parser.add_argument("--overwrite", action="store_true", help="replace the results in an existing --out folder")


def request_from_args(args: argparse.Namespace):  # noqa: ANN201 - DeepSurvRequest, imported with torch
    from .analysis import DeepSurvRequest
    from .training import DeepSurvSettings

    try:
        months = tuple(float(m) for m in args.auc_months.split(",") if m.strip())
    except ValueError:
        raise InputError(f"expected comma-separated months such as 12,24,36, got {args.auc_months!r}",
                         field="--auc-months") from None
    if args.code_size < 2:
        raise InputError("must be at least 2", field="--code-size")
    definitions = tuple(d.strip() for d in args.definitions.split(",") if d.strip())
    return DeepSurvRequest(endpoint=args.endpoint, split_column=args.split_column, definitions=definitions,
                           auc_months=months, n_bootstrap=args.bootstrap, exclude_invalid=args.exclude_invalid,
                           settings=DeepSurvSettings(code_size=args.code_size, seed=args.seed))


def _moved(value: Any, staging: Path, out: Path) -> Any:
    """A written path (or list of them) where it lives after the staged folder was committed."""
    from ..staging import final_path

    return [final_path(v, staging, out) for v in value] if isinstance(value, list) else final_path(value, staging, out)


def run(args: argparse.Namespace, progress: Progress, cohort) -> dict[str, Any]:
    from ..staging import staged_folder
    from .analysis import read_features, run_deepsurv
    from .outputs import write_run

    if args.out is None:
        raise InputError("give --out FOLDER for the tables, figures and model", field="--out")
    if args.out.exists() and any(args.out.iterdir()) and not args.overwrite:
        raise InputError("is not empty; use --overwrite or another folder", path=args.out)
    request = request_from_args(args)
    features = read_features(args.features, cohort.columns.id)
    progress.update("deepsurv", 0.1, "fitting scaler, autoencoder and DeepSurv on the training set")
    result = run_deepsurv(cohort, features, request)
    progress.update("deepsurv", 0.8, "writing tables, figures and the model")
    # Staged like every cohort command: a full disk or an interruption leaves no risk table without its model,
    # and an earlier run's files stay as they were until the new ones are complete.
    with staged_folder(args.out) as staging:
        written = write_run(staging, cohort, features, result, request, overwrite=args.overwrite)
    written = {k: v if k == "comparison" else _moved(v, staging, args.out) for k, v in written.items()}
    progress.update("deepsurv", 1.0, f"wrote {args.out}")
    return {"files": {k: v for k, v in written.items() if k != "comparison"}, "comparison": written["comparison"],
            "notes": result.notes}
