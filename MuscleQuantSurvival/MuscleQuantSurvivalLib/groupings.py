"""Groupings of patients for Kaplan–Meier and Cox: median split (within each cohort), tertiles,
quartiles, fixed or sex-specific cutoffs, published sarcopenia definitions (SPEC 4), a diagnosis
column supplied by the cohort, and the exploratory optimal cut-point.

A grouping is described by a :class:`GroupingSpec` (plain data, saved in the run configuration) and
applied by :func:`make_groups`, which returns labels plus the rows it left out and why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from MuscleQuantLib.errors import InputError

from .cutpoint import CutpointResult, optimal_cutpoint
from .tables import Cohort, Endpoint, Exclusions

KINDS = ("median", "tertiles", "quartiles", "cutoff", "sex_cutoff", "definition", "column", "optimal")
SARCOPENIC, NOT_SARCOPENIC = "sarcopenic", "not sarcopenic"


@dataclass(frozen=True)
class GroupingSpec:
    """How to group patients; ``variable`` is a measurement/clinical column (the diagnosis column for 'column')."""

    kind: str
    variable: str | None = None
    within: str | None = None  # split within each level of this column (e.g. 'cohort', 'sex')
    cutoff: float | None = None  # kind 'cutoff': low is value < cutoff
    cutoffs_by_sex: dict[str, float] = field(default_factory=dict)  # kind 'sex_cutoff': {'M': 52.4, 'F': 38.5}
    definition: str | None = None  # kind 'definition': a key of quantify.definitions.DEFINITIONS
    reference: str | None = None  # reference group for hazard ratios
    min_fraction: float = 0.1  # kind 'optimal'
    n_permutations: int = 1000  # kind 'optimal'

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"unknown grouping {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.kind != "definition" and not self.variable:
            raise InputError(f"grouping {self.kind!r} needs a variable (the column to group by)")
        if self.kind == "definition" and not self.definition:
            raise InputError("grouping 'definition' needs the name of a sarcopenia definition")
        if self.kind == "cutoff" and self.cutoff is None:
            raise InputError("grouping 'cutoff' needs a cutoff value")
        if not isinstance(self.n_permutations, int) or self.n_permutations < 0:
            raise InputError(f"the number of permutations must be a whole number >= 0, got {self.n_permutations!r}",
                             field="n_permutations")
        if self.kind == "sex_cutoff" and set(self.cutoffs_by_sex) != {"M", "F"}:
            raise InputError("grouping 'sex_cutoff' needs cutoffs for M and F, e.g. M=52.4,F=38.5")

    @property
    def title(self) -> str:
        within = f" within {self.within}" if self.within else ""
        return {
            "median": f"{self.variable}: median split{within}",
            "tertiles": f"{self.variable}: tertiles{within}",
            "quartiles": f"{self.variable}: quartiles{within}",
            "cutoff": f"{self.variable} < {self.cutoff:g}" if self.cutoff is not None else "",
            "sex_cutoff": f"{self.variable} < {self.cutoffs_by_sex.get('M')} (M) / {self.cutoffs_by_sex.get('F')} (F)",
            "definition": f"sarcopenia: {self.definition}",
            "column": f"{self.variable} (cohort-supplied)",
            "optimal": f"{self.variable}: optimal cut-point (EXPLORATORY)",
        }[self.kind]

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, {}) or k == "kind"}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupingSpec:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise InputError(f"grouping: unknown field(s) {', '.join(sorted(unknown))}")
        return cls(**data)


@dataclass
class Groups:
    """Group label per used row (index of the cohort data), the level order and the reference level."""

    spec: GroupingSpec
    labels: pd.Series
    order: list[str]
    reference: str
    exclusions: Exclusions
    exploratory: bool = False
    notes: list[str] = field(default_factory=list)
    cutpoint: CutpointResult | None = None

    @property
    def title(self) -> str:
        return self.spec.title


def _split_within(values: pd.Series, within: pd.Series | None, splitter) -> pd.Series:
    if within is None:
        return splitter(values)
    parts = [splitter(values[within == level]) for level in within.dropna().unique()]
    return pd.concat(parts).reindex(values.index)


def _median_split(values: pd.Series) -> pd.Series:
    """High is strictly above the median, as in R's ``x > median(x)``; ties at the median are low."""
    median = values.median()
    return pd.Series(np.where(values > median, "high", "low"), index=values.index)


def _quantile_groups(values: pd.Series, k: int) -> pd.Series:
    prefix = "T" if k == 3 else "Q"
    ranks = values.rank(method="first")
    codes = pd.qcut(ranks, k, labels=False)
    return pd.Series([f"{prefix}{int(c) + 1}" for c in codes], index=values.index)


