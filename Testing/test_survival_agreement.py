"""Agreement statistics (MuscleQuantLib.agreement) against published or hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from MuscleQuantLib.agreement import bland_altman, correlation, icc_2_1, t_test
from MuscleQuantLib.errors import InputError

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges; ICC(2,1) = 0.29.
SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


def test_icc_2_1_matches_shrout_fleiss():
    result = icc_2_1(SHROUT_FLEISS)
    assert result.icc == pytest.approx(0.2898, abs=1e-4)
    assert result.f_value == pytest.approx(11.027, abs=1e-3)
    # McGraw & Wong CI as printed by pingouin / R psych::ICC for these data
    assert result.ci_low == pytest.approx(0.019, abs=2e-3)
    assert result.ci_high == pytest.approx(0.761, abs=2e-3)


def test_icc_penalises_systematic_offset():
    rng = np.random.default_rng(0)
    truth = rng.normal(50, 10, 40)
    exact = icc_2_1(np.column_stack([truth, truth + rng.normal(0, 1, 40)]))
    offset = icc_2_1(np.column_stack([truth, truth + 8 + rng.normal(0, 1, 40)]))
    assert exact.icc > 0.98 and offset.icc < exact.icc - 0.2


def test_bland_altman_bias_and_limits():
    a = np.array([10.0, 12.0, 14.0, 16.0, 18.0])
    b = a - np.array([1.0, 2.0, 1.0, 2.0, 1.5])
    result = bland_altman(a, b)
    sd = np.std([1.0, 2.0, 1.0, 2.0, 1.5], ddof=1)
    assert result.bias == pytest.approx(1.5)
    assert result.loa_low == pytest.approx(1.5 - 1.959964 * sd, abs=1e-5)
    assert result.loa_high == pytest.approx(1.5 + 1.959964 * sd, abs=1e-5)
    assert result.bias_ci_low < 1.5 < result.bias_ci_high
    with pytest.raises(InputError, match="at least 3"):
        bland_altman([1, 2], [1, 2])


def test_correlations_and_t_test():
    x = np.arange(20, dtype=float)
    y = 2 * x + np.sin(x)
    pearson = correlation(x, y)
    assert pearson.r > 0.99 and pearson.ci_low < pearson.r < pearson.ci_high and pearson.p_value < 1e-10
    spearman = correlation(x, y, method="spearman")
    assert spearman.n == 20 and spearman.r > 0.95
    with pytest.raises(InputError, match="constant"):
        correlation(x, np.ones(20))
    comparison = t_test([50, 52, 49, 51, 40, 41, 39, 42], ["M"] * 4 + ["F"] * 4)
    assert comparison.groups == ("F", "M") and comparison.difference == pytest.approx(-10.0)
    assert comparison.ci_low < -10 < comparison.ci_high and comparison.p_value < 1e-4
