"""lifelines' Cox model with its two per-patient Python loops replaced by the same arithmetic in numpy.

``CoxPHFitter._get_efron_values_single`` (Efron gradient, Hessian and log-likelihood, once per Newton
step) and ``_compute_schoenfeld_within_strata`` (the PH test; it grows its result with ``np.append`` row
by row) walk every patient in Python: 0.3–0.4 s per fit of 10,000 patients, most of a cohort report.

Both loops only keep running sums over the patients in reverse time order and close a block at each
distinct time with events. Running sums are sequential cumulative sums (``np.cumsum`` adds strictly in
order, starting from a prepended 0 exactly as the loop starts from 0), the per-block terms are the same
element-wise operations, and the per-block terms are accumulated again by sequential cumulative sums in
the loop's order. Blocks with tied events run lifelines' own code for that block. The results are
therefore bit-identical to lifelines' (tested on Rossi, tied and weighted data), so every published
coefficient, CI, p-value and PH statistic is unchanged.
"""

from __future__ import annotations

import numpy as np
from lifelines import CoxPHFitter
from lifelines.fitters.coxph_fitter import SemiParametricPHFitter
from lifelines.utils import CensoringType
from numpy import arange, dot, einsum, exp, log, zeros


def _reverse_running_sum(values: np.ndarray) -> np.ndarray:
    """Row i: 0 + v[n-1] + v[n-2] + ... + v[i], added in that order (the loop's running sum after row i)."""
    padded = np.concatenate([np.zeros((1, *values.shape[1:])), values[::-1]])
    return np.cumsum(padded, axis=0)[1:][::-1]