def lookup_definition(name: str) -> Any:
    """The SPEC 4 definition called ``name`` (key or display name, case-insensitive)."""
    try:
        from MuscleQuantLib.quantify.definitions import DEFINITIONS
    except ImportError as exc:  # the definitions module belongs to the quantify package
        raise InputError("sarcopenia definitions are not available (MuscleQuantLib.quantify.definitions "
                         f"could not be imported: {exc})") from exc
    if name in DEFINITIONS:
        return DEFINITIONS[name]
    matches = [d for key, d in DEFINITIONS.items()
               if name.lower() in (key.lower(), str(getattr(d, "name", "")).lower())]
    if len(matches) == 1:
        return matches[0]
    choices = ", ".join(sorted(DEFINITIONS))
    reason = "is ambiguous" if matches else "is not a known definition"
    raise InputError(f"sarcopenia definition {name!r} {reason}; choose one of: {choices}")


def definition_names() -> list[str]:
    """Keys of every available definition (empty if the module is not there)."""
    try:
        from MuscleQuantLib.quantify.definitions import DEFINITIONS
    except ImportError:
        return []
    return list(DEFINITIONS)


def _definition_groups(cohort: Cohort, spec: GroupingSpec, exclude_invalid: bool) -> Groups:
    definition = lookup_definition(spec.definition or "")
    measure = definition.measure
    if measure not in cohort.data.columns:
        raise InputError(f"definition {spec.definition} reads the measurement column {measure!r}, which the "
                         "cohort tables do not have; add it to the measurement table")
    sex_column = cohort.columns.sex
    data, exclusions = cohort.usable([measure, sex_column], exclude_invalid)
    status, reason = _classify_rows(definition, data, measure, sex_column)
    sarcopenic, not_sarcopenic = status == "sarcopenic", status == "not_sarcopenic"
    classified = sarcopenic | not_sarcopenic
    for index, why in zip(data.index[~classified], reason[~classified], strict=True):
        exclusions.left_out.append((cohort.label(index), f"{spec.definition} not applicable ({why})"))
    exclusions.n_used = int(classified.sum())
    series = pd.Series(np.where(sarcopenic, SARCOPENIC, NOT_SARCOPENIC)[classified], index=data.index[classified],
                       dtype=object)
    citation = getattr(definition, "citation", "")
    notes = [f"{spec.definition}: {measure}" + (f"; {citation}" if citation else "")]
    return Groups(spec, series, [NOT_SARCOPENIC, SARCOPENIC], spec.reference or NOT_SARCOPENIC, exclusions,
                  notes=notes)


def _classify_rows(definition: Any, data: pd.DataFrame, measure: str,
                   sex_column: str) -> tuple[np.ndarray, np.ndarray]:
    """(status, reason) arrays, one entry per row of ``data``, as ``classify`` gives them, without a Python
    call per row.

    Rows with a numeric measure and sex M/F are compared with the cutoff in one vectorised step (the
    same comparison ``classify`` makes); anything else goes through ``classify`` itself.
    """
    from MuscleQuantLib.quantify.definitions import classify

    sex = data[sex_column].to_numpy(dtype=object)
    bmi = data["bmi"].to_numpy(dtype=float) if "bmi" in data.columns else np.full(len(data), np.nan)
    fast = np.zeros(len(data), dtype=bool)
    status = np.full(len(data), None, dtype=object)
    reason = np.full(len(data), "", dtype=object)
    if pd.api.types.is_float_dtype(data[measure]) or pd.api.types.is_integer_dtype(data[measure]):
        values = data[measure].to_numpy(dtype=float)
        for code in ("M", "F"):
            rows = (sex == code) & ~np.isnan(values)
            entry = definition.cutoffs[code]
            if isinstance(entry, dict):
                no_bmi = rows & np.isnan(bmi)
                status[no_bmi] = "not_applicable"
                reason[no_bmi] = "BMI missing (needs height and weight): the cutoff depends on BMI"
                fast |= no_bmi
                rows &= ~np.isnan(bmi)
                cutoff = np.where(bmi < definition.bmi_threshold, float(entry["bmi_below"]),
                                  float(entry["bmi_at_or_above"]))
            else:
                cutoff = np.full(len(data), float(entry))
            low = values < cutoff if definition.comparison == "<" else values <= cutoff
            status[rows & low] = "sarcopenic"
            status[rows & ~low] = "not_sarcopenic"
            fast |= rows
    for position in np.flatnonzero(~fast):
        index, bmi_value = data.index[position], bmi[position]
        result = classify(definition, float(data.at[index, measure]), data.at[index, sex_column],
                          None if pd.isna(bmi_value) else float(bmi_value))
        status[position], reason[position] = result.status, result.reason
    return status, reason


