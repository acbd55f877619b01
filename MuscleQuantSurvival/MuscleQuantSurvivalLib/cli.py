"""``musclequant cohort``: validate cohort tables, Kaplan–Meier, Cox, sarcopenia definitions side by
side, correlation/agreement statistics and the full HTML report.

Examples::

    musclequant cohort validate clinical.csv --measurements measurements.csv
    musclequant cohort km clinical.csv --measurements m.csv --group median:smi_cm2_m2 --within sex --out km/
    musclequant cohort cox clinical.csv --measurements m.csv --endpoint OS \\
        --covariates smi_cm2_m2,age,sex --per-sd smi_cm2_m2 --out cox/
    musclequant cohort definitions clinical.csv --measurements m.csv --out defs/
    musclequant cohort report clinical.csv --measurements m.csv --out report/
    musclequant cohort report --config report/run.json --out report2/

This module builds the arguments and dispatches; the handlers live in :mod:`.cohort_commands`, imported
only when an action runs, so ``musclequant --help`` and the command table stay light.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from MuscleQuantLib.command import Command
from MuscleQuantLib.errors import InputError
from MuscleQuantLib.progress import MODES, Progress


def _add_table_arguments(parser: argparse.ArgumentParser, clinical_required: bool = True) -> None:
    parser.add_argument("clinical", type=Path, nargs=None if clinical_required else "?",
                        help="clinical table (.csv or .xlsx): patient id, age, sex, height_m, weight_kg, "
                        "<endpoint>_months and <endpoint>_event columns")
    parser.add_argument("--measurements", type=Path, help="measurement table (the quantify CSV), joined on patient id")
    parser.add_argument("--sheet", help="XLSX sheet name (default: the first sheet)")
    parser.add_argument("--id-column", default="patient_id", help="patient id column (default patient_id)")
    parser.add_argument("--sex-column", default="sex", help="sex column, values M/F (default sex)")
    parser.add_argument("--time", help="time column of a single endpoint (default: detect <name>_months/<name>_event)")
    parser.add_argument("--event", help="event column (0 censored, 1 event) that goes with --time")
    parser.add_argument("--exclude-invalid", action="store_true",
                        help="leave rows with errors out (listed in the output) instead of refusing the table")
    parser.add_argument("--progress", choices=MODES, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="cohort_command", metavar="ACTION", required=True)

    validate = sub.add_parser("validate", help="check the tables; row-level messages, exit 2 on errors")
    _add_table_arguments(validate)
    validate.add_argument("--numeric", help="further comma-separated clinical columns that must hold numbers")
    validate.add_argument("--out", type=Path, help="also write the issues as CSV to this file")

    def analysis(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        _add_table_arguments(p, clinical_required=name != "report")
        p.add_argument("--out", type=Path, required=name == "report", help="output folder for CSV tables and figures")
        p.add_argument("--seed", type=int, default=0, help="seed for bootstrap and permutations (default 0)")
        return p

    km = analysis("km", "Kaplan–Meier curves, log-rank test, median survival with 95 %% CI")
    cox = analysis("cox", "Cox model: HR with 95 %% CI, EPV, PH test, C-index with bootstrap CI, forest plot")
    for p in (km, cox):
        p.add_argument("--endpoint", help="endpoint name(s), comma-separated (default: all, e.g. OS,PFS)")
        p.add_argument("--group", help="grouping KIND:VARIABLE[:VALUE]: median, tertiles, quartiles, cutoff, "
                       "sex_cutoff, definition, column or optimal (exploratory), e.g. median:smi_cm2_m2")
        p.add_argument("--within", help="split within each level of this column (e.g. cohort or sex)")
        p.add_argument("--permutations", type=int, default=1000, help="permutations for the optimal cut-point p")
    cox.add_argument("--covariates", help="comma-separated covariates (sex is entered as male 0/1)")
    cox.add_argument("--formula", help="lifelines/formulaic formula instead of --covariates, e.g. 'age + bs(smi, df=3)'")
    cox.add_argument("--strata", help="comma-separated stratification columns")
    cox.add_argument("--per-sd", help="covariates to report per standard deviation")
    cox.add_argument("--per-unit", help="COLUMN=UNIT pairs: HR per this many units, e.g. smi_cm2_m2=10")
    cox.add_argument("--penalizer", type=float, default=0.0, help="L2 penalty (helps with separation)")
    cox.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples for the C-index CI (default 200)")
    cox.add_argument("--univariate", action="store_true", help="also fit each covariate alone")

    definitions = analysis("definitions", "sarcopenia definitions side by side: prevalence and HR per endpoint")
    definitions.add_argument("--definitions", help="comma-separated definition keys (default: all that apply)")
    definitions.add_argument("--endpoint", help="endpoint name(s), comma-separated (default: all)")
    definitions.add_argument("--adjust", help="comma-separated covariates to adjust the HR for (e.g. age,sex)")

    stats = analysis("stats", "correlation (Pearson/Spearman), t-test by group, Bland–Altman and ICC(2,1)")
    stats.add_argument("--correlate", action="append", help="X:Y[:spearman], e.g. smi_cm2_m2:age")
    stats.add_argument("--t-test", action="append", help="VALUE:GROUP, e.g. smi_cm2_m2:sex")
    stats.add_argument("--agreement", action="append", help="AUTOMATED:MANUAL columns, e.g. csa_auto:csa_manual")

    report = analysis("report", "everything for a cohort: self-contained HTML report, CSV tables, figures, run.json")
    report.add_argument("--config", type=Path, help="run configuration (run.json of an earlier report) to reproduce; "
                        "refused when an input table changed since (SHA-256s recorded in run.json)")
    report.add_argument("--allow-changed-inputs", action="store_true",
                        help="with --config: run on tables that changed since run.json was written (noted in the report)")
    report.add_argument("--measure", help="measurement column to analyse (default: the first measurement column)")
    report.add_argument("--agreement", action="append", help="AUTOMATED:MANUAL columns for Bland–Altman and ICC")
    report.add_argument("--title", default="MuscleQuant cohort report", help="report title")
    report.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples for C-index CIs")
    report.add_argument("--features", type=Path, help="radiomics feature table: adds the DeepSurv section")
    report.add_argument("--split-column", default="split", help="with --features: train/internal/external column")
    deepsurv = analysis("deepsurv", "radiomics survival: autoencoder + DeepSurv on feature tables, evaluated per "
                        "train/internal/external set against the sarcopenia definitions")
    from .deepsurv.cli import add_arguments as add_deepsurv_arguments

    add_deepsurv_arguments(deepsurv)


COUNTS = {"bootstrap": "--bootstrap", "permutations": "--permutations", "seed": "--seed", "code_size": "--code-size"}


def _check_counts(args: argparse.Namespace) -> None:
    """Resample and permutation counts and seeds are whole numbers >= 0; a negative one was silently
    treated as 0 (no confidence interval, no permutation p) before."""
    for name, option in COUNTS.items():
        value = getattr(args, name, None)
        if value is not None and value < 0:
            raise InputError(f"must be 0 or more, got {value}", field=option)


STAGED = ("km", "cox", "definitions", "stats")  # folder outputs written all at once (report stages itself)


def _run(args: argparse.Namespace, progress: Progress) -> Any:
    from .cohort_commands import HANDLERS
    from .staging import final_path, staged_folder, write_error

    _check_counts(args)
    handler = HANDLERS[args.cohort_command]
    try:
        if args.cohort_command not in STAGED or args.out is None:
            return handler(args, progress)
        out = args.out
        with staged_folder(out) as staging:
            args.out = staging
            result = handler(args, progress)
        result["files"] = [final_path(f, staging, out) for f in result.get("files", [])]
        return result
    except OSError as exc:  # a write outside the staged folders (validate --out, a figure file ...)
        raise write_error(exc, exc.filename or getattr(args, "out", None) or "output") from exc


COMMAND = Command(
    name="cohort",
    help="cohort survival analysis: validate, km, cox, definitions, stats, deepsurv, report",
    add_arguments=_add_arguments,
    run=_run,
    description="Validate cohort tables and run the survival analyses of SPEC 5 (Kaplan–Meier, log-rank, Cox, "
    "sarcopenia definitions side by side, correlation and agreement) with figures and an HTML report.",
)
