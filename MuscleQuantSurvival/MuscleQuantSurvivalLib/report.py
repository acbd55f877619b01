"""One cohort run → a self-contained HTML report (figures embedded as PNG data URIs), CSV tables,
figure files (PNG/SVG/PDF) and the configuration that reproduces it (``run.json``).

An analysis that cannot be done (separation, no events, a definition that does not apply) becomes a
section that says why; the rest of the report is still written.
"""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lifelines
import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter

from MuscleQuantLib import __version__
from MuscleQuantLib.errors import InputError
from MuscleQuantLib.fileio import write_atomic, write_json
from MuscleQuantLib.progress import NULL_PROGRESS, Progress

from . import figures
from .analyses import CoxSpec, agree, compare_groups, correlate, cox_analysis, univariate_screen
from .config import RunConfig
from .definitions_table import definitions_table
from .figure_writer import FigureWriter
from .groupings import make_groups
from .km import kaplan_meier
from .staging import final_path, staged_folder
from .tables import Cohort, Exclusions, load_cohort

FIGURE_TOKEN = "\x00figure\x00"  # stands for a PNG's base64 until the worker has written it
PARALLEL_FIGURES_FROM = 2000  # patients; below this a worker process costs more than the figures
STYLE = """body{font-family:system-ui,Arial,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 6px}
th{background:#f0f3f8}img.figure{max-width:100%;border:1px solid #ddd;margin:.5em 0}
.note{color:#7a4b00}.error{color:#a00}.exploratory{background:#fff3cd;padding:4px}section{margin-bottom:2em}"""
SCRIPT = """window.addEventListener('load',function(){var imgs=document.querySelectorAll('img.figure');var ok=0;
imgs.forEach(function(i){var d=i.complete&&i.naturalWidth>0;i.setAttribute('data-decoded',d?'true':'false');if(d)ok++;});
document.body.setAttribute('data-figures-decoded',ok+'/'+imgs.length);});"""


@dataclass
class Section:
    """One part of the report: HTML body, CSV tables and figures it produced."""

    title: str
    body: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)  # figure stems (file names without suffix)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60] or "analysis"


def _table_html(frame: pd.DataFrame) -> str:
    def fmt(value: Any) -> str:
        if isinstance(value, float):
            return "" if np.isnan(value) else ("NR" if np.isinf(value) else f"{value:.4g}")
        return str(value)
    return frame.to_html(index=False, escape=True, na_rep="", formatters={c: fmt for c in frame.columns}, border=0)


def _p(text: str, css: str = "") -> str:
    return f"<p class='{css}'>{html.escape(text)}</p>" if css else f"<p>{html.escape(text)}</p>"


