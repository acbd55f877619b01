"""Kaplan–Meier estimates per group with the log-rank test and median survival (95 % CI)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test
from lifelines.utils import median_survival_times

from MuscleQuantLib.errors import InputError

from .formatting import format_p
from .groupings import Groups
from .tables import Cohort, Endpoint, Exclusions


@dataclass
class KMResult:
    """Curves, per-group table and log-rank test of one endpoint under one grouping."""

    title: str
    endpoint: Endpoint
    table: pd.DataFrame  # group, n, events, censored, median, median_ci_low, median_ci_high
    fitters: dict[str, KaplanMeierFitter]
    logrank_statistic: float | None
    logrank_df: int | None
    logrank_p: float | None
    exclusions: Exclusions
    notes: list[str] = field(default_factory=list)
    exploratory: bool = False
    corrected_p: float | None = None  # exploratory cut-point: p corrected for the search

    def logrank_text(self) -> str:
        if self.logrank_p is None:
            return "one group: no log-rank test"
        p = format_p(self.logrank_p)
        text = f"log-rank p {p if p.startswith('<') else '= ' + p}"
        if self.exploratory:
            corrected = format_p(self.corrected_p)
            text += (f" (naive; cut-point chosen on these data)\ncorrected p "
                     f"{corrected if corrected.startswith('<') else '= ' + corrected} (Lausen–Schumacher)")
        return text


def format_time(value: float) -> str:
    return "NR" if not np.isfinite(value) else f"{value:.1f}"


def _median_with_ci(fitter: KaplanMeierFitter) -> tuple[float, float, float]:
    """Median survival and its CI: where the CI band of S(t) crosses 0.5 (as R's survfit)."""
    median = float(fitter.median_survival_time_)
    bounds = median_survival_times(fitter.confidence_interval_)
    lower_column = [c for c in bounds.columns if "lower" in c][0]
    upper_column = [c for c in bounds.columns if "upper" in c][0]
    return median, float(bounds[lower_column].iloc[0]), float(bounds[upper_column].iloc[0])


def endpoint_rows(cohort: Cohort, endpoint: Endpoint, groups: Groups | None,
                  exclude_invalid: bool = False) -> tuple[pd.DataFrame, Exclusions]:
    """Rows with the endpoint (and a group), plus the combined reasons for every row left out."""
    if groups is None:
        return cohort.usable([endpoint.time, endpoint.event], exclude_invalid)
    exclusions = Exclusions(groups.exclusions.n_total, 0, list(groups.exclusions.left_out),
                            dict(groups.exclusions.details))
    rows = cohort.data.loc[groups.labels.index, [endpoint.time, endpoint.event]]
    time_missing, event_missing = rows[endpoint.time].isna().to_numpy(), rows[endpoint.event].isna().to_numpy()
    keep = list(groups.labels.index[~(time_missing | event_missing)])
    for index, no_time, no_event in zip(groups.labels.index, time_missing, event_missing, strict=True):
        if no_time or no_event:
            exclusions.left_out.append((cohort.label(index), f"missing {endpoint.time if no_time else endpoint.event}"))
    exclusions.n_used = len(keep)
    data = cohort.data.loc[keep].copy()
    data["group"] = groups.labels.loc[keep]
    return data, exclusions


def _grouped_rows(cohort: Cohort, endpoint: Endpoint, groups: Groups | None,
                  exclude_invalid: bool) -> tuple[pd.DataFrame, Exclusions, list[str]]:
    """The rows of a Kaplan–Meier analysis with their group, and the groups present, in level order."""
    data, exclusions = endpoint_rows(cohort, endpoint, groups, exclude_invalid)
    if groups is None:
        data["group"] = "all patients"
        order = ["all patients"]
    else:
        order = [g for g in groups.order if (data["group"] == g).any()]
    if data.empty or data[endpoint.event].sum() == 0:
        raise InputError(f"{endpoint.name}: no events in the {len(data)} rows used ({exclusions.summary()}); "
                         "Kaplan–Meier and log-rank need events")
    return data, exclusions, order


def logrank_p(cohort: Cohort, endpoint: Endpoint, groups: Groups, exclude_invalid: bool = False) -> float | None:
    """``kaplan_meier(...).logrank_p`` without fitting the curves (the definitions table needs only p)."""
    data, _, order = _grouped_rows(cohort, endpoint, groups, exclude_invalid)
    if len(order) < 2:
        return None
    return float(multivariate_logrank_test(data[endpoint.time], data["group"], data[endpoint.event]).p_value)


def kaplan_meier(cohort: Cohort, endpoint: Endpoint, groups: Groups | None = None,
                 exclude_invalid: bool = False, alpha: float = 0.05) -> KMResult:
    """Kaplan–Meier curves of ``endpoint`` for each group, log-rank test across all groups."""
    data, exclusions, order = _grouped_rows(cohort, endpoint, groups, exclude_invalid)
    rows, fitters = [], {}
    for group in order:
        part = data[data["group"] == group]
        fitter = KaplanMeierFitter(alpha=alpha).fit(part[endpoint.time], part[endpoint.event], label=str(group))
        median, low, high = _median_with_ci(fitter)
        fitters[group] = fitter
        rows.append({"group": group, "n": len(part), "events": int(part[endpoint.event].sum()),
                     "censored": int((part[endpoint.event] == 0).sum()), "median": median,
                     "median_ci_low": low, "median_ci_high": high})
    statistic = p = dof = None
    if len(order) >= 2:
        test = multivariate_logrank_test(data[endpoint.time], data["group"], data[endpoint.event])
        statistic, p, dof = float(test.test_statistic), float(test.p_value), int(test.degrees_of_freedom)
    title = f"{endpoint.name} by {groups.title}" if groups is not None else f"{endpoint.name}, all patients"
    return KMResult(title=title, endpoint=endpoint, table=pd.DataFrame(rows), fitters=fitters,
                    logrank_statistic=statistic, logrank_df=dof, logrank_p=p, exclusions=exclusions,
                    notes=list(groups.notes) if groups is not None else [],
                    exploratory=bool(groups is not None and groups.exploratory),
                    corrected_p=groups.cutpoint.lausen_schumacher_p if groups is not None and groups.cutpoint else None)
