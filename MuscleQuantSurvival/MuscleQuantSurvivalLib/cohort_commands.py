"""The ``musclequant cohort`` actions: each handler loads the cohort tables, runs its analyses and
writes tables and figures (the argument parser and dispatch are in :mod:`.cli`).

Imported only when an action runs: the analysis modules pull in pandas, lifelines and matplotlib.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from MuscleQuantLib.errors import InputError
from MuscleQuantLib.progress import Progress

if TYPE_CHECKING:
    import pandas as pd

    from .figure_writer import FigureWriter
    from .groupings import GroupingSpec
    from .tables import Cohort, CohortColumns, Endpoint


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
    from .figure_writer import FigureWriter

    covariates = _csv_list(args.covariates)
    cohort = _load(args, tuple(c for c in covariates if c != args.sex_column))
    # A large cohort's forest plots are built and written by a worker started now: its start-up and
    # matplotlib's import overlap lifelines' import and the fits, and this process never imports matplotlib.
    writer = FigureWriter(_parallel_figures(cohort, args.out), start_now=True)
    with writer:
        return _cox_models(args, progress, cohort, covariates, writer)


def _cox_models(args: argparse.Namespace, progress: Progress, cohort: Cohort, covariates: tuple[str, ...],
                writer: FigureWriter) -> dict[str, Any]:
    import pandas as pd

    from .analyses import CoxSpec, cox_analysis, univariate_screen
    from .formatting import forest_columns

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
            # plain numpy columns: the worker unpickles them without importing pandas
            written += [str(p) for p in writer.build("forest_figure", (forest_columns(result.table), result.title),
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
    from .figure_writer import FigureWriter

    if args.config:
        return _report_analyses(args, progress, None, None)
    if args.clinical is None:
        raise InputError("give the clinical table, or --config run.json from an earlier report")
    from .tables import load_cohort

    cohort = load_cohort(args.clinical, args.measurements, _columns(args), args.sheet)
    # A large cohort's figure worker starts now, while lifelines, scipy and matplotlib are imported here.
    with FigureWriter(_parallel_figures(cohort, args.out), start_now=True) as writer:
        return _report_analyses(args, progress, cohort, writer)


def _report_analyses(args: argparse.Namespace, progress: Progress, cohort: Cohort | None,
                     writer: FigureWriter | None) -> dict[str, Any]:
    from .config import RunConfig, default_config
    from .report import build_report

    notes: list[str] = []
    if args.config:
        config = RunConfig.load(args.config)
        notes = config.check_inputs(args.allow_changed_inputs)
    else:
        columns = _columns(args)
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
    result = build_report(config, args.out, progress, cohort, notes, parallel_figures=None, writer=writer)
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


HANDLERS = {"validate": _validate, "km": _km, "cox": _cox, "definitions": _definitions, "stats": _stats,
            "report": _report, "deepsurv": _deepsurv}
