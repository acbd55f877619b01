"""Fitting the pipeline on the training set only: scaler, autoencoder, DeepSurv — all seeded.

Everything learned (feature medians and scales, network weights) comes from the training patients;
the internal and external sets are only transformed and scored, so their metrics are honest.
Early stopping watches a validation split carved out of the training set.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .networks import DeepSurvNet, FeatureAutoencoder, cox_partial_likelihood_loss

CLIP_SD = 5.0  # standardised features are clipped to ±5 SD: one outlier cannot dominate a unit


@dataclass(frozen=True)
class DeepSurvSettings:
    """Architecture and training choices; recorded in the model card."""

    code_size: int = 100  # the paper's 100 autoencoder variables
    ae_hidden: tuple[int, ...] = (512, 256)
    ae_dropout: float = 0.1
    ae_lr: float = 1e-3
    ae_max_epochs: int = 400
    hidden: tuple[int, ...] = (32,)
    dropout: float = 0.4
    lr: float = 1e-3
    weight_decay: float = 1e-2  # L2 on DeepSurv weights: the training set has a few hundred patients
    max_epochs: int = 400
    patience: int = 50  # epochs without validation improvement before stopping
    val_fraction: float = 0.2
    seed: int = 0

    def to_dict(self) -> dict:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


@dataclass
class FeatureScaler:
    """Training-set medians (for missing values), means and SDs of the usable feature columns."""

    columns: list[str]
    median: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    dropped: dict[str, str] = field(default_factory=dict)  # column -> why it is not used

    @classmethod
    def fit(cls, frame) -> FeatureScaler:
        values = frame.to_numpy(dtype=float)
        finite = np.isfinite(values)
        keep, dropped = [], {}
        for j, column in enumerate(frame.columns):
            column_values = values[finite[:, j], j]
            if column_values.size < max(3, 0.5 * len(values)):
                dropped[column] = "missing in more than half of the training patients"
            elif np.ptp(column_values) == 0:
                dropped[column] = "constant in the training patients"
            else:
                keep.append(j)
        kept = values[:, keep]
        median = np.nanmedian(np.where(np.isfinite(kept), kept, np.nan), axis=0)
        filled = np.where(np.isfinite(kept), kept, median)
        return cls([frame.columns[j] for j in keep], median, filled.mean(axis=0), filled.std(axis=0) + 1e-12, dropped)

    def transform(self, frame) -> np.ndarray:
        values = frame[self.columns].to_numpy(dtype=float)
        values = np.where(np.isfinite(values), values, self.median)
        return np.clip((values - self.mean) / self.sd, -CLIP_SD, CLIP_SD).astype(np.float32)


def seed_everything(seed: int) -> torch.Generator:
    """Same seed, same model: torch's global and a local generator, deterministic kernels."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.Generator().manual_seed(seed)


def validation_split(n: int, fraction: float, seed: int, event: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Train/validation indices, stratified on the event indicator when given."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(event == e) for e in (0, 1)] if event is not None else [np.arange(n)]
    val = np.concatenate([g[rng.permutation(g.size)][: int(round(fraction * g.size))] for g in groups])
    train = np.setdiff1d(np.arange(n), val)
    return train, np.sort(val)


def _fit(model: torch.nn.Module, loss_of: Callable[[bool], torch.Tensor], lr: float, weight_decay: float,
         max_epochs: int, patience: int) -> dict:
    """Full-batch Adam with early stopping: ``loss_of(training)`` returns the training or validation loss."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    best, best_state, best_epoch, history = float("inf"), copy.deepcopy(model.state_dict()), 0, []
    for epoch in range(max_epochs):
        model.train()
        optimizer.zero_grad()
        loss = loss_of(True)
        loss.backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            val = float(loss_of(False))
        history.append((float(loss.detach()), val))
        if val < best - 1e-5:
            best, best_state, best_epoch = val, copy.deepcopy(model.state_dict()), epoch
        elif epoch - best_epoch >= patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    return {"best_epoch": best_epoch, "epochs_run": len(history), "best_validation_loss": best,
            "final_training_loss": history[-1][0]}


def fit_autoencoder(x: np.ndarray, settings: DeepSurvSettings, event: np.ndarray) -> tuple[FeatureAutoencoder, dict]:
    """Compress the standardised features; validation = reconstruction error on held-out training patients."""
    seed_everything(settings.seed)
    train, val = validation_split(len(x), settings.val_fraction, settings.seed, event)
    data = torch.from_numpy(x)
    model = FeatureAutoencoder(x.shape[1], settings.code_size, settings.ae_hidden, settings.ae_dropout)

    def loss_of(training: bool) -> torch.Tensor:
        part = data[train] if training else data[val]
        return torch.mean((model(part) - part) ** 2)

    log = _fit(model, loss_of, settings.ae_lr, 1e-5, settings.ae_max_epochs, settings.patience)
    return model, log


def encode(model: FeatureAutoencoder, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval().encode(torch.from_numpy(x)).numpy()


def fit_deepsurv(z: np.ndarray, time: np.ndarray, event: np.ndarray,
                 settings: DeepSurvSettings) -> tuple[DeepSurvNet, dict]:
    """DeepSurv on the codes; early stopping on the validation patients' partial likelihood."""
    seed_everything(settings.seed + 1)
    train, val = validation_split(len(z), settings.val_fraction, settings.seed + 1, event)
    data, t, e = torch.from_numpy(z.astype(np.float32)), torch.from_numpy(time), torch.from_numpy(event)
    model = DeepSurvNet(z.shape[1], settings.hidden, settings.dropout)

    def loss_of(training: bool) -> torch.Tensor:
        part = train if training else val
        return cox_partial_likelihood_loss(model(data[part]), t[part], e[part])

    log = _fit(model, loss_of, settings.lr, settings.weight_decay, settings.max_epochs, settings.patience)
    return model, log


def predict_risk(model: DeepSurvNet, z: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(torch.from_numpy(z.astype(np.float32))).numpy().astype(float)
