"""Cox proportional-hazards models with the diagnostics users expect, on lifelines' CoxPHFitter (Efron ties).

:func:`fit_cox` works on any DataFrame (the Rossi check uses it directly); it refuses designs that
cannot be estimated (constant or collinear columns, separation) with messages naming the columns and
the fix, turns lifelines' convergence warnings into such messages, and reports hazard ratios with CIs,
events per variable, the proportional-hazards test naming violators, and the C-index with a bootstrap CI.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError
from lifelines.statistics import proportional_hazard_test

from MuscleQuantLib.errors import InputError

from .concordance import bootstrap_concordances, weighted_concordance_counts
from .fastcox import FastCoxPHFitter
from .tables import Exclusions

MIN_EPV = 10  # events per variable below which estimates are flagged as unstable (Peduzzi et al. 1996)
PH_ALPHA = 0.05


class ModelError(InputError):
    """A model that cannot be estimated as specified; the message names the columns and the fix."""


@dataclass
class CoxResult:
    """A fitted Cox model: the HR table, the diagnostics and the messages a reader must see."""

    title: str
    time: str
    event: str
    table: pd.DataFrame  # term, label, coef, se, hr, hr_ci_low, hr_ci_high, z, p
    n: int
    events: int
    n_parameters: int
    epv: float
    concordance: float
    concordance_ci: tuple[float, float]
    ph_test: pd.DataFrame  # term, label, statistic, p
    ph_violations: list[str]
    messages: list[str] = field(default_factory=list)
    strata: list[str] = field(default_factory=list)
    formula: str | None = None
    exclusions: Exclusions | None = None
    exploratory: bool = False
    fitter: CoxPHFitter | None = None

    def params(self) -> dict[str, float]:
        return dict(zip(self.table["term"], self.table["coef"], strict=True))

    def summary_row(self) -> dict[str, Any]:
        return {"model": self.title, "n": self.n, "events": self.events, "parameters": self.n_parameters,
                "events_per_variable": round(self.epv, 2), "c_index": self.concordance,
                "c_index_ci_low": self.concordance_ci[0], "c_index_ci_high": self.concordance_ci[1],
                "ph_violations": ", ".join(self.ph_violations), "strata": ", ".join(self.strata),
                "messages": " | ".join(self.messages)}


def _numeric_design(frame: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    design = pd.DataFrame(index=frame.index)
    for column in covariates:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any():
            bad = frame.loc[values.isna(), column].astype(str).unique()[:3]
            raise ModelError(f"covariate {column} is not numeric (values such as {', '.join(bad)}); encode it as "
                             "0/1 indicators (for sex use the derived column 'male') or use it as strata")
        design[column] = values.astype(float)
    return design


def check_design(design: pd.DataFrame, event: pd.Series, labels: dict[str, str] | None = None) -> None:
    """Refuse constant columns, collinear columns and complete separation before lifelines sees them."""
    name = (labels or {}).get
    for column in design.columns:
        if design[column].nunique() <= 1:
            raise ModelError(f"covariate {name(column, column)} is constant in the {len(design)} rows used "
                             f"(every value is {design[column].iloc[0]:g}); remove it from the model")
    centred = design - design.mean()
    used: list[str] = []
    for column in design.columns:
        candidate = centred[used + [column]].to_numpy()
        if np.linalg.matrix_rank(candidate, tol=1e-8 * max(1.0, np.abs(candidate).max())) <= len(used):
            coefficients, *_ = np.linalg.lstsq(centred[used].to_numpy(), centred[column].to_numpy(), rcond=None)
            partners = [name(c, c) for c, b in zip(used, coefficients, strict=True) if abs(b) > 1e-8]
            raise ModelError(f"covariate {name(column, column)} is collinear with {', '.join(partners)} (a linear "
                             "combination of them in the rows used); drop one of them")
        used.append(column)
    events = event.astype(bool).to_numpy()
    for column in design.columns:
        levels = design[column].unique()
        if len(levels) == 2:
            for level in levels:
                mask = design[column].to_numpy() == level
                if not events[mask].any():
                    raise ModelError(
                        f"no events among the {int(mask.sum())} rows with {name(column, column)} = {level:g}: the hazard "
                        "ratio is infinite (complete separation); merge small groups, drop the covariate or fit a "
                        "penalised model (--penalizer 0.1)")


_WARNING_PATTERNS = [
    (re.compile(r"Column\(s\) \[(.*?)\] have very low variance"),
     "covariate(s) {0} have almost no variance; remove them from the model"),
    (re.compile(r"Column (\S+) have very low variance when conditioned on death event"),
     "covariate {0} almost determines who has an event (separation); its HR is unreliable: merge groups, "
     "drop it or fit a penalised model (--penalizer 0.1)"),
    (re.compile(r"Column (\S+) has high sample correlation with the duration column"),
     "covariate {0} almost determines the follow-up time (separation, or a variable derived from time); "
     "check it and remove it if it is measured after baseline"),
]


def _translate_warning(text: str, labels: dict[str, str]) -> str:
    for pattern, template in _WARNING_PATTERNS:
        match = pattern.search(text)
        if match:
            names = [labels.get(n.strip(" '\""), n.strip(" '\"")) for n in match.group(1).split(",")]
            return template.format(", ".join(names))
    if "Newton-Raphson" in text or "delta" in text:
        return ("the Cox fit did not converge cleanly (possible collinearity or separation); inspect the HRs with "
                "very wide CIs, drop or merge covariates, or fit a penalised model (--penalizer 0.1)")
    return " ".join(text.split())[:300]


def bootstrap_concordance(time: np.ndarray, event: np.ndarray, risk: np.ndarray, n_bootstrap: int,
                           seed: int, alpha: float) -> tuple[float, float]:
    """Percentile CI of Harrell's C of the fitted risk score over bootstrap resamples of the patients.

    The resamples are drawn exactly as before (one ``rng.integers`` call each); their C-indices come from
    :func:`bootstrap_concordances`, which equals lifelines' ``concordance_index`` per resample bit for bit.
    """
    if n_bootstrap <= 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    n = time.size
    picks = np.stack([rng.integers(0, n, n) for _ in range(n_bootstrap)])
    values = bootstrap_concordances(time, event, -risk, picks)
    values = values[~np.isnan(values)]  # resamples without events or admissible pairs are skipped
    if len(values) < 10:
        return (float("nan"), float("nan"))
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return (float(low), float(high))


def fitted_concordance(fitter: CoxPHFitter) -> float:
    """lifelines' ``fitter.concordance_index_`` (same counts, same float), without its pure-Python walk."""
    if fitter.strata:
        return float(fitter.concordance_index_)
    frame = fitter._predicted_partial_hazards_
    correct, tied, pairs = weighted_concordance_counts(frame["T"].to_numpy(), frame["E"].to_numpy(),
                                                       -frame["P"].to_numpy(), np.ones(len(frame), dtype=np.int64))
    if pairs[0] == 0:
        raise ZeroDivisionError("No admissable pairs in the dataset.")
    return float((correct[0] + tied[0] / 2) / pairs[0])