class ReportBuilder:
    """Runs the configured analyses and writes tables, figures and the HTML file."""

    def __init__(self, config: RunConfig, out: Path, progress: Progress = NULL_PROGRESS, parallel_figures: bool = False,
                 writer: FigureWriter | None = None):
        self.config, self.out, self.progress = config, Path(out), progress
        self.sections: list[Section] = []
        self.exclusion_rows: list[dict[str, str]] = []
        self.figure_png: dict[str, bytes] = {}
        self.tables_written: list[Path] = []
        self.failures: list[str] = []
        self.notes: list[str] = []
        # started now: the worker's start-up overlaps the first analyses instead of the first figure's wait
        self.writer = writer if writer is not None else FigureWriter(parallel_figures, start_now=True)

    def __enter__(self) -> ReportBuilder:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.writer.__exit__(*exc)  # never leave the figure worker behind

    def write_table(self, name: str, frame: pd.DataFrame) -> None:
        target = self.out / "tables" / f"{name}.csv"
        write_atomic(target, lambda p: frame.to_csv(p, index=False))
        self.tables_written.append(target)

    def add_figure(self, section: Section, stem: str, figure: Any) -> None:
        """Queue the figure's files (written by the figure writer) and embed its PNG when the HTML is made."""
        self.writer.save(figure, self.out / "figures" / stem)
        self.figure_png[stem] = b""
        section.figures.append(stem)
        section.body.append(f"<img class='figure' alt='{html.escape(stem)}' data-figure='{html.escape(stem)}' "
                            f"src='data:image/png;base64,{FIGURE_TOKEN}{stem}{FIGURE_TOKEN}'>")

    def finish_figures(self) -> None:
        """Wait until every figure file is written; keep the PNG bytes for the HTML."""
        self.writer.close()
        for stem in self.figure_png:
            self.figure_png[stem] = self.writer.png(self.out / "figures" / stem)

    def record_exclusions(self, analysis: str, exclusions: Exclusions | None, section: Section) -> None:
        if exclusions is None:
            return
        section.body.append(_p(exclusions.summary(), "note" if exclusions.left_out else ""))
        self.exclusion_rows.extend({"analysis": analysis, "patient": who, "reason": why,
                                    "detail": exclusions.details.get(who, "")} for who, why in exclusions.left_out)

    def guarded(self, section: Section, work: Any) -> None:
        """Run one analysis; a user-fixable failure becomes a message in its section."""
        try:
            work()
        except InputError as exc:
            message = " ".join(str(exc).split())
            self.failures.append(f"{section.title}: {message}")
            section.body.append(_p(f"Not done: {message}", "error"))

    # ----- sections -------------------------------------------------------------------------
    def data_summary(self, cohort: Cohort) -> None:
        section = Section("Data summary")
        rows = [{"item": f"rows in {name}", "value": n} for name, n in cohort.report.n_rows.items()]
        rows.append({"item": "rows with errors", "value": len(cohort.invalid)})
        data = cohort.data.drop(index=list(cohort.invalid))
        for endpoint in cohort.endpoints:
            part = data[[endpoint.time, endpoint.event]].dropna()
            follow = KaplanMeierFitter().fit(part[endpoint.time], 1 - part[endpoint.event]).median_survival_time_
            rows += [{"item": f"{endpoint.name}: patients / events", "value": f"{len(part)} / {int(part[endpoint.event].sum())}"},
                     {"item": f"{endpoint.name}: median follow-up (reverse KM)", "value": f"{follow:.1f}"}]
        numeric = [c for c in data.columns if not c.startswith("_") and pd.api.types.is_numeric_dtype(data[c])]
        describe = pd.DataFrame({"column": numeric, "n": [int(data[c].notna().sum()) for c in numeric],
                                 "missing": [int(data[c].isna().sum()) for c in numeric],
                                 "mean": [data[c].mean() for c in numeric], "sd": [data[c].std() for c in numeric],
                                 "median": [data[c].median() for c in numeric],
                                 "min": [data[c].min() for c in numeric], "max": [data[c].max() for c in numeric]})
        overview = pd.DataFrame(rows)
        if cohort.columns.sex in data.columns:
            counts = data[cohort.columns.sex].value_counts(dropna=False)
            overview = pd.concat([overview, pd.DataFrame([{"item": f"sex {k if isinstance(k, str) else 'missing'}",
                                                           "value": int(v)} for k, v in counts.items()])])
        section.body += [_table_html(overview), "<h3>Variables</h3>", _table_html(describe)]
        self.write_table("data_summary", describe)
        self.write_table("cohort_overview", overview.astype(str))
        issues = cohort.report.to_frame()
        self.write_table("validation_issues", issues)
        section.body.append(f"<h3>Validation ({html.escape(cohort.report.summary())})</h3>")
        if not issues.empty:
            section.body.append(_table_html(issues.head(200)))
        self.sections.append(section)

    def km_sections(self, cohort: Cohort) -> None:
        for spec in self.config.grouping_specs():
            for endpoint in cohort.endpoints:
                section = Section(f"Kaplan–Meier: {endpoint.name} by {spec.title}")
                name = f"km_{_slug(endpoint.name + '_' + spec.title)}"

                def work(spec=spec, endpoint=endpoint, section=section, name=name) -> None:
                    groups = make_groups(cohort, spec, endpoint, self.config.exclude_invalid, self.config.seed)
                    result = kaplan_meier(cohort, endpoint, groups, self.config.exclude_invalid)
                    if result.exploratory:
                        section.body.append(_p("EXPLORATORY: " + groups.notes[-1], "exploratory"))
                    section.body += [_p(n, "note") for n in result.notes if not n.startswith("exploratory:")]
                    section.body.append(_p(result.logrank_text() + (
                        f" (chi² {result.logrank_statistic:.2f}, df {result.logrank_df})" if result.logrank_p else "")))
                    section.body.append(_table_html(result.table))
                    self.write_table(name, result.table.assign(logrank_p=result.logrank_p))
                    if groups.cutpoint is not None:
                        self.write_table(f"{name}_cutpoint", pd.DataFrame([groups.cutpoint.to_dict()]))
                    self.record_exclusions(section.title, result.exclusions, section)
                    self.add_figure(section, name, figures.km_figure(result))
                self.guarded(section, work)
                self.sections.append(section)

    def cox_sections(self, cohort: Cohort) -> None:
        summaries = []
        for number, spec in enumerate(self.config.cox_specs()):
            section = Section(f"Cox model {number + 1}: {spec.title or spec.endpoint}")
            name = f"cox_{number + 1}"

            def work(spec: CoxSpec = spec, section: Section = section, name: str = name) -> None:
                result = cox_analysis(cohort, spec, self.config.exclude_invalid, self.config.n_bootstrap, self.config.seed)
                section.title = f"Cox: {result.title}"
                section.body += [_p(m, "exploratory" if m.startswith("EXPLORATORY") else "note") for m in result.messages]
                ci = result.concordance_ci
                section.body.append(_p(f"n = {result.n}, events = {result.events}, events per variable = {result.epv:.1f}; "
                                       f"C-index {result.concordance:.3f} (bootstrap 95 % CI {ci[0]:.3f}–{ci[1]:.3f})"))
                section.body.append(_table_html(result.table.drop(columns=["term"])))
                section.body += ["<h4>Proportional hazards (scaled Schoenfeld residuals, rank time)</h4>",
                                 _table_html(result.ph_test.drop(columns=["term"]))]
                self.write_table(name, result.table)
                self.write_table(f"{name}_ph_test", result.ph_test)
                summaries.append(result.summary_row())
                self.record_exclusions(section.title, result.exclusions, section)
                self.add_figure(section, f"forest_{name}", figures.forest_figure(result.table, result.title))
                if self.config.univariate and (len(spec.covariates) + (spec.grouping is not None)) > 1:
                    table, _ = univariate_screen(cohort, spec, self.config.exclude_invalid, 0, self.config.seed)
                    section.body += ["<h4>Univariate models</h4>", _table_html(table)]
                    self.write_table(f"{name}_univariate", table)
            self.guarded(section, work)
            self.sections.append(section)
        if summaries:
            self.write_table("cox_models", pd.DataFrame(summaries))

    def definitions_section(self, cohort: Cohort) -> None:
        if self.config.definitions == []:
            return
        section = Section("Sarcopenia definitions side by side")

        def work() -> None:
            table = definitions_table(cohort, self.config.definitions or None, None, self.config.definitions_adjust,
                                      self.config.exclude_invalid)
            section.body.append(_table_html(table.drop(columns=["citation"])))
            self.write_table("definitions", table)
            shown = table.dropna(subset=["hr"]).assign(label=lambda t: t["name"] + " — " + t["endpoint"])
            if not shown.empty:
                self.add_figure(section, "forest_definitions",
                                figures.forest_figure(shown, "Sarcopenic vs not sarcopenic, per definition"))
        self.guarded(section, work)
        self.sections.append(section)

    def statistics_sections(self, cohort: Cohort) -> None:
        rows = []
        jobs = [("correlation", c) for c in self.config.correlations] + [("t-test", t) for t in self.config.t_tests] \
            + [("agreement", a) for a in self.config.agreement]
        for kind, spec in jobs:
            section = Section(f"{kind}: " + ", ".join(f"{k}={v}" for k, v in spec.items()))

            def work(kind: str = kind, spec: dict = spec, section: Section = section) -> None:
                if kind == "correlation":
                    result = correlate(cohort, spec["x"], spec["y"], spec.get("method", "pearson"), self.config.exclude_invalid)
                    figure = figures.scatter_figure(result.data[spec["x"]].to_numpy(), result.data[spec["y"]].to_numpy(),
                                                    spec["x"], spec["y"], result.title)
                elif kind == "t-test":
                    result = compare_groups(cohort, spec["value"], spec["by"], self.config.exclude_invalid)
                    figure = None
                else:
                    result = agree(cohort, spec["automated"], spec["manual"], self.config.exclude_invalid)
                    a, b = (result.data[c].to_numpy(dtype=float) for c in (spec["automated"], spec["manual"]))
                    v = result.values
                    figure = figures.bland_altman_figure(a, b, v["ba_bias"], v["ba_loa_low"], v["ba_loa_high"], result.title)
                section.title = result.title
                row = result.row()
                rows.append(row)
                section.body.append(_table_html(pd.DataFrame([{k: v for k, v in row.items() if k != "used"}])))
                self.record_exclusions(result.title, result.exclusions, section)
                if figure is not None:
                    self.add_figure(section, _slug(result.title), figure)
            self.guarded(section, work)
            self.sections.append(section)
        if rows:
            self.write_table("statistics", pd.DataFrame(rows))

    # ----- output -----------------------------------------------------------------------------
    def html(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        config_json = html.escape(json.dumps(self.config.to_dict(), indent=2, default=str))
        parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(self.config.title)}"
                 f"</title><meta name='figure-count' content='{len(self.figure_png)}'><style>{STYLE}</style>"
                 f"<script>{SCRIPT}</script></head><body>",
                 f"<h1>{html.escape(self.config.title)}</h1>",
                 _p(f"MuscleQuant {__version__}, lifelines {lifelines.__version__}; generated {stamp}. "
                    "Two-sided p-values; 95 % confidence intervals; Cox models use Efron ties."),
                 *[_p(f"Note: {note}", "note") for note in self.notes],
                 "<nav><ol>" + "".join(f"<li><a href='#s{i}'>{html.escape(s.title)}</a></li>"
                                       for i, s in enumerate(self.sections)) + "</ol></nav>"]
        for i, section in enumerate(self.sections):
            parts.append(f"<section id='s{i}'><h2>{html.escape(section.title)}</h2>{''.join(section.body)}</section>")
        exclusions = pd.DataFrame(self.exclusion_rows, columns=["analysis", "patient", "reason", "detail"])
        parts += ["<section><h2>Rows left out, by analysis</h2>",
                  _table_html(exclusions.groupby(["analysis", "reason"]).size().reset_index(name="rows"))
                  if not exclusions.empty else _p("No rows were left out of any analysis."), "</section>",
                  f"<section><h2>Configuration (run.json)</h2><pre>{config_json}</pre></section></body></html>"]
        self.write_table("exclusions", exclusions)
        return re.sub(f"{FIGURE_TOKEN}(.*?){FIGURE_TOKEN}",
                      lambda m: base64.b64encode(self.figure_png[m.group(1)]).decode(), "\n".join(parts))


