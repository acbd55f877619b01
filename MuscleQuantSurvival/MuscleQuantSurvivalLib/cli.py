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
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from MuscleQuantLib.command import Command
from MuscleQuantLib.errors import InputError
from MuscleQuantLib.progress import MODES, Progress

if TYPE_CHECKING:  # the analysis modules import pandas, lifelines and matplotlib: only when a command runs
    import pandas as pd

    from .groupings import GroupingSpec
    from .tables import CohortColumns, Endpoint


def _csv_list(text: str | None) -> tuple[str, ...]:
    return tuple(t.strip() for t in (text or "").split(",") if t.strip())


def parse_grouping(text: str, within: str | None = None, permutations: int = 1000) -> GroupingSpec:
    """KIND:VARIABLE[:VALUE], e.g. median:smi_cm2_m2, cutoff:smi_cm2_m2:45,
    sex_cutoff:smi_cm2_m2:M=52.4,F=38.5, definition:prado_smi, column:diagnosis, optimal:smi_cm2_m2."""
    from .groupings import GroupingSpec

    kind, _, rest = text.partition(":")
    kind = kind.replace("-", "_")
    variable, _, value = rest.partition(":")
    if kind == "definition":
        return GroupingSpec("definition", definition=variable)
    try:
        if kind == "cutoff":
            return GroupingSpec("cutoff", variable, within, cutoff=float(value))
        if kind == "sex_cutoff":
            pairs = dict(p.split("=") for p in value.split(","))
            return GroupingSpec("sex_cutoff", variable, cutoffs_by_sex={k.strip().upper(): float(v) for k, v in pairs.items()})
    except ValueError as exc:
        raise InputError(f"cannot read the grouping {text!r}: expected e.g. cutoff:smi_cm2_m2:45 or "
                         "sex_cutoff:smi_cm2_m2:M=52.4,F=38.5", field="--group") from exc
    return GroupingSpec(kind, variable or None, within, n_permutations=permutations)


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


def _columns(args: argparse.Namespace, numeric: tuple[str, ...] = ()) -> CohortColumns:
    from .tables import CohortColumns, Endpoint

    if bool(args.time) != bool(args.event):
        raise InputError("give --time and --event together", field="--time/--event")
    name = args.event.removesuffix("_event").upper() if args.event else ""  # os_event -> OS, arrest -> ARREST
    endpoints = (Endpoint(name, args.time, args.event),) if args.time else ()
    return CohortColumns(id=args.id_column, sex=args.sex_column, endpoints=endpoints, numeric=numeric)


def _load(args: argparse.Namespace, numeric: tuple[str, ...] = ()):  # noqa: ANN202 - a Cohort
    from .tables import load_cohort

    return load_cohort(args.clinical, args.measurements, _columns(args, numeric), args.sheet)


# Muscle indices in order of preference when the user names no --measure (a quantify table has many columns).
PREFERRED_MEASURES = ("smi_cm2_m2", "l3_smi_from_c3_cm2_m2", "psoas_index_cm2_m2", "csa_total_cm2", "tmt_mm")


def default_measure(cohort) -> str | None:
    """The index to analyse: a preferred muscle index if present, else the first numeric measurement."""
    import pandas as pd

    columns = cohort.measurement_columns
    for name in PREFERRED_MEASURES:
        if name in columns:
            return name
    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(cohort.data[c])]
    return numeric[0] if numeric else None


def _print(progress: Progress, text: str) -> None:
    """Human-readable results go to stdout unless stdout carries the JSON protocol."""
    if progress.mode != "json":
        print(text)


def _fmt(key: str, value: Any) -> str:
    if isinstance(value, tuple):
        return "/".join(_fmt(key, v) for v in value)
    if isinstance(value, float):
        from .formatting import format_p

        return format_p(value) if key.endswith("p_value") or key.endswith("_p") else f"{value:.4g}"
    return str(value)


def _note(progress: Progress, message: str) -> None:
    """A note the reader must see (PH violation, low EPV): stdout for people, a progress line for Slicer."""
    if progress.mode == "json":
        progress.info(message)
    else:
        _print(progress, f"note: {message}")


def _write_csv(out: Path | None, name: str, frame: pd.DataFrame, written: list[str]) -> None:
    if out is not None:
        from MuscleQuantLib.fileio import write_atomic

        target = out / f"{name}.csv"
        write_atomic(target, lambda p: frame.to_csv(p, index=False))
        written.append(str(target))


PARALLEL_FIGURES_FROM = 2000  # patients: below this a figure worker process costs more than it saves


def _parallel_figures(cohort, out: Path | None) -> bool:  # noqa: ANN001
    """Write figures in a worker process for large cohorts (their KM curves dominate the CPU time)."""
    return out is not None and len(cohort.data) >= PARALLEL_FIGURES_FROM


def _endpoints(cohort, names: tuple[str, ...]) -> list[Endpoint]:  # noqa: ANN001
    from .analyses import find_endpoint

    return [find_endpoint(cohort, n) for n in names] if names else list(cohort.endpoints)


