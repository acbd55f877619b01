"""Cohort-level analyses: Cox models from a saved specification, univariate screens, correlations,
group comparisons and method agreement, each reporting the rows it used and why others were left out."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from MuscleQuantLib import agreement
from MuscleQuantLib.errors import InputError

from .cox import CoxResult, fit_cox
from .groupings import GroupingSpec, Groups, indicator_columns, make_groups
from .tables import Cohort, Endpoint, Exclusions


def find_endpoint(cohort: Cohort, name: str) -> Endpoint:
    """The cohort endpoint called ``name`` (case-insensitive), e.g. 'OS' or 'os'."""
    for endpoint in cohort.endpoints:
        if endpoint.name.lower() == name.lower():
            return endpoint
    known = ", ".join(e.name for e in cohort.endpoints) or "none"
    raise InputError(f"unknown endpoint {name!r}; the cohort has: {known}")


@dataclass(frozen=True)
class CoxSpec:
    """A Cox model as saved in a run configuration."""

    endpoint: str
    covariates: tuple[str, ...] = ()
    grouping: GroupingSpec | None = None  # its group indicators enter the model first
    per_sd: tuple[str, ...] = ()  # HR per standard deviation of these covariates
    per_unit: dict[str, float] = field(default_factory=dict)  # HR per this many units, e.g. {'smi_cm2_m2': 10}
    strata: tuple[str, ...] = ()
    formula: str | None = None
    penalizer: float = 0.0
    title: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["grouping"] = self.grouping.to_dict() if self.grouping else None
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CoxSpec:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise InputError(f"cox model: unknown field(s) {', '.join(sorted(unknown))}")
        values = dict(data)
        if values.get("grouping"):
            values["grouping"] = GroupingSpec.from_dict(values["grouping"])
        for key in ("covariates", "per_sd", "strata"):
            values[key] = tuple(values.get(key) or ())
        return cls(**values)


def _model_columns(cohort: Cohort, covariates: tuple[str, ...]) -> list[str]:
    """Covariates as model columns: the sex column becomes the 0/1 column 'male'."""
    return ["male" if c == cohort.columns.sex else c for c in covariates]


def _merge_exclusions(cohort: Cohort, base: Exclusions, data: pd.DataFrame, groups: Groups) -> tuple[pd.DataFrame, Exclusions]:
    reasons = dict(groups.exclusions.left_out)
    grouped = data.index.isin(groups.labels.index)  # one hash lookup per row instead of one `in` per row
    kept = data.index[grouped]
    left = list(base.left_out) + [(cohort.label(i), reasons.get(cohort.label(i), "no group"))
                                  for i in data.index[~grouped]]
    return data.loc[kept].copy(), Exclusions(base.n_total, len(kept), left, {**base.details, **groups.exclusions.details})


def cox_analysis(cohort: Cohort, spec: CoxSpec, exclude_invalid: bool = False, n_bootstrap: int = 200,
                 seed: int = 0, ph_test: bool = True, concordance: bool = True) -> CoxResult:
    """Fit the model described by ``spec`` on the usable rows; scaling and group indicators are applied here.

    ``ph_test``/``concordance``: see :func:`fit_cox` (False for callers that never read them)."""
    endpoint = find_endpoint(cohort, spec.endpoint)
    covariates = _model_columns(cohort, spec.covariates)
    formula_columns = []
    if spec.formula:
        formula_columns = [c for c in cohort.data.columns
                           if not str(c).startswith("_") and re.search(rf"\b{re.escape(str(c))}\b", spec.formula)]
    needed = [endpoint.time, endpoint.event, *covariates, *spec.strata, *formula_columns]
    data, exclusions = cohort.usable(list(dict.fromkeys(needed)), exclude_invalid)
    labels: dict[str, str] = {"male": "male sex"}
    model_columns = list(covariates)
    exploratory = False
    if spec.grouping is not None:
        groups = make_groups(cohort, spec.grouping, endpoint, exclude_invalid, seed)
        data, exclusions = _merge_exclusions(cohort, exclusions, data, groups)
        indicators = indicator_columns(groups).loc[data.index]
        for number, column in enumerate(indicators.columns):
            term = f"group_{number + 1}"
            data[term] = indicators[column]
            labels[term] = f"{groups.title}: {column}"
            model_columns.insert(number, term)
        exploratory = groups.exploratory
    derived = []
    for column in set(spec.per_sd) | set(spec.per_unit):
        if column not in covariates:
            raise InputError(f"{column} is scaled (per SD / per unit) but is not a covariate of the model")
    for column in covariates:
        values = pd.to_numeric(data[column], errors="coerce")
        if column in spec.per_unit:
            unit = float(spec.per_unit[column])
            if unit <= 0:
                raise InputError(f"the unit of {column} must be > 0, got {unit:g}")
            term = f"{column}_per_{unit:g}".replace(".", "p")
            data[term] = values / unit
            labels[term] = f"{column} (per {unit:g})"
            model_columns[model_columns.index(column)] = term
            if column in spec.per_sd:
                derived.append((term, column, float(values.std(ddof=1))))
        elif column in spec.per_sd:
            sd = float(values.std(ddof=1))
            if not sd > 0:
                raise InputError(f"{column} has no spread in the rows used; an HR per SD is undefined")
            term = f"{column}_per_sd"
            data[term] = (values - values.mean()) / sd
            labels[term] = f"{column} (per SD = {sd:.3g})"
            model_columns[model_columns.index(column)] = term
    if spec.formula and (spec.grouping is not None or spec.per_sd or spec.per_unit):
        raise InputError("a formula cannot be combined with a grouping or per-SD/per-unit scaling; "
                         "write the terms into the formula or use covariates")
    title = spec.title or _default_title(endpoint, spec, covariates)
    result = fit_cox(data, endpoint.time, endpoint.event, [] if spec.formula else model_columns,
                     formula=spec.formula, strata=list(spec.strata), labels=labels, title=title,
                     penalizer=spec.penalizer, n_bootstrap=n_bootstrap, seed=seed, ph_test=ph_test,
                     concordance=concordance)
    for term, column, sd in derived:  # the same model reported per SD: an exact rescaling of beta
        row = result.table.loc[result.table["term"] == term].iloc[0].copy()
        z = 1.959963984540054
        factor = sd / float(spec.per_unit[column])
        row["term"], row["label"] = f"{column}_per_sd", f"{column} (per SD = {sd:.3g}; same model)"
        row["coef"], row["se"] = row["coef"] * factor, row["se"] * factor
        row["hr"] = np.exp(row["coef"])
        row["hr_ci_low"], row["hr_ci_high"] = np.exp(row["coef"] - z * row["se"]), np.exp(row["coef"] + z * row["se"])
        result.table = pd.concat([result.table, row.to_frame().T], ignore_index=True)
        numeric = ["coef", "se", "hr", "hr_ci_low", "hr_ci_high", "z", "p"]
        result.table[numeric] = result.table[numeric].astype(float)
    result.exclusions, result.exploratory = exclusions, exploratory
    if exploratory:
        result.messages.insert(0, "EXPLORATORY: the grouping uses a cut-point chosen on these data; its HR and p are "
                               "optimistic (see the corrected p-value of the cut-point)")
    return result


def _default_title(endpoint: Endpoint, spec: CoxSpec, covariates: list[str]) -> str:
    terms = ([spec.grouping.title] if spec.grouping else []) + covariates
    kind = "multivariable" if len(terms) > 1 or spec.formula else "univariate"
    body = spec.formula or " + ".join(terms)
    strata = f" | strata: {', '.join(spec.strata)}" if spec.strata else ""
    return f"{endpoint.name}: {kind} Cox ({body}{strata})"


def univariate_screen(cohort: Cohort, spec: CoxSpec, exclude_invalid: bool = False, n_bootstrap: int = 0,
                      seed: int = 0) -> tuple[pd.DataFrame, list[CoxResult]]:
    """Each covariate (and the grouping) alone, as the papers do before the multivariable model.

    The screen reports HR, CI and p only, so its fits skip the PH test and the fitted C-index (the results
    carry an empty ``ph_test`` and a NaN ``concordance``); ``n_bootstrap`` > 0 still gives a C-index CI."""
    parts: list[CoxSpec] = []
    if spec.grouping is not None:
        parts.append(CoxSpec(spec.endpoint, (), spec.grouping, strata=spec.strata, penalizer=spec.penalizer))
    for covariate in spec.covariates:
        parts.append(CoxSpec(spec.endpoint, (covariate,), None,
                             per_sd=tuple(c for c in spec.per_sd if c == covariate),
                             per_unit={k: v for k, v in spec.per_unit.items() if k == covariate},
                             strata=spec.strata, penalizer=spec.penalizer))
    results = [cox_analysis(cohort, part, exclude_invalid, n_bootstrap, seed, ph_test=False, concordance=False)
               for part in parts]
    rows = []
    for result in results:
        for _, row in result.table.iterrows():
            rows.append({"model": result.title, "term": row["label"], "n": result.n, "events": result.events,
                         "hr": row["hr"], "hr_ci_low": row["hr_ci_low"], "hr_ci_high": row["hr_ci_high"],
                         "p": row["p"]})
    return pd.DataFrame(rows), results


@dataclass
class StatResult:
    """A non-survival statistic (correlation, t-test, agreement) with the rows it used."""

    kind: str
    title: str
    values: dict[str, Any]
    exclusions: Exclusions
    data: pd.DataFrame  # the analysed columns, for figures

    def row(self) -> dict[str, Any]:
        flat = {k: (", ".join(map(str, v)) if isinstance(v, tuple) else v) for k, v in self.values.items()}
        return {"analysis": self.kind, "title": self.title, **flat, "used": self.exclusions.summary()}


def correlate(cohort: Cohort, x: str, y: str, method: str = "pearson", exclude_invalid: bool = False) -> StatResult:
    """Correlation of two columns (e.g. CSA with age) over the rows that have both."""
    data, exclusions = cohort.usable([x, y], exclude_invalid)
    result = agreement.correlation(data[x], data[y], method=method)
    return StatResult("correlation", f"{method.title()} correlation of {x} with {y}", result.to_dict(),
                      exclusions, data[[x, y]])


def compare_groups(cohort: Cohort, value: str, by: str, exclude_invalid: bool = False) -> StatResult:
    """Welch t-test of ``value`` between the two levels of ``by`` (e.g. CSA by sex)."""
    data, exclusions = cohort.usable([value, by], exclude_invalid)
    result = agreement.t_test(data[value], data[by].astype(str))
    return StatResult("t-test", f"{value} by {by} (Welch t-test)", result.to_dict(), exclusions, data[[value, by]])


def agree(cohort: Cohort, automated: str, manual: str, exclude_invalid: bool = False) -> StatResult:
    """Bland–Altman and ICC(2,1) of an automated against a manual measurement."""
    data, exclusions = cohort.usable([automated, manual], exclude_invalid)
    bland = agreement.bland_altman(data[automated], data[manual])
    icc = agreement.icc_2_1(data[[automated, manual]].to_numpy(dtype=float))
    values = {f"ba_{k}": v for k, v in bland.to_dict().items()}
    values.update({f"icc_{k}": v for k, v in icc.to_dict().items() if k != "kind"})
    return StatResult("agreement", f"{automated} vs {manual} (Bland-Altman, ICC(2,1))", values, exclusions,
                      data[[automated, manual]])
