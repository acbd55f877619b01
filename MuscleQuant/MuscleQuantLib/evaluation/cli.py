"""``musclequant evaluate``: predicted vs reference label maps → metrics.json, metrics.csv, cohort.json.

Every pair is read, checked and measured before the first file is written, so bad input (a missing
file, maps on different grids, an unknown label) ends with one line and exit 2 and leaves no output.
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path
from typing import Any

from .. import __version__
from ..command import Command
from ..errors import InputError
from ..fileio import write_atomic, write_json
from ..progress import Progress
from .cases import (
    EvaluationOptions,
    PairSpec,
    evaluate_pair,
    pairs_from_csv,
    pairs_from_dirs,
    parse_label_names,
)
from .cohort import COLUMNS, CaseResult, cohort_statistics
from .metrics import CONVENTIONS

METRICS_JSON = "metrics.json"
METRICS_CSV = "metrics.csv"
COHORT_JSON = "cohort.json"
DEFAULT_GLOB = "*_labels.*"


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prediction", nargs="?", type=Path, help="predicted label map (one pair)")
    parser.add_argument("reference", nargs="?", type=Path, help="reference (manual/ground-truth) label map")
    parser.add_argument("--pairs", type=Path, metavar="CSV",
                        help="many pairs: CSV with case_id,prediction,reference[,image,slice,summary] "
                        "(relative paths from the CSV's folder)")
    parser.add_argument("--pred-dir", type=Path, help="folder of predictions, matched to --ref-dir by case id")
    parser.add_argument("--ref-dir", type=Path, help="folder of references")
    parser.add_argument("--pred-glob", default=DEFAULT_GLOB, help=f"prediction files in --pred-dir ({DEFAULT_GLOB})")
    parser.add_argument("--ref-glob", default=DEFAULT_GLOB, help=f"reference files in --ref-dir ({DEFAULT_GLOB})")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--case-id", help="one pair: its case id (default: from the reference file name)")
    parser.add_argument("--image", type=Path, help="one pair: the image, to check both maps lie on its grid")
    parser.add_argument("--summary", type=Path, help="one pair: the prediction's _segmentation.json "
                        "(default: found beside the prediction)")
    parser.add_argument("--label-names", help="JSON file or inline '1=name,2=name'; when given, only these "
                        "labels are evaluated (default names: the prediction's summary, else label_<value>)")
    parser.add_argument("--labels", help="comma-separated label values to evaluate (default: all present)")
    parser.add_argument("--merge-sides", action="store_true",
                        help="map the prediction's sided engine labels (psoas_major_left/right) to the preset's "
                        "training classes (psoas_major), to compare with class-labelled references")
    parser.add_argument("--reference-sided", action="store_true",
                        help="with --merge-sides: the reference has sided engine labels too; merge it as well")
    parser.add_argument("--preset", help="preset for --merge-sides (default: the prediction summary's)")
    parser.add_argument("--slice", type=int, dest="slice_index", metavar="K",
                        help="compare stored slice K only, in 2D (default: the slice the prediction's summary names)")
    parser.add_argument("--overwrite", action="store_true", help="replace earlier results in --out")


def _parse_label_values(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise InputError(f"{text!r} is not a comma-separated list of integers", field="--labels") from None
    if not values or min(values) <= 0:
        raise InputError("needs at least one label value > 0 (0 is background)", field="--labels")
    return values


def _pairs(args: argparse.Namespace) -> list[PairSpec]:
    """Exactly one way of naming the pairs; the per-pair options only with a single pair."""
    single = args.prediction is not None or args.reference is not None
    folders = args.pred_dir is not None or args.ref_dir is not None
    if sum([single, args.pairs is not None, folders]) != 1:
        raise InputError("give exactly one of: PREDICTION REFERENCE, --pairs CSV, or --pred-dir with --ref-dir")
    if not single:
        for name in ("case_id", "image", "summary"):
            if getattr(args, name) is not None:
                raise InputError("only for a single pair (use the CSV columns for many)",
                                 field=f"--{name.replace('_', '-')}")
    if single:
        if args.reference is None:
            raise InputError("missing: give PREDICTION and REFERENCE", field="reference")
        from .cases import case_id_from_name

        return [PairSpec(args.case_id or case_id_from_name(args.reference), args.prediction, args.reference,
                         args.image, None, args.summary)]
    if args.pairs is not None:
        return pairs_from_csv(args.pairs)
    if args.pred_dir is None or args.ref_dir is None:
        raise InputError("--pred-dir and --ref-dir go together", field="--ref-dir" if args.ref_dir is None
                         else "--pred-dir")
    return pairs_from_dirs(args.pred_dir, args.ref_dir, args.pred_glob, args.ref_glob)


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder", path=out)
    for name in (METRICS_JSON, METRICS_CSV, COHORT_JSON):
        if (out / name).exists() and not overwrite:
            raise InputError(f"already holds evaluation results ({name}); use --overwrite or another folder",
                             path=out)


def json_safe(value: Any) -> Any:
    """NaN and ±inf become null: JSON has no such numbers, and readers choke on Python's 'NaN'."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _csv_cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return repr(round(value, 6))
    return value