def _blocks(times: np.ndarray, events: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per distinct time (ascending order of rows): first row, last row and number of events."""
    starts = np.flatnonzero(np.r_[True, times[1:] != times[:-1]])
    ends = np.r_[starts[1:], times.size] - 1
    counts = np.add.reduceat(events.astype(bool).astype(np.int64), starts) if times.size else np.zeros(0, np.int64)
    return starts, ends, counts


def _event_rows(events: np.ndarray, first: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """The one row with an event in each block [first, stop)."""
    flags = events.astype(bool)
    position = np.cumsum(np.r_[0, flags.astype(np.int64)])
    # the event is the only flagged row between first and stop: the first flagged row at or after first
    candidates = np.flatnonzero(flags)
    return candidates[position[first]]


def _sequential_total(terms: np.ndarray) -> np.ndarray:
    """0 + t[0] + t[1] + ..., added in order (as a loop accumulates)."""
    padded = np.concatenate([np.zeros((1, *terms.shape[1:])), terms])
    return np.cumsum(padded, axis=0)[-1]


class _Deferred:
    """The arguments of lifelines' central-value computation, run on first use (a plain object, so a
    fitted model still pickles and deep-copies)."""

    def __init__(self, frame, strata, name) -> None:  # noqa: ANN001
        self.frame, self.strata, self.name = frame, strata, name

    def compute(self, fitter: SemiParametricPHFitter):  # noqa: ANN201 - a DataFrame
        return SemiParametricPHFitter._compute_central_values_of_raw_training_data(fitter, self.frame, self.strata,
                                                                                  self.name)


class _FastSemiParametricPHFitter(SemiParametricPHFitter):
    """The model ``CoxPHFitter`` fits for the Breslow baseline, with the two loops vectorised.

    ``_central_values`` (a ``DataFrame.describe`` of the training data, only read by lifelines' partial-effect
    plots and baseline predictions) is computed when first read instead of in every fit: about 10 % of a
    10,000-patient fit, and a report fits some 20 models that never read it.
    """

    def _compute_central_values_of_raw_training_data(self, df, strata=None, name="baseline"):  # noqa: ANN001, ANN201
        if strata is not None or name != "baseline":  # stratified: lifelines recurses per stratum; compute now
            return super()._compute_central_values_of_raw_training_data(df, strata, name)
        return _Deferred(df.copy(), strata, name)

    @property
    def _central_values(self):  # noqa: ANN202 - a DataFrame
        value = self.__dict__.get("_central_values_value")
        if isinstance(value, _Deferred):
            value = self.__dict__["_central_values_value"] = value.compute(self)
        if value is None:
            raise AttributeError("_central_values")
        return value

    @_central_values.setter
    def _central_values(self, value) -> None:  # noqa: ANN001
        self.__dict__["_central_values_value"] = value

    def _get_efron_values_single(self, X, T, E, weights, entries, beta):  # noqa: ANN001, ANN201 - lifelines' signature
        X = X.values
        T = T.values
        E = E.values
        weights = weights.values
        n, d = X.shape
        scores = weights * exp(dot(X, beta))
        phi_x_is = scores[:, None] * X
        phi_x_x = X[:, :, None] * phi_x_is[:, None, :]  # multiply.outer(xi, phi_x_i) per row
        risk_phi = _reverse_running_sum(scores)
        risk_phi_x = _reverse_running_sum(phi_x_is)
        risk_phi_x_x = _reverse_running_sum(phi_x_x)
        starts, _, counts = _blocks(T, E)
        # Blocks in the loop's order (latest time first); only blocks with events add terms.
        order = [b for b in range(starts.size - 1, -1, -1) if counts[b] > 0]
        single = np.array([counts[b] == 1 for b in order], dtype=bool)
        gradient_terms = zeros((2 * len(order), d))
        loglik_terms = zeros(2 * len(order))
        hessian_terms = zeros((len(order), d, d))
        if single.any():
            blocks = np.array(order)[single]
            first = starts[blocks]  # the loop closes a block at its first (lowest) row
            ends = np.r_[starts[1:], n][blocks]
            event_rows = _event_rows(E, first, ends)
            w = weights[event_rows]
            x_death_sum = zeros((len(blocks), d)) + w[:, None] * X[event_rows]
            weighted_average = (0.0 + w) / 1
            denom = 1.0 / risk_phi[first]
            summand = risk_phi_x[first] * denom[:, None]
            a1 = risk_phi_x_x[first] * denom[:, None, None]
            a2 = summand[:, :, None] * summand[:, None, :]
            slots = np.flatnonzero(single)
            gradient_terms[2 * slots] = x_death_sum
            gradient_terms[2 * slots + 1] = -(weighted_average[:, None] * summand)
            loglik_terms[2 * slots] = [dot(row, beta) for row in x_death_sum]
            loglik_terms[2 * slots + 1] = weighted_average * log(denom)
            hessian_terms[slots] = weighted_average[:, None, None] * (a2 - a1)
        tied_slots = np.flatnonzero(~single)
        tie_counts = np.array([counts[order[slot]] for slot in tied_slots], dtype=np.int64)
        for k in np.unique(tie_counts):
            slots = tied_slots[tie_counts == k]
            self._tied_blocks(int(k), slots, starts[np.array(order)[slots]], X, E, weights, phi_x_is, scores,
                              risk_phi, risk_phi_x, risk_phi_x_x, beta, gradient_terms, loglik_terms, hessian_terms)
        return (_sequential_total(hessian_terms), _sequential_total(gradient_terms),
                _sequential_total(loglik_terms[:, None])[0])

    @staticmethod
    def _tied_blocks(k, slots, first, X, E, weights, phi_x_is, scores, risk_phi, risk_phi_x,  # noqa: ANN001, ANN205
                     risk_phi_x_x, beta, gradient_terms, loglik_terms, hessian_terms) -> None:
        """lifelines' arithmetic for all blocks with k tied events at once (tie sums added in its row order;
        batched einsum and matmul give the per-block einsum and dot results)."""
        d = X.shape[1]
        flags = E.astype(bool)
        position = np.cumsum(np.r_[0, flags.astype(np.int64)])
        candidates = np.flatnonzero(flags)
        # the block's k event rows, latest row first (the loop runs backwards)
        rows = candidates[position[first][:, None] + np.arange(k - 1, -1, -1)[None, :]]
        x_death_sum = zeros((len(slots), d))
        tie_phi = zeros(len(slots))
        tie_phi_x = zeros((len(slots), d))
        tie_phi_x_x = zeros((len(slots), d, d))
        weight_count = zeros(len(slots))
        for j in range(k):
            row = rows[:, j]
            xi, w, phi_x_i = X[row], weights[row], phi_x_is[row]
            x_death_sum = x_death_sum + w[:, None] * xi
            tie_phi = tie_phi + scores[row]
            tie_phi_x = tie_phi_x + phi_x_i
            tie_phi_x_x = tie_phi_x_x + xi[:, :, None] * phi_x_i[:, None, :]
            weight_count = weight_count + w
        weighted_average = weight_count / k
        increasing_proportion = arange(k) / k
        denom = 1.0 / (risk_phi[first][:, None] - increasing_proportion[None, :] * tie_phi[:, None])
        numer = risk_phi_x[first][:, None, :] - increasing_proportion[None, :, None] * tie_phi_x[:, None, :]
        a1 = (einsum("nab,ni->nab", risk_phi_x_x[first], denom)
              - einsum("nab,ni->nab", tie_phi_x_x, increasing_proportion[None, :] * denom))
        summand = numer * denom[:, :, None]
        a2 = np.matmul(summand.transpose(0, 2, 1), summand)
        gradient_terms[2 * slots] = x_death_sum
        gradient_terms[2 * slots + 1] = -(weighted_average[:, None] * summand.sum(1))
        loglik_terms[2 * slots] = [dot(row, beta) for row in x_death_sum]
        loglik_terms[2 * slots + 1] = weighted_average * log(denom).sum(1)
        hessian_terms[slots] = weighted_average[:, None, None] * (a2 - a1)

    def _compute_schoenfeld_within_strata(self, X, T, E, weights, entries):  # noqa: ANN001, ANN201
        X = X.values
        E = E.values
        T = T.values
        weights = weights.values
        n, d = X.shape
        if not np.any(E):
            return zeros((n, d))
        scores = weights * exp(dot(X, self.params_))
        phi_x = scores[:, None] * X
        risk_phi = _reverse_running_sum(scores)
        risk_phi_x = _reverse_running_sum(phi_x)
        starts, ends, counts = _blocks(T, E)
        flags = E.astype(bool)
        position = np.cumsum(np.r_[0, flags.astype(np.int64)])
        candidates = np.flatnonzero(flags)
        weighted_means = zeros((starts.size, d))
        for k in np.unique(counts[counts > 0]):
            blocks = np.flatnonzero(counts == k)
            first = starts[blocks]
            rows = candidates[position[first][:, None] + np.arange(k - 1, -1, -1)[None, :]]  # latest row first
            tie_phi, tie_phi_x = zeros(blocks.size), zeros((blocks.size, d))
            for j in range(k):
                tie_phi = tie_phi + scores[rows[:, j]]
                tie_phi_x = tie_phi_x + phi_x[rows[:, j]]
            weighted_mean = zeros((blocks.size, d))
            for step in range(k):  # lifelines' Efron average over the tied events
                numer = risk_phi_x[first] - step * tie_phi_x / k
                denom = risk_phi[first] - step * tie_phi / k
                weighted_mean += numer / (denom * k)[:, None]
            weighted_means[blocks] = weighted_mean
        block_of_row = np.repeat(np.arange(starts.size), ends - starts + 1)
        residuals = E[:, None] * (X - weighted_means[block_of_row])
        residuals[counts[block_of_row] == 0] = 0.0  # blocks without events: zero rows, as lifelines
        return residuals


class FastCoxPHFitter(CoxPHFitter):
    """``CoxPHFitter`` (Breslow baseline, Efron ties) giving lifelines' exact numbers without its loops."""

    def _fit_model_breslow(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - lifelines' signature
        model = _FastSemiParametricPHFitter(penalizer=self.penalizer, l1_ratio=self.l1_ratio, strata=self.strata,
                                            alpha=self.alpha, label=self._label)
        if not CensoringType.is_right_censoring(self):
            return super()._fit_model_breslow(*args, **kwargs)
        model.fit(*args, **kwargs)
        return model
