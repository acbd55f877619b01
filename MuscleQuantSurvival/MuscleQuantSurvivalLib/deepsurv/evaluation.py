"""Scoring a risk score on one patient set: C-index with CI, time-dependent AUC, median-risk split.

The same function scores DeepSurv's continuous risk and each traditional definition's sarcopenic
indicator (1 sarcopenic, 0 not), so the comparison table is like for like. The high/low threshold
of a continuous score is the *training* median, applied unchanged to the test sets.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from lifelines import CoxPHFitter
from lifelines.statistics import logrank_test
from lifelines.utils import concordance_index

from ..cox import bootstrap_concordance

DEFAULT_AUC_MONTHS = (12.0, 24.0, 36.0)


@dataclass(frozen=True)
class Outcome:
    """Follow-up of a set of patients (months, event 0/1)."""

    time: np.ndarray
    event: np.ndarray

    def structured(self) -> np.ndarray:
        from sksurv.util import Surv

        return Surv.from_arrays(self.event.astype(bool), self.time)


def time_dependent_auc(train: Outcome, test: Outcome, risk: np.ndarray, months: Sequence[float]) -> dict[float, float]:
    """Cumulative/dynamic AUC (Uno's IPCW, scikit-survival) at each time inside the test follow-up."""
    from sksurv.metrics import cumulative_dynamic_auc

    result = dict.fromkeys(months, float("nan"))
    usable = [m for m in months if test.time.min() < m < min(test.time.max(), train.time[train.event == 0].max(initial=np.inf))
              and ((test.time <= m) & (test.event == 1)).any()]
    for month in usable:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                auc, _ = cumulative_dynamic_auc(train.structured(), test.structured(), risk, [month])
            result[month] = float(auc[0])
        except ValueError:  # censoring distribution undefined at this time
            continue
    return result


def _hazard_ratio(outcome: Outcome, high: np.ndarray) -> tuple[float, float, float, float]:
    """HR (95 % CI, p) of the high-risk group vs the low-risk group (univariate Cox)."""
    import pandas as pd

    if high.all() or not high.any():
        return (float("nan"),) * 4
    frame = pd.DataFrame({"time": outcome.time, "event": outcome.event, "high": high.astype(float)})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitter = CoxPHFitter().fit(frame, "time", "event")
    except Exception:  # lifelines raises several types on separation; the row then says n/a
        return (float("nan"),) * 4
    row = fitter.summary.loc["high"]
    return (float(row["exp(coef)"]), float(row["exp(coef) lower 95%"]), float(row["exp(coef) upper 95%"]),
            float(row["p"]))


def score_set(outcome: Outcome, risk: np.ndarray, high: np.ndarray, train: Outcome, *, months: Sequence[float],
              n_bootstrap: int, seed: int) -> dict:
    """All metrics of one score on one set; ``high`` is the high-risk (or sarcopenic) indicator."""
    row = {"n": int(len(risk)), "events": int(outcome.event.sum()), "n_high": int(high.sum())}
    if row["events"] == 0 or len(risk) < 5:
        return {**row, "c_index": float("nan"), "note": "too few patients or no events"}
    row["c_index"] = float(concordance_index(outcome.time, -risk, outcome.event))
    row["c_index_ci_low"], row["c_index_ci_high"] = bootstrap_concordance(outcome.time, outcome.event, risk,
                                                                          n_bootstrap, seed, 0.05)
    for month, auc in time_dependent_auc(train, outcome, risk, months).items():
        row[f"auc_{month:g}m"] = auc
    if 0 < high.sum() < len(high):
        row["logrank_p"] = float(logrank_test(outcome.time[high], outcome.time[~high], outcome.event[high],
                                              outcome.event[~high]).p_value)
    row["hr_high"], row["hr_high_ci_low"], row["hr_high_ci_high"], row["hr_high_p"] = _hazard_ratio(outcome, high)
    return row


def paired_c_index_difference(outcome: Outcome, risk_a: np.ndarray, risk_b: np.ndarray, n_bootstrap: int,
                              seed: int) -> tuple[float, float, float]:
    """C(a) − C(b) on the same patients, with a paired bootstrap 95 % CI (the same resample for both).

    "a beats b" is claimed only when the whole interval is above 0: a higher point estimate alone is
    within the noise of a few hundred patients.
    """
    def c(pick: np.ndarray, risk: np.ndarray) -> float:
        return concordance_index(outcome.time[pick], -risk[pick], outcome.event[pick])

    everyone = np.arange(len(risk_a))
    difference = c(everyone, risk_a) - c(everyone, risk_b)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(max(n_bootstrap, 0)):
        pick = rng.integers(0, len(everyone), len(everyone))
        if outcome.event[pick].sum() == 0:
            continue
        try:
            values.append(c(pick, risk_a) - c(pick, risk_b))
        except ZeroDivisionError:
            continue
    if len(values) < 10:
        return float(difference), float("nan"), float("nan")
    low, high = np.quantile(values, [0.025, 0.975])
    return float(difference), float(low), float(high)