def write_metrics_csv(path: Path, cases: list[CaseResult]) -> Path:
    """One row per case × label; empty cells are undefined values (see the note column)."""
    def writer(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            table = csv.DictWriter(handle, fieldnames=list(COLUMNS))
            table.writeheader()
            for case in cases:
                for row in case.rows():
                    table.writerow({k: _csv_cell(v) for k, v in row.items()})

    return write_atomic(path, writer)


def _run(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    options = EvaluationOptions(
        label_names=parse_label_names(args.label_names) if args.label_names else None,
        labels=_parse_label_values(args.labels), preset=args.preset,
        merge_sides=("both" if args.reference_sided else "prediction") if args.merge_sides else None,
        slice_index=args.slice_index)
    for given, name in ((args.preset, "--preset"), (args.reference_sided, "--reference-sided")):
        if given and not args.merge_sides:
            raise InputError("only used with --merge-sides", field=name)
    _check_out(args.out, args.overwrite)
    pairs = _pairs(args)
    cases: list[CaseResult] = []
    for number, pair in enumerate(pairs):
        progress.update("evaluate", number / len(pairs), f"case {pair.case_id} ({number + 1} of {len(pairs)})")
        cases.append(evaluate_pair(pair, options))
    cohort = cohort_statistics(cases) if len(cases) >= 2 else None  # may refuse mixed 2D/3D: before writing
    progress.update("evaluate", 1.0, f"writing results to {args.out}")

    document = {"tool": "musclequant evaluate", "version": __version__, "conventions": CONVENTIONS,
                "columns": COLUMNS, "cases": [case.to_dict() for case in cases]}
    files = [write_json(args.out / METRICS_JSON, json_safe(document)), write_metrics_csv(args.out / METRICS_CSV, cases)]
    if cohort is not None:
        files.append(write_json(args.out / COHORT_JSON, json_safe({"tool": "musclequant evaluate",
                                                                    "version": __version__, **cohort})))
    else:
        (args.out / COHORT_JSON).unlink(missing_ok=True)  # a stale cohort from an overwritten run would mislead
    if progress.mode == "text":
        _print_summary(cases)
    return {"out": str(args.out), "cases": len(cases), "files": [str(f) for f in files]}


def _print_summary(cases: list[CaseResult]) -> None:
    """A short human table: the all-muscle row of each case (or its only label)."""
    for case in cases:
        _, name, metrics = case.labels[-1] if case.labels else (None, "-", None)
        if metrics is None:
            print(f"{case.case_id}: no labels in either map")
            continue

        def show(v: float | None, fmt: str) -> str:
            return "n/a" if v is None else format(v, fmt)

        print(f"{case.case_id} {name}: Dice {show(metrics.dice, '.3f')}, HD95 {show(metrics.hausdorff95_mm, '.2f')} mm, "
              f"ASSD {show(metrics.assd_mm, '.2f')} mm, RVD {show(metrics.relative_volume_difference_percent, '+.1f')} %")


COMMAND = Command(
    "evaluate", "compare predicted with reference label maps: Dice, HD95, ASSD, volume agreement",
    _add_arguments, _run,
    description="Per label and case: Dice, Jaccard, precision, recall, Hausdorff distance (max, 95th "
    "percentile) and average symmetric surface distance in mm, signed relative volume difference; over "
    "several cases: volume (3D) or CSA (2D) correlation, Bland–Altman, ICC(2,1). Writes metrics.json, "
    "metrics.csv and, for two or more cases, cohort.json.")
