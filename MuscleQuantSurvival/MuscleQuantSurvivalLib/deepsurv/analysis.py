"""The HCC paper's radiomics survival analysis on a cohort: features → autoencoder → DeepSurv → metrics.

Patients carry a split (train / internal / external). The pipeline is fitted on the training set
only; every set is then scored with the same metrics, for DeepSurv's risk and for each traditional
sarcopenia definition, so the table compares them side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from MuscleQuantLib.errors import InputError

from ..analyses import find_endpoint
from ..groupings import SARCOPENIC, GroupingSpec, Groups, lookup_definition, make_groups
from ..km import KMResult, kaplan_meier
from ..tables import Cohort, Exclusions
from .evaluation import DEFAULT_AUC_MONTHS, Outcome, paired_c_index_difference, score_set
from .hcc import HCC_DEFINITIONS
from .modelfile import SurvivalPipeline
from .training import DeepSurvSettings, FeatureScaler, encode, fit_autoencoder, fit_deepsurv, predict_risk

SETS = ("train", "internal", "external")
HIGH, LOW = "high risk", "low risk"


@dataclass(frozen=True)
class DeepSurvRequest:
    endpoint: str = "OS"
    split_column: str = "split"
    definitions: tuple[str, ...] = HCC_DEFINITIONS
    auc_months: tuple[float, ...] = DEFAULT_AUC_MONTHS
    n_bootstrap: int = 200
    exclude_invalid: bool = False
    settings: DeepSurvSettings = field(default_factory=DeepSurvSettings)


@dataclass
class DeepSurvResult:
    metrics: pd.DataFrame  # one row per set and score (DeepSurv first, then each definition)
    risk: pd.DataFrame  # patient id, set, risk, group
    pipeline: SurvivalPipeline
    km: dict[str, KMResult]  # set -> DeepSurv median-risk KM
    exclusions: Exclusions
    codes: np.ndarray
    notes: list[str] = field(default_factory=list)


def read_features(path: str | Path, id_column: str = "patient_id") -> pd.DataFrame:
    """The ``musclequant radiomics`` table, indexed by patient id; non-numeric columns are refused."""
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype={id_column: str})
    except FileNotFoundError:
        raise InputError("feature table not found", path=path) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable CSV feature table ({exc})", path=path) from None
    if id_column not in table.columns:
        raise InputError(f"has no {id_column!r} column (the radiomics command writes one)", path=path, field=id_column)
    if table[id_column].duplicated().any():
        dup = table.loc[table[id_column].duplicated(), id_column].iloc[0]
        raise InputError(f"patient {dup} has two feature rows", path=path, field=id_column)
    values = table.drop(columns=[id_column])
    bad = [c for c in values.columns if not pd.api.types.is_numeric_dtype(values[c])]
    if bad:
        raise InputError(f"column {bad[0]!r} holds text; feature columns must be numbers", path=path, field=bad[0])
    if values.shape[1] == 0:
        raise InputError("has no feature columns", path=path)
    return values.set_index(table[id_column])


def imputation_note(values: pd.DataFrame, sets: pd.Series) -> str:
    """Say how many missing (NaN) and infinite feature values the training medians replace, and where."""
    array = values.to_numpy(dtype=float)
    missing, infinite = np.isnan(array), np.isinf(array)
    if not (missing.any() or infinite.any()):
        return ""
    columns = [str(c) for c, bad in zip(values.columns, (missing | infinite).any(axis=0), strict=True) if bad]
    per_set = ", ".join(f"{name} {int((missing | infinite)[(sets == name).to_numpy()].any(axis=1).sum())}"
                        for name in SETS if (sets == name).any())
    return (f"features: {int(missing.sum())} missing (NaN) and {int(infinite.sum())} infinite values were replaced by "
            f"the training median before scaling (patients affected per set: {per_set}; columns: "
            f"{', '.join(columns[:5])}{' ...' if len(columns) > 5 else ''})")


def _sets(data: pd.DataFrame, column: str) -> pd.Series:
    values = data[column].astype(str).str.strip().str.lower()
    unknown = sorted(set(values) - set(SETS))
    if unknown:
        raise InputError(f"split column {column!r} holds {unknown[0]!r}; use train, internal or external",
                         field=column)
    if (values == "train").sum() < 20:
        raise InputError(f"only {(values == 'train').sum()} training patients; DeepSurv needs at least 20",
                         field=column)
    return values


def _risk_groups(index: pd.Index, high: np.ndarray) -> Groups:
    """High/low DeepSurv risk as a grouping, so the cohort's Kaplan–Meier code and figure apply."""
    labels = pd.Series(np.where(high, HIGH, LOW), index=index, dtype=object)
    spec = GroupingSpec("column", "deepsurv_risk_group", reference=LOW)
    return Groups(spec, labels, [LOW, HIGH], LOW, Exclusions(len(index), len(index)),
                  notes=["DeepSurv risk above the training median = high risk"])