def make_groups(cohort: Cohort, spec: GroupingSpec, endpoint: Endpoint | None = None,
                exclude_invalid: bool = False, seed: int = 0) -> Groups:
    """Apply a grouping to the cohort; the optimal cut-point needs the endpoint it is optimised for."""
    if spec.kind == "definition":
        return _definition_groups(cohort, spec, exclude_invalid)
    variable = spec.variable or ""
    needed = [variable] + ([spec.within] if spec.within else [])
    if spec.kind == "sex_cutoff":
        needed.append(cohort.columns.sex)
    if spec.kind == "optimal":
        if endpoint is None:
            raise InputError("the optimal cut-point is searched for one endpoint; give the endpoint")
        needed += [endpoint.time, endpoint.event]
    data, exclusions = cohort.usable(needed, exclude_invalid)
    if data.empty:
        raise InputError(f"grouping by {spec.title}: no usable rows ({exclusions.summary()})")
    if spec.kind == "column":
        labels = data[variable].astype(str)
        order = sorted(labels.unique())
        return Groups(spec, labels, order, spec.reference or order[0], exclusions)
    values = pd.to_numeric(data[variable], errors="coerce")
    if values.isna().any():
        raise InputError(f"column {variable} must hold numbers to be split ({spec.title})")
    within = data[spec.within].astype(str) if spec.within else None
    notes: list[str] = []
    cut_result = None
    if spec.kind == "median":
        labels = _split_within(values, within, _median_split)
        order, reference = ["low", "high"], "low"
        for level, median in (values.groupby(within).median().items() if within is not None
                              else [("all", values.median())]):
            notes.append(f"median {variable} ({level}) = {median:.4g}; low is <= median")
    elif spec.kind in ("tertiles", "quartiles"):
        k = 3 if spec.kind == "tertiles" else 4
        labels = _split_within(values, within, lambda v: _quantile_groups(v, k))
        order = [f"{'T' if k == 3 else 'Q'}{i + 1}" for i in range(k)]
        reference = order[0]
    elif spec.kind == "cutoff":
        labels = pd.Series(np.where(values < spec.cutoff, "low", "high"), index=values.index)
        order, reference = ["high", "low"], "high"
    elif spec.kind == "sex_cutoff":
        thresholds = data[cohort.columns.sex].map(spec.cutoffs_by_sex).astype(float)
        labels = pd.Series(np.where(values < thresholds, "low", "high"), index=values.index)
        order, reference = ["high", "low"], "high"
    else:  # optimal
        assert endpoint is not None
        cut_result = optimal_cutpoint(data[endpoint.time], data[endpoint.event], values, variable=variable,
                                      min_fraction=spec.min_fraction, n_permutations=spec.n_permutations, seed=seed)
        labels = pd.Series(np.where(values <= cut_result.cutpoint, "low", "high"), index=values.index)
        order, reference = ["low", "high"], "low"
        notes.append(f"EXPLORATORY cut-point {variable} <= {cut_result.cutpoint:.4g} for {endpoint.name}: "
                     f"max standardised log-rank {cut_result.statistic:.2f}; naive p {cut_result.naive_p:.2g} is "
                     f"invalid; corrected p (Lausen-Schumacher) {cut_result.lausen_schumacher_p:.3g}"
                     + (f", permutation p {cut_result.permutation_p:.3g} ({cut_result.n_permutations} permutations)"
                        if cut_result.permutation_p is not None else ""))
        notes.append(cut_result.warning)
    present = [level for level in order if (labels == level).any()]
    reference = spec.reference or reference
    if reference not in present:
        raise InputError(f"grouping {spec.title}: reference group {reference!r} has no patients "
                         f"(groups: {', '.join(present)})")
    return Groups(spec, labels, present, reference, exclusions, exploratory=spec.kind == "optimal",
                  notes=notes, cutpoint=cut_result)


def indicator_columns(groups: Groups) -> pd.DataFrame:
    """One 0/1 column per non-reference group, named '<group> vs <reference>', for Cox models."""
    columns = {f"{level} vs {groups.reference}": (groups.labels == level).astype(float)
               for level in groups.order if level != groups.reference}
    return pd.DataFrame(columns, index=groups.labels.index)
