"""Agreement and association statistics shared by the segmentation evaluation and the cohort analyses.

Bland–Altman (bias and limits of agreement), ICC(2,1) (two-way random effects, absolute agreement,
single measurement; Shrout & Fleiss 1979, CI after McGraw & Wong 1996), Pearson and Spearman
correlation and the two-group t-test. Each returns a small frozen dataclass with ``to_dict`` so that
reports and CSV writers need no knowledge of the statistic.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from .errors import InputError


def _paired_arrays(a: Any, b: Any, min_n: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Float arrays of the complete pairs; refuses too few pairs with a message that says so."""
    x = np.asarray(a, dtype=float).ravel()
    y = np.asarray(b, dtype=float).ravel()
    if x.shape != y.shape:
        raise InputError(f"{what}: the two series have different lengths ({x.size} and {y.size})")
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < min_n:
        raise InputError(f"{what}: needs at least {min_n} complete pairs, got {int(keep.sum())}")
    return x[keep], y[keep]


@dataclass(frozen=True)
class BlandAltman:
    """Bias (mean of a − b) and 95 % limits of agreement, with CIs and a proportional-bias check."""

    n: int
    bias: float
    bias_ci_low: float
    bias_ci_high: float
    sd_difference: float
    loa_low: float
    loa_high: float
    loa_low_ci: tuple[float, float]
    loa_high_ci: tuple[float, float]
    proportional_bias_slope: float  # slope of difference on mean; non-zero means the bias grows with size
    proportional_bias_p: float
    percent: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bland_altman(a: Any, b: Any, *, percent: bool = False, confidence: float = 0.95) -> BlandAltman:
    """Bland–Altman analysis of method ``a`` against method ``b`` (difference = a − b).

    ``percent=True`` analyses the difference as a percentage of the pair mean, as for CSA errors.
    The CI of each limit uses the Bland & Altman (1999) approximation se = sd·sqrt(3/n).
    """
    x, y = _paired_arrays(a, b, 3, "Bland–Altman")
    mean = (x + y) / 2.0
    diff = x - y
    if percent:
        if np.any(mean == 0):
            raise InputError("Bland–Altman in percent: a pair has mean 0, the percentage is undefined")
        diff = 100.0 * diff / mean
    n = diff.size
    bias = float(diff.mean())
    sd = float(diff.std(ddof=1))
    z = stats.norm.ppf(0.5 + confidence / 2.0)
    t = stats.t.ppf(0.5 + confidence / 2.0, n - 1)
    se_bias = sd / np.sqrt(n)
    se_limit = sd * np.sqrt(3.0 / n)
    low, high = bias - z * sd, bias + z * sd
    if np.ptp(mean) > 0:
        slope = stats.linregress(mean, diff)
        slope_value, slope_p = float(slope.slope), float(slope.pvalue)
    else:
        slope_value, slope_p = float("nan"), float("nan")
    return BlandAltman(
        n=n, bias=bias, bias_ci_low=float(bias - t * se_bias), bias_ci_high=float(bias + t * se_bias),
        sd_difference=sd, loa_low=float(low), loa_high=float(high),
        loa_low_ci=(float(low - t * se_limit), float(low + t * se_limit)),
        loa_high_ci=(float(high - t * se_limit), float(high + t * se_limit)),
        proportional_bias_slope=slope_value, proportional_bias_p=slope_p, percent=percent,
    )