def _definition_rows(cohort: Cohort, request: DeepSurvRequest, data: pd.DataFrame, sets: pd.Series,
                     outcome_of, risk_of, train: Outcome, notes: list[str]) -> list[dict[str, Any]]:
    rows = []
    for key in request.definitions:
        definition = lookup_definition(key)
        if definition.measure not in cohort.data.columns:
            notes.append(f"{key}: the cohort has no {definition.measure} column; left out of the comparison")
            continue
        labels = make_groups(cohort, GroupingSpec("definition", definition=key),
                             exclude_invalid=request.exclude_invalid).labels
        for name in SETS:
            index = [i for i in data.index[sets == name] if i in labels.index]
            if not index:
                continue
            indicator = (labels.loc[index] == SARCOPENIC).to_numpy()
            outcome = outcome_of(index)
            metrics = score_set(outcome, indicator.astype(float), indicator, train,
                                months=request.auc_months, n_bootstrap=request.n_bootstrap, seed=request.settings.seed)
            if metrics["events"] > 0 and len(index) >= 5:
                delta, low, high = paired_c_index_difference(outcome, risk_of(index), indicator.astype(float),
                                                             request.n_bootstrap, request.settings.seed)
                metrics.update(deepsurv_minus_c=delta, deepsurv_minus_c_ci_low=low, deepsurv_minus_c_ci_high=high)
            rows.append({"set": name, "score": getattr(definition, "name", key), "definition": key,
                         "kind": "definition", **metrics})
    return rows


