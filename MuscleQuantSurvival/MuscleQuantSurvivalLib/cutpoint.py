"""Exploratory 'optimal' cut-point: the maximally selected log-rank statistic.

Choosing the cut-point that maximises the log-rank statistic makes the naive p-value far too small
(Altman et al. 1994). The result therefore always carries two corrected p-values: the
Lausen–Schumacher (1992) approximation based on Miller & Siegmund (1982), and a permutation p-value
computed with the same search on permuted data; the label says "exploratory" wherever it is shown.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from MuscleQuantLib.errors import InputError

EXPLORATORY_WARNING = ("exploratory: the cut-point was chosen to maximise the log-rank statistic on these data; "
                       "the naive p-value is invalid, use the corrected p-values and validate the cut-point "
                       "in an independent cohort")


@dataclass(frozen=True)
class CutpointResult:
    """The selected cut-point, its standardised statistic and the corrected p-values."""

    variable: str
    cutpoint: float  # group 'low' is value <= cutpoint
    statistic: float  # max |standardised log-rank statistic|
    naive_p: float
    lausen_schumacher_p: float
    permutation_p: float | None
    n_permutations: int
    min_fraction: float
    n_low: int
    n_high: int
    n_candidates: int
    label: str = "exploratory"
    warning: str = EXPLORATORY_WARNING

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def logrank_z(time: np.ndarray, event: np.ndarray, in_group: np.ndarray) -> np.ndarray:
    """Standardised two-group log-rank statistics for many groupings at once.

    ``in_group`` is n × K booleans (one column per candidate split); returns K values of
    (O − E)/sqrt(V) for the group marked True, with the usual hypergeometric variance for ties.
    """
    order = np.argsort(time, kind="mergesort")
    t, e, g = time[order], event[order].astype(float), in_group[order].astype(float)
    _, first = np.unique(t, return_index=True)
    n = t.size
    at_risk_total = n - first  # sorted ascending: everyone from the first index with this time on
    at_risk_group = np.cumsum(g[::-1], axis=0)[::-1][first]  # group members with time >= t
    deaths_total = np.add.reduceat(e, first)
    deaths_group = np.add.reduceat(g * e[:, None], first, axis=0)
    has_death = deaths_total > 0
    d, r, rg, dg = deaths_total[has_death], at_risk_total[has_death], at_risk_group[has_death], deaths_group[has_death]
    fraction = rg / r[:, None]
    expected = (d[:, None] * fraction).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        tie_factor = np.where(r > 1, (r - d) / np.maximum(r - 1, 1), 1.0)
        variance = (d[:, None] * fraction * (1 - fraction) * tie_factor[:, None]).sum(axis=0)
        z = (dg.sum(axis=0) - expected) / np.sqrt(variance)
    return np.where(variance > 0, z, 0.0)


def _candidate_cuts(values: np.ndarray, min_fraction: float) -> np.ndarray:
    """Distinct values between the min_fraction and 1 − min_fraction quantiles (both groups big enough)."""
    low, high = np.quantile(values, [min_fraction, 1 - min_fraction])
    candidates = np.unique(values[(values >= low) & (values < high)])
    return candidates


def _max_statistic(time: np.ndarray, event: np.ndarray, values: np.ndarray, cuts: np.ndarray) -> tuple[float, int]:
    z = np.abs(logrank_z(time, event, values[:, None] <= cuts[None, :]))
    best = int(np.argmax(z))
    return float(z[best]), best


def lausen_schumacher_p(statistic: float, min_fraction: float) -> float:
    """Approximate p-value of a maximally selected standardised statistic (Lausen & Schumacher 1992)."""
    m = statistic
    if m <= 1.0:
        return 1.0
    eps1, eps2 = min_fraction, 1.0 - min_fraction
    density = stats.norm.pdf(m)
    p = 4 * density / m + density * (m - 1 / m) * np.log(eps2 * (1 - eps1) / ((1 - eps2) * eps1))
    return float(min(1.0, max(p, 0.0)))


def optimal_cutpoint(time: Any, event: Any, values: Any, *, variable: str = "value", min_fraction: float = 0.1,
                     n_permutations: int = 1000, seed: int = 0) -> CutpointResult:
    """Search the cut-point of ``values`` that maximises the log-rank statistic; report it as exploratory."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float)
    x = np.asarray(values, dtype=float)
    if not 0.05 <= min_fraction < 0.5:
        raise InputError("the minimum group fraction must be between 0.05 and 0.5", field="--min-fraction")
    if x.size < 20 or e.sum() < 5:
        raise InputError(f"optimal cut-point of {variable}: needs at least 20 patients and 5 events "
                         f"(got {x.size} and {int(e.sum())}); use a median split or a published cutoff")
    cuts = _candidate_cuts(x, min_fraction)
    if cuts.size == 0:
        raise InputError(f"optimal cut-point of {variable}: too few distinct values to search")
    statistic, best = _max_statistic(t, e, x, cuts)
    permutation_p = None
    if n_permutations > 0:
        rng = np.random.default_rng(seed)
        exceed = 0
        for _ in range(n_permutations):
            shuffled = rng.permutation(x)
            exceed += _max_statistic(t, e, shuffled, cuts)[0] >= statistic - 1e-12
        permutation_p = (exceed + 1) / (n_permutations + 1)
    cut = float(cuts[best])
    return CutpointResult(
        variable=variable, cutpoint=cut, statistic=statistic, naive_p=float(2 * stats.norm.sf(statistic)),
        lausen_schumacher_p=lausen_schumacher_p(statistic, min_fraction), permutation_p=permutation_p,
        n_permutations=n_permutations, min_fraction=min_fraction, n_low=int((x <= cut).sum()),
        n_high=int((x > cut).sum()), n_candidates=int(cuts.size),
    )