# ----- subcommands ------------------------------------------------------------------------------
def _validate(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    from MuscleQuantLib.fileio import write_atomic

    from .tables import CohortTableError

    cohort = _load(args, _csv_list(args.numeric))
    report = cohort.report
    for line in report.lines():
        _print(progress, line)
        progress.update("validate", None, line)
    if args.out:
        write_atomic(args.out, lambda p: report.to_frame().to_csv(p, index=False))
    endpoints = ", ".join(f"{e.name} ({e.time}, {e.event})" for e in cohort.endpoints) or "none"
    _print(progress, f"{report.summary()}; endpoints: {endpoints}")
    if report.errors:
        raise CohortTableError(f"{len(report.errors)} errors in the cohort tables (listed above, one per row and "
                               "column); fix them, or pass --exclude-invalid to analyses to leave those rows out")
    return {"ok": True, "summary": report.summary(), "warnings": len(report.warnings)}


def _km(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    import pandas as pd

    from . import figures
    from .figure_writer import FigureWriter
    from .groupings import make_groups
    from .km import kaplan_meier

    cohort = _load(args)
    written: list[str] = []
    results = []
    with FigureWriter(_parallel_figures(cohort, args.out)) as writer:
        for endpoint in _endpoints(cohort, _csv_list(args.endpoint)):
            groups = (make_groups(cohort, parse_grouping(args.group, args.within, args.permutations), endpoint,
                                  args.exclude_invalid, args.seed) if args.group else None)
            result = kaplan_meier(cohort, endpoint, groups, args.exclude_invalid)
            _print(progress, f"\n{result.title}\n{result.table.to_string(index=False)}\n{result.logrank_text()}\n"
                   + "\n".join(result.notes) + f"\n{result.exclusions.summary()}")
            stem = f"km_{endpoint.name.lower()}"
            _write_csv(args.out, stem, result.table.assign(logrank_p=result.logrank_p), written)
            if args.out is not None:
                written += [str(p) for p in writer.save(figures.km_figure(result), args.out / stem)]
                if groups is not None and groups.cutpoint is not None:
                    _write_csv(args.out, f"{stem}_cutpoint", pd.DataFrame([groups.cutpoint.to_dict()]), written)
            results.append({"endpoint": endpoint.name, "logrank_p": result.logrank_p, "used": result.exclusions.n_used})
    return {"analyses": results, "files": written}


def _cox(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    import pandas as pd

    from . import figures
    from .analyses import CoxSpec, cox_analysis, univariate_screen
    from .figure_writer import FigureWriter

    covariates = _csv_list(args.covariates)
    cohort = _load(args, tuple(c for c in covariates if c != args.sex_column))
    per_unit = {}
    for item in _csv_list(args.per_unit):
        name, _, unit = item.partition("=")
        try:
            per_unit[name] = float(unit)
        except ValueError as exc:
            raise InputError(f"expected COLUMN=UNIT such as smi_cm2_m2=10, got {item!r}", field="--per-unit") from exc
    grouping = parse_grouping(args.group, args.within, args.permutations) if args.group else None
    written: list[str] = []
    results = []
    with FigureWriter(parallel=False) as writer:  # forest plots are cheap: a worker's start-up costs more
        for endpoint in _endpoints(cohort, _csv_list(args.endpoint)):
            spec = CoxSpec(endpoint.name, covariates, grouping, _csv_list(args.per_sd), per_unit, _csv_list(args.strata),
                           args.formula, args.penalizer)
            result = cox_analysis(cohort, spec, args.exclude_invalid, args.bootstrap, args.seed)
            shown = result.table[["label", "coef", "se", "hr", "hr_ci_low", "hr_ci_high", "p"]]
            ci = result.concordance_ci
            _print(progress, f"\n{result.title}\n{shown.to_string(index=False)}\nn = {result.n}, events = {result.events}, "
                   f"events per variable = {result.epv:.1f}, C-index {result.concordance:.3f} (95 % CI {ci[0]:.3f}-{ci[1]:.3f})"
                   f"\n{result.exclusions.summary() if result.exclusions else ''}")
            for message in result.messages:
                _note(progress, message)
            stem = f"cox_{endpoint.name.lower()}"
            _write_csv(args.out, stem, result.table, written)
            _write_csv(args.out, f"{stem}_ph_test", result.ph_test, written)
            _write_csv(args.out, f"{stem}_model", pd.DataFrame([result.summary_row()]), written)
            if args.univariate:
                table, _ = univariate_screen(cohort, spec, args.exclude_invalid, 0, args.seed)
                _print(progress, f"univariate models:\n{table.to_string(index=False)}")
                _write_csv(args.out, f"{stem}_univariate", table, written)
            if args.out is not None:
                written += [str(p) for p in writer.save(figures.forest_figure(result.table, result.title),
                                                                args.out / f"forest_{endpoint.name.lower()}")]
            results.append({"endpoint": endpoint.name, "coefficients": result.params(), "n": result.n,
                            "events": result.events, "ph_violations": result.ph_violations, "messages": result.messages})
    return {"models": results, "files": written}


def _definitions(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    from . import figures
    from .definitions_table import definitions_table

    cohort = _load(args)
    table = definitions_table(cohort, _csv_list(args.definitions) or None, _csv_list(args.endpoint) or None,
                              ["male" if a == args.sex_column else a for a in _csv_list(args.adjust)],
                              args.exclude_invalid)
    shown = table[["name", "endpoint", "n_classified", "n_sarcopenic", "prevalence_pct", "hr", "hr_ci_low",
                   "hr_ci_high", "p", "note"]]
    _print(progress, shown.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    written: list[str] = []
    _write_csv(args.out, "definitions", table, written)
    if args.out is not None:
        plotted = table.dropna(subset=["hr"]).assign(label=lambda t: t["name"] + " — " + t["endpoint"])
        if not plotted.empty:
            written += [str(p) for p in figures.save_figure(
                figures.forest_figure(plotted, "Sarcopenic vs not sarcopenic"), args.out / "forest_definitions")]
    return {"rows": len(table), "files": written}


def _stats(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    import pandas as pd

    from .analyses import agree, compare_groups, correlate

    cohort = _load(args)
    results = []
    for item in args.correlate or []:
        x, _, rest = item.partition(":")
        y, _, method = rest.partition(":")
        results.append(correlate(cohort, x, y, method or "pearson", args.exclude_invalid))
    for item in args.t_test or []:
        value, _, by = item.partition(":")
        results.append(compare_groups(cohort, value, by, args.exclude_invalid))
    for item in args.agreement or []:
        automated, _, manual = item.partition(":")
        results.append(agree(cohort, automated, manual, args.exclude_invalid))
    if not results:
        raise InputError("nothing to compute: give --correlate X:Y, --t-test VALUE:GROUP or --agreement AUTO:MANUAL")
    table = pd.DataFrame([r.row() for r in results])
    for result in results:
        shown = ", ".join(f"{k} {_fmt(k, v)}" for k, v in result.values.items() if k not in ("method", "kind"))
        _print(progress, f"{result.title}: {shown} ({result.exclusions.summary()})")
    written: list[str] = []
    _write_csv(args.out, "statistics", table, written)
    return {"analyses": len(results), "files": written}


def _report(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    from .config import RunConfig, default_config
    from .report import build_report
    from .tables import load_cohort

    cohort = None
    notes: list[str] = []
    if args.config:
        config = RunConfig.load(args.config)
        notes = config.check_inputs(args.allow_changed_inputs)
    else:
        if args.clinical is None:
            raise InputError("give the clinical table, or --config run.json from an earlier report")
        columns = _columns(args)
        cohort = load_cohort(args.clinical, args.measurements, columns, args.sheet)
        measure = args.measure or default_measure(cohort)
        endpoint_columns = {"endpoints": [vars(e) for e in columns.endpoints]} if columns.endpoints else {}
        config = default_config(str(args.clinical.resolve()), str(args.measurements.resolve()) if args.measurements else None,
                                measure, set(cohort.data.columns), [e.name for e in cohort.endpoints],
                                sex_column=args.sex_column, title=args.title, exclude_invalid=args.exclude_invalid,
                                columns={"id": args.id_column, "sex": args.sex_column, **endpoint_columns},
                                n_bootstrap=args.bootstrap, seed=args.seed)
        if args.features:
            config.deepsurv = {"features": str(args.features.resolve()), "split_column": args.split_column}
        if args.agreement:
            config.agreement = [dict(zip(("automated", "manual"), a.split(":", 1), strict=True)) for a in args.agreement]
    for note in notes:
        _note(progress, note)
    result = build_report(config, args.out, progress, cohort, notes, parallel_figures=None)
    for failure in result["failed_analyses"]:
        print(f"musclequant cohort report: not done: {failure}", file=sys.stderr)
    _print(progress, f"report: {result['report']}\nconfiguration: {result['config']}")
    return result


def _deepsurv(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    from .deepsurv import cli as deepsurv_cli

    result = deepsurv_cli.run(args, progress, _load(args))
    for name, row in result["comparison"].items():
        _print(progress, f"{name}: DeepSurv C-index {row['deepsurv_c_index']:.3f}; best definition "
               f"{row['best_definition'] or 'n/a'} {row['best_definition_c_index']:.3f}")
    for note in result["notes"]:
        _note(progress, note)
    return result


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
    for name, p, handler in (("deepsurv", deepsurv, _deepsurv), ("validate", validate, _validate), ("km", km, _km), ("cox", cox, _cox),
                             ("definitions", definitions, _definitions), ("stats", stats, _stats),
                             ("report", report, _report)):
        p.set_defaults(_cohort_handler=handler)
        del name


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
    from .staging import final_path, staged_folder, write_error

    _check_counts(args)
    try:
        if args.cohort_command not in STAGED or args.out is None:
            return args._cohort_handler(args, progress)
        out = args.out
        with staged_folder(out) as staging:
            args.out = staging
            result = args._cohort_handler(args, progress)
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