def run_deepsurv(cohort: Cohort, features: pd.DataFrame, request: DeepSurvRequest) -> DeepSurvResult:
    """Fit on the training split, score every split; returns metrics, risks, KM results and the pipeline."""
    endpoint = find_endpoint(cohort, request.endpoint)
    id_column = cohort.columns.id
    data, exclusions = cohort.usable([endpoint.time, endpoint.event, request.split_column], request.exclude_invalid)
    has_features = data[id_column].astype(str).isin(features.index)
    for index in data.index[~has_features]:
        exclusions.left_out.append((cohort.label(index), "no feature row for the patient"))
    data = data[has_features]
    exclusions.n_used = len(data)
    sets = _sets(data, request.split_column)
    x_all = features.loc[data[id_column].astype(str)]
    time = data[endpoint.time].to_numpy(dtype=float)
    event = data[endpoint.event].to_numpy(dtype=float)
    is_train = (sets == "train").to_numpy()
    settings = request.settings
    scaler = FeatureScaler.fit(x_all[is_train])
    if not scaler.columns:
        example = next(iter(scaler.dropped.items()), ("", "no feature columns"))
        raise InputError(f"no usable feature column: all {len(scaler.dropped)} are constant or mostly missing in the "
                         f"training patients (e.g. {example[0]}: {example[1]}); DeepSurv needs features that vary",
                         field="--features")
    imputed = imputation_note(x_all[scaler.columns], sets)
    x = scaler.transform(x_all)
    autoencoder, ae_log = fit_autoencoder(x[is_train], settings, event[is_train])
    codes = encode(autoencoder, x)
    deepsurv, ds_log = fit_deepsurv(codes[is_train], time[is_train], event[is_train], settings)
    risk = predict_risk(deepsurv, codes)
    threshold = float(np.median(risk[is_train]))
    train = Outcome(time[is_train], event[is_train])
    position = {index: i for i, index in enumerate(data.index)}

    def outcome_of(index) -> Outcome:
        rows = [position[i] for i in index]
        return Outcome(time[rows], event[rows])

    def risk_of(index) -> np.ndarray:
        return risk[[position[i] for i in index]]

    rows, km, notes = [], {}, []
    for name in SETS:
        mask = (sets == name).to_numpy()
        if not mask.any():
            notes.append(f"no {name} patients: that set is not scored")
            continue
        high = risk[mask] > threshold
        metrics = score_set(Outcome(time[mask], event[mask]), risk[mask], high, train, months=request.auc_months,
                            n_bootstrap=request.n_bootstrap, seed=settings.seed)
        rows.append({"set": name, "score": "DeepSurv (radiomics)", "definition": "", "kind": "deepsurv", **metrics})
        try:
            km[name] = kaplan_meier(cohort, endpoint, _risk_groups(data.index[mask], high))
            km[name].title = f"{endpoint.name}, {name} set: DeepSurv median-risk split"
        except InputError as exc:
            notes.append(f"{name} set Kaplan–Meier not drawn: {exc}")
    rows += _definition_rows(cohort, request, data, sets, outcome_of, risk_of, train, notes)
    metrics = pd.DataFrame(rows)
    metrics.insert(0, "endpoint", endpoint.name)
    risk_table = pd.DataFrame({id_column: data[id_column].to_numpy(), "set": sets.to_numpy(), "risk": risk,
                               "group": np.where(risk > threshold, HIGH, LOW)})
    card = {"endpoint": endpoint.name, "threshold_training_median": threshold,
            "training": {"n": int(is_train.sum()), "events": int(event[is_train].sum()), "autoencoder": ae_log,
                         "deepsurv": ds_log, "features_used": len(scaler.columns),
                         "features_dropped": len(scaler.dropped)},
            "metrics": {r["set"]: {k: r.get(k) for k in ("n", "events", "c_index", "c_index_ci_low", "c_index_ci_high")}
                        for r in rows if r["kind"] == "deepsurv"}}
    pipeline = SurvivalPipeline(scaler, autoencoder, deepsurv, settings, card)
    if scaler.dropped:
        notes.append(f"{len(scaler.dropped)} feature columns not used (constant or mostly missing in training)")
    if imputed:
        notes.append(imputed)
    return DeepSurvResult(metrics, risk_table, pipeline, km, exclusions, codes, notes)


def best_definition(metrics: pd.DataFrame, set_name: str) -> tuple[str, float]:
    """The traditional definition with the highest C-index on ``set_name`` (name, C)."""
    part = metrics[(metrics["set"] == set_name) & (metrics["kind"] == "definition")].dropna(subset=["c_index"])
    if part.empty:
        return "", float("nan")
    row = part.loc[part["c_index"].idxmax()]
    return str(row["score"]), float(row["c_index"])


def deepsurv_c_index(metrics: pd.DataFrame, set_name: str) -> float:
    part = metrics[(metrics["set"] == set_name) & (metrics["kind"] == "deepsurv")]
    return float(part["c_index"].iloc[0]) if not part.empty else float("nan")


def pca_components(result: DeepSurvResult, features: pd.DataFrame, ids: Sequence[str], n: int = 3) -> np.ndarray:
    """First ``n`` principal components of the standardised features (fitted on the training rows)."""
    from sklearn.decomposition import PCA

    x = result.pipeline.scaler.transform(features.loc[list(ids)])
    train = (result.risk["set"] == "train").to_numpy()
    return PCA(n_components=n, random_state=0).fit(x[train]).transform(x)