@dataclass(frozen=True)
class ICC:
    """ICC(2,1) with its F test against 0 and a confidence interval."""

    n_subjects: int
    n_raters: int
    icc: float
    ci_low: float
    ci_high: float
    f_value: float
    p_value: float
    kind: str = "ICC(2,1): two-way random effects, absolute agreement, single measurement"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def icc_2_1(ratings: Any, *, confidence: float = 0.95) -> ICC:
    """ICC(2,1) of an n-subjects × k-raters matrix (rows with a missing rating are left out).

    Absolute agreement (not consistency) because an automated method that is systematically too
    large should score lower than one that agrees exactly.
    """
    y = np.asarray(ratings, dtype=float)
    if y.ndim != 2 or y.shape[1] < 2:
        raise InputError("ICC: needs a subjects × raters table with at least two raters (columns)")
    y = y[np.all(np.isfinite(y), axis=1)]
    n, k = y.shape
    if n < 3:
        raise InputError(f"ICC: needs at least 3 subjects with every rating present, got {n}")
    grand = y.mean()
    ss_rows = k * ((y.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((y.mean(axis=0) - grand) ** 2).sum()
    ss_error = ((y - grand) ** 2).sum() - ss_rows - ss_cols
    ms_rows = ss_rows / (n - 1)
    ms_cols = ss_cols / (k - 1)
    ms_error = ss_error / ((n - 1) * (k - 1))
    denominator = ms_rows + (k - 1) * ms_error + k * (ms_cols - ms_error) / n
    if denominator <= 0 or ms_error <= 0:
        # Perfect agreement (no residual variance) or no between-subject variance at all.
        perfect = ms_error <= 1e-15 and ms_cols <= 1e-15 and ms_rows > 0
        value = 1.0 if perfect else float("nan")
        return ICC(n, k, value, value, value, float("inf") if perfect else float("nan"),
                   0.0 if perfect else float("nan"))
    icc = (ms_rows - ms_error) / denominator
    f_value = ms_rows / ms_error
    p_value = float(stats.f.sf(f_value, n - 1, (n - 1) * (k - 1)))
    alpha = 1.0 - confidence
    # McGraw & Wong (1996), case 2A: Satterthwaite degrees of freedom for the denominator.
    a = k * icc / (n * (1 - icc))
    b = 1 + k * icc * (n - 1) / (n * (1 - icc))
    v = (a * ms_cols + b * ms_error) ** 2 / ((a * ms_cols) ** 2 / (k - 1) + (b * ms_error) ** 2 / ((n - 1) * (k - 1)))
    f_low = stats.f.ppf(1 - alpha / 2, n - 1, v)
    f_high = stats.f.ppf(1 - alpha / 2, v, n - 1)
    low = n * (ms_rows - f_low * ms_error) / (f_low * (k * ms_cols + (k * n - k - n) * ms_error) + n * ms_rows)
    high = n * (f_high * ms_rows - ms_error) / (k * ms_cols + (k * n - k - n) * ms_error + n * f_high * ms_rows)
    return ICC(n, k, float(icc), float(low), float(high), float(f_value), p_value)


@dataclass(frozen=True)
class Correlation:
    """A correlation coefficient with its CI (Fisher z) and two-sided p-value."""

    method: str
    n: int
    r: float
    ci_low: float
    ci_high: float
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def correlation(x: Any, y: Any, *, method: str = "pearson", confidence: float = 0.95) -> Correlation:
    """Pearson or Spearman correlation of the complete pairs of ``x`` and ``y``.

    The Spearman CI uses the Fisher z with the Bonett–Wright variance (1 + r²/2)/(n − 3).
    """
    if method not in ("pearson", "spearman"):
        raise InputError(f"correlation method must be 'pearson' or 'spearman', not {method!r}")
    a, b = _paired_arrays(x, y, 4, f"{method} correlation")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        raise InputError(f"{method} correlation: one of the variables is constant, the correlation is undefined")
    if method == "pearson":
        result = stats.pearsonr(a, b)
        r, p = float(result.statistic), float(result.pvalue)
        variance = 1.0 / (a.size - 3)
    else:
        result = stats.spearmanr(a, b)
        r, p = float(result.statistic), float(result.pvalue)
        variance = (1.0 + r * r / 2.0) / (a.size - 3)
    z = np.arctanh(np.clip(r, -0.9999999, 0.9999999))
    half = stats.norm.ppf(0.5 + confidence / 2.0) * np.sqrt(variance)
    return Correlation(method, int(a.size), r, float(np.tanh(z - half)), float(np.tanh(z + half)), p)


@dataclass(frozen=True)
class GroupComparison:
    """Two-group t-test: group summaries, mean difference (first − second) with CI, and p."""

    groups: tuple[str, str]
    n: tuple[int, int]
    mean: tuple[float, float]
    sd: tuple[float, float]
    difference: float
    ci_low: float
    ci_high: float
    t: float
    df: float
    p_value: float
    welch: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def t_test(values: Any, groups: Any, *, order: tuple[str, str] | None = None, welch: bool = True,
           confidence: float = 0.95) -> GroupComparison:
    """Compare ``values`` between the two levels of ``groups`` (Welch by default: unequal variances)."""
    v = np.asarray(values, dtype=float).ravel()
    g = np.asarray(groups, dtype=object).ravel()
    keep = np.isfinite(v) & np.array([x is not None and x == x for x in g])
    v, g = v[keep], g[keep]
    levels = order or tuple(sorted({str(x) for x in g}))
    if len(levels) != 2:
        raise InputError(f"t-test needs exactly two groups, found {len(levels)}: {', '.join(map(str, levels))}")
    first = v[np.array([str(x) == levels[0] for x in g])]
    second = v[np.array([str(x) == levels[1] for x in g])]
    if first.size < 2 or second.size < 2:
        raise InputError(f"t-test needs at least 2 values per group ({levels[0]}: {first.size}, "
                         f"{levels[1]}: {second.size})")
    result = stats.ttest_ind(first, second, equal_var=not welch)
    ci = result.confidence_interval(confidence_level=confidence)
    return GroupComparison(
        groups=(str(levels[0]), str(levels[1])), n=(int(first.size), int(second.size)),
        mean=(float(first.mean()), float(second.mean())),
        sd=(float(first.std(ddof=1)), float(second.std(ddof=1))),
        difference=float(first.mean() - second.mean()), ci_low=float(ci.low), ci_high=float(ci.high),
        t=float(result.statistic), df=float(result.df), p_value=float(result.pvalue), welch=welch,
    )
