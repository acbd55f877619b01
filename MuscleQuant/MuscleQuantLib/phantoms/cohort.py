"""Simulated cohorts whose survival depends on the muscle index with a known, stated hazard ratio.

The true model is a Weibull proportional-hazards model with
``log h(t) = log h0(t) + beta_index * index + beta_age * (age - 60) + beta_male * male``;
the hazard ratios in :class:`CohortTruth` are the ones a correctly specified multivariable Cox
model (index + age + sex) should recover. Times are in months.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .subject import Subject, sample_subject

CLINICAL_COLUMNS = ("patient_id", "age", "sex", "height_m", "weight_kg", "os_months", "os_event",
                    "pfs_months", "pfs_event")


@dataclass(frozen=True)
class CohortTruth:
    """The hazard ratios the simulation uses (per unit of each covariate unless stated)."""

    index_name: str = "smi_cm2_m2"
    index_center: float = 45.0  # index value of the reference patient
    index_step: float = 10.0  # the hazard ratios below are per this many index units
    os_hr_per_step: float = 0.60  # more muscle, lower hazard
    pfs_hr_per_step: float = 0.70
    hr_age_per_year: float = 1.02
    hr_male: float = 1.30
    weibull_shape: float = 1.2
    os_median_months_reference: float = 24.0  # at index_center, age 60, female
    pfs_median_months_reference: float = 11.0
    admin_censor_months: float = 60.0
    dropout_per_month: float = 0.004

    @property
    def os_beta_index(self) -> float:
        return float(np.log(self.os_hr_per_step) / self.index_step)

    @property
    def pfs_beta_index(self) -> float:
        return float(np.log(self.pfs_hr_per_step) / self.index_step)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(os_beta_index=self.os_beta_index, pfs_beta_index=self.pfs_beta_index,
                    model="Weibull PH: log h = log h0 + beta_index*(index-index_center) + log(hr_age)*(age-60) "
                    "+ log(hr_male)*male; beta_index = log(hr_per_step)/index_step")
        return data


def _weibull_times(rng: np.random.Generator, linear_predictor: np.ndarray, median_ref: float, shape: float) -> np.ndarray:
    """Event times with S(t) = exp(-(t/scale)^shape * exp(lp)); median_ref is the median at lp = 0."""
    scale = median_ref / np.log(2.0) ** (1.0 / shape)
    u = rng.uniform(size=linear_predictor.shape)
    return scale * (-np.log(u) * np.exp(-linear_predictor)) ** (1.0 / shape)


def simulate_survival(rng: np.random.Generator, index: np.ndarray, age: np.ndarray, male: np.ndarray,
                      truth: CohortTruth = CohortTruth(), extra_lp: np.ndarray | None = None) -> pd.DataFrame:
    """OS and PFS (months, event 0/1) for each patient under the stated truth.

    ``extra_lp`` adds a further log-hazard term to both endpoints (e.g. a muscle texture signal)."""
    common = np.log(truth.hr_age_per_year) * (age - 60.0) + np.log(truth.hr_male) * male
    if extra_lp is not None:
        common = common + np.asarray(extra_lp, dtype=float)
    lp_os = truth.os_beta_index * (index - truth.index_center) + common
    lp_pfs = truth.pfs_beta_index * (index - truth.index_center) + common
    death = _weibull_times(rng, lp_os, truth.os_median_months_reference, truth.weibull_shape)
    progression = _weibull_times(rng, lp_pfs, truth.pfs_median_months_reference, truth.weibull_shape)
    dropout = rng.exponential(1.0 / truth.dropout_per_month, size=index.shape)
    censor = np.minimum(dropout, truth.admin_censor_months)
    os_time = np.minimum(death, censor)
    pfs_time = np.minimum(np.minimum(progression, death), censor)
    return pd.DataFrame({
        "os_months": np.round(np.maximum(os_time, 0.1), 2),
        "os_event": (death <= censor).astype(int),
        "pfs_months": np.round(np.maximum(pfs_time, 0.1), 2),
        "pfs_event": (np.minimum(progression, death) <= censor).astype(int),
    })


def clinical_table(patient_ids: list[str], subjects: list[Subject], index: np.ndarray, rng: np.random.Generator,
                   truth: CohortTruth = CohortTruth(), extra_lp: np.ndarray | None = None) -> pd.DataFrame:
    """The clinical table of a cohort: demographics plus survival simulated from ``index``."""
    age = np.array([s.age for s in subjects])
    male = np.array([1.0 if s.sex == "M" else 0.0 for s in subjects])
    table = pd.DataFrame({
        "patient_id": patient_ids,
        "age": age,
        "sex": [s.sex for s in subjects],
        "height_m": [s.height_m for s in subjects],
        "weight_kg": [s.weight_kg for s in subjects],
    })
    survival = simulate_survival(rng, np.asarray(index, dtype=float), age, male, truth, extra_lp)
    return pd.concat([table, survival], axis=1)[list(CLINICAL_COLUMNS)]


def simulate_cohort_table(n: int, seed: int, truth: CohortTruth = CohortTruth(),
                          measurement_noise_sd: float = 1.5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A cohort without images (fast, for statistics tests): clinical table and measurement table.

    The measured index is the subject's true SMI plus measurement noise, as an automated
    segmentation would give.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 9001]))
    subjects = [sample_subject(rng) for _ in range(n)]
    ids = [f"P{i:05d}" for i in range(n)]
    true_index = np.array([s.target_smi for s in subjects])
    clinical = clinical_table(ids, subjects, true_index, rng, truth)
    measured = true_index + rng.normal(0.0, measurement_noise_sd, n)
    measurements = pd.DataFrame({"patient_id": ids, truth.index_name: np.round(measured, 2)})
    return clinical, measurements
