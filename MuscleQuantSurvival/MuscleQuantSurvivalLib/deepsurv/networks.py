"""The two networks of the radiomics survival pipeline and the Cox partial-likelihood loss.

Both are plain multilayer perceptrons (the HCC paper's design): an autoencoder that compresses the
standardised radiomic features to a code (100 variables in the paper), and DeepSurv (Katzman 2018),
which maps the code to a log relative hazard trained with the negative Cox partial log-likelihood.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def _mlp(sizes: Sequence[int], dropout: float, last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers += [nn.BatchNorm1d(b), nn.SELU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class FeatureAutoencoder(nn.Module):
    """Encoder n → hidden… → code, decoder back; the code is what DeepSurv sees."""

    def __init__(self, n_features: int, code_size: int = 100, hidden: Sequence[int] = (512, 256), dropout: float = 0.1):
        super().__init__()
        self.encoder = _mlp([n_features, *hidden, code_size], dropout, last_activation=False)
        self.decoder = _mlp([code_size, *reversed(hidden), n_features], dropout, last_activation=False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class DeepSurvNet(nn.Module):
    """Hidden layers with SELU and dropout, then one linear output: the log relative hazard."""

    def __init__(self, n_inputs: int, hidden: Sequence[int] = (64, 32), dropout: float = 0.3):
        super().__init__()
        self.body = _mlp([n_inputs, *hidden], dropout, last_activation=True) if hidden else nn.Identity()
        self.head = nn.Linear(hidden[-1] if hidden else n_inputs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).squeeze(-1)


def cox_partial_likelihood_loss(log_risk: torch.Tensor, time: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
    """Negative Cox partial log-likelihood averaged over events (tied times are rare with continuous
    follow-up and are broken by order).

    Sorting by descending time makes each patient's risk set the prefix up to it, so the log of the
    risk-set sum is a cumulative logsumexp. With no events the loss is 0 (nothing to learn from).
    """
    order = torch.argsort(time, descending=True, stable=True)
    risk, died = log_risk[order], event[order].to(log_risk.dtype)
    log_risk_set = torch.logcumsumexp(risk, dim=0)
    events = died.sum()
    if events == 0:
        return log_risk.sum() * 0.0
    return -((risk - log_risk_set) * died).sum() / events