_NO_PH_TEST = pd.DataFrame(columns=["term", "label", "statistic", "p"])


def _ph_check(fitter: CoxPHFitter, frame: pd.DataFrame, labels: dict[str, str]) -> tuple[pd.DataFrame, list[str], str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = proportional_hazard_test(fitter, frame, time_transform="rank")
        summary = result.summary
    except Exception as exc:  # noqa: BLE001 - the PH test is a diagnostic; its failure must not lose the model
        return _NO_PH_TEST.copy(), [], f"PH test not available ({exc})"
    table = pd.DataFrame({"term": [str(t) for t in summary.index],
                          "label": [labels.get(str(t), str(t)) for t in summary.index],
                          "statistic": summary["test_statistic"].to_numpy(), "p": summary["p"].to_numpy()})
    violators = table.loc[table["p"] < PH_ALPHA, "label"].tolist()
    note = ""
    if violators:
        note = (f"proportional-hazards assumption doubtful for {', '.join(violators)} (Schoenfeld test p < {PH_ALPHA}); "
                "consider stratifying by it (--strata) or modelling a time interaction")
    return table, violators, note


_FIT_CACHE: OrderedDict[str, CoxResult] = OrderedDict()
_FIT_CACHE_SIZE = 16


def _fit_key(frame: pd.DataFrame, arguments: tuple) -> str | None:
    """A digest of everything a fit depends on: the values (and index) of the columns it reads, and the
    arguments. A report fits the same model twice (age alone in two univariate screens); the second
    call reuses the first result instead of refitting."""
    try:
        digest = hashlib.sha256(repr(arguments).encode())
        digest.update(repr(list(frame.columns)).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
        digest.update(repr(list(frame.dtypes.astype(str))).encode())
    except TypeError:  # unhashable cells: no caching
        return None
    return digest.hexdigest()


def fit_cox(frame: pd.DataFrame, time: str, event: str, covariates: Sequence[str] = (), *,
            formula: str | None = None, strata: Sequence[str] = (), labels: dict[str, str] | None = None,
            title: str = "Cox model", penalizer: float = 0.0, alpha: float = 0.05, n_bootstrap: int = 200,
            seed: int = 0, ph_test: bool = True, concordance: bool = True) -> CoxResult:
    """Fit a Cox model (Efron ties) on complete rows of ``frame``; ``formula`` replaces ``covariates``.

    ``ph_test``/``concordance`` False skip the Schoenfeld test (empty table, no note) and the fitted C-index
    (NaN) for callers that read neither, e.g. univariate screens (about a fifth of a 10,000-patient fit).
    An identical call (same rows, values, columns and arguments) returns a copy of the earlier result."""
    arguments = (time, event, tuple(covariates), formula, tuple(strata), sorted((labels or {}).items()), title,
                 penalizer, alpha, n_bootstrap, seed, ph_test, concordance)
    key = _fit_key(frame, arguments)
    if key is not None and key in _FIT_CACHE:
        _FIT_CACHE.move_to_end(key)
    else:
        result = _fit_cox(frame, time, event, covariates, formula=formula, strata=strata, labels=labels, title=title,
                          penalizer=penalizer, alpha=alpha, n_bootstrap=n_bootstrap, seed=seed, ph_test=ph_test,
                          concordance=concordance)
        if key is None:
            return result
        _FIT_CACHE[key] = result
        while len(_FIT_CACHE) > _FIT_CACHE_SIZE:
            _FIT_CACHE.popitem(last=False)
    cached = _FIT_CACHE[key]
    return replace(cached, table=cached.table.copy(), ph_test=cached.ph_test.copy(), messages=list(cached.messages),
                   ph_violations=list(cached.ph_violations), strata=list(cached.strata))


def _fit_cox(frame: pd.DataFrame, time: str, event: str, covariates: Sequence[str] = (), *,
             formula: str | None = None, strata: Sequence[str] = (), labels: dict[str, str] | None = None,
             title: str = "Cox model", penalizer: float = 0.0, alpha: float = 0.05, n_bootstrap: int = 200,
             seed: int = 0, ph_test: bool = True, concordance: bool = True) -> CoxResult:
    labels = dict(labels or {})
    strata = list(strata)
    missing = [c for c in [time, event, *covariates, *strata] if c not in frame.columns]
    if missing:
        raise ModelError(f"column(s) {', '.join(missing)} not found; available: {', '.join(map(str, frame.columns))}")
    if formula:
        columns = [c for c in frame.columns if c not in (time, event) and re.search(rf"\b{re.escape(str(c))}\b", formula)]
        design = _numeric_design(frame, columns)
    else:
        if not covariates:
            raise ModelError("a Cox model needs at least one covariate (or a formula)")
        design = _numeric_design(frame, covariates)
    data = pd.concat([frame[[time, event]].astype(float), design, frame[strata]], axis=1).dropna()
    if len(data) < len(frame):
        raise ModelError(f"{len(frame) - len(data)} rows have missing values in the model columns; "
                         "select complete rows first (the cohort API does this and reports them)")
    n_events = int(data[event].sum())
    if n_events < 2:
        raise ModelError(f"only {n_events} events in the {len(data)} rows used; a Cox model needs events")
    if not formula:
        check_design(design, data[event], labels)
    fitter = FastCoxPHFitter(penalizer=penalizer, alpha=alpha)
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fitter.fit(data, duration_col=time, event_col=event, strata=strata or None, formula=formula)
        except (ConvergenceError, np.linalg.LinAlgError) as exc:
            raise ModelError(f"the Cox fit of {title} failed to converge ({' '.join(str(exc).split())[:200]}); "
                             "look for collinear or nearly constant covariates, or fit a penalised model "
                             "(--penalizer 0.1)") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"cannot fit {title}: {' '.join(str(exc).split())[:300]}") from exc
        except Exception as exc:  # formulaic raises its own types for a formula it cannot evaluate
            if not formula:
                raise
            raise ModelError(f"cannot use the formula {formula!r}: {' '.join(str(exc).split())[:300]}; "
                             f"columns available: {', '.join(str(c) for c in frame.columns if not str(c).startswith('_'))}") from exc
    for warning in caught:
        message = _translate_warning(str(warning.message), labels)
        if message not in messages:
            messages.append(message)
    summary = fitter.summary
    ci = 100 * (1 - alpha)
    terms = [str(t) for t in summary.index]
    table = pd.DataFrame({
        "term": terms, "label": [labels.get(t, t) for t in terms], "coef": summary["coef"].to_numpy(),
        "se": summary["se(coef)"].to_numpy(), "hr": summary["exp(coef)"].to_numpy(),
        "hr_ci_low": summary[f"exp(coef) lower {ci:g}%"].to_numpy(),
        "hr_ci_high": summary[f"exp(coef) upper {ci:g}%"].to_numpy(),
        "z": summary["z"].to_numpy(), "p": summary["p"].to_numpy()})
    for _, row in table.iterrows():
        if abs(row["coef"]) > 8 or row["se"] > 5:
            messages.append(f"{row['label']}: HR {row['hr']:.3g} with an extremely wide CI suggests separation or "
                            "sparse data; merge groups, drop the covariate or fit a penalised model (--penalizer 0.1)")
    n_parameters = len(terms)
    epv = n_events / max(n_parameters, 1)
    if epv < MIN_EPV:
        messages.append(f"only {epv:.1f} events per variable ({n_events} events, {n_parameters} parameters; "
                        f"fewer than {MIN_EPV}): estimates may be unstable, use fewer covariates")
    ph_table, violators, ph_note = _ph_check(fitter, data, labels) if ph_test else (_NO_PH_TEST.copy(), [], "")
    if ph_note:
        messages.append(ph_note)
    c_ci = (float("nan"), float("nan"))
    if n_bootstrap > 0:  # the risk scores are only needed for the bootstrap (screens and definitions skip it)
        risk = fitter.predict_partial_hazard(data).to_numpy(dtype=float)
        c_ci = bootstrap_concordance(data[time].to_numpy(), data[event].to_numpy(), risk, n_bootstrap, seed, alpha)
    return CoxResult(title=title, time=time, event=event, table=table, n=len(data), events=n_events,
                     n_parameters=n_parameters, epv=epv,
                     concordance=fitted_concordance(fitter) if concordance else float("nan"),
                     concordance_ci=c_ci, ph_test=ph_table, ph_violations=violators, messages=messages,
                     strata=strata, formula=formula, fitter=fitter)