def build_report(config: RunConfig, out: str | Path, progress: Progress = NULL_PROGRESS,
                 cohort: Cohort | None = None, notes: list[str] | None = None,
                 parallel_figures: bool | None = False, writer: FigureWriter | None = None) -> dict[str, Any]:
    """Run every configured analysis and write report.html, tables/, figures/ and run.json under ``out``.

    ``cohort``: the tables the configuration names, already loaded with its columns (the command line
    loads them once to build the default configuration and passes them on instead of reading twice).
    ``notes``: what the reader must know about the run (e.g. inputs changed since run.json), shown on top.
    Everything is written to a staging folder and moved into ``out`` only when complete; run.json records
    the SHA-256 of every input table so ``--config`` can tell when the tables changed.
    ``parallel_figures``: write figure files in a worker process (None: when the cohort is large).
    ``writer``: a figure writer the caller started earlier (its worker starting while this module imported);
    it replaces ``parallel_figures`` and is closed here."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder", path=out)
    progress.update("report", 0.0, "loading and validating the cohort tables")
    digests = config.current_digests()
    if cohort is None:
        cohort = load_cohort(config.clinical, config.measurements, config.cohort_columns(), config.sheet)
    cohort.require_valid(config.exclude_invalid)
    if parallel_figures is None:
        parallel_figures = len(cohort.data) >= PARALLEL_FIGURES_FROM
    with staged_folder(out) as staging, ReportBuilder(config, staging, progress, parallel_figures, writer) as builder:
        builder.notes = list(notes or [])
        steps = [("data summary", builder.data_summary), ("Kaplan–Meier", builder.km_sections),
                 ("Cox models", builder.cox_sections), ("definitions", builder.definitions_section),
                 ("correlation and agreement", builder.statistics_sections)]
        if config.deepsurv:
            from .deepsurv.report_section import add_deepsurv_section

            steps.append(("radiomics deep survival",
                          lambda c: add_deepsurv_section(builder, c, Section, _table_html, _p)))
        for number, (label, step) in enumerate(steps):
            progress.update("report", number / len(steps), label)
            step(cohort)
        builder.finish_figures()
        config.inputs = digests
        write_json(staging / "run.json", config.to_dict())
        text = builder.html()
        write_atomic(staging / "report.html", lambda p: p.write_text(text, encoding="utf-8"))
    progress.update("report", 1.0, f"wrote {out / 'report.html'}")
    return {"report": str(out / "report.html"), "config": str(out / "run.json"),
            "figures": sorted(builder.figure_png),
            "tables": [final_path(p, staging, out) for p in builder.tables_written],
            "failed_analyses": builder.failures, "validation": cohort.report.summary(), "notes": builder.notes}
