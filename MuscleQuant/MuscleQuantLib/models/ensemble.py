"""A model's members run together; a fold ensemble's label is the pixel-wise majority vote of its members'
labels, as in the C3 paper (Naser et al. 2022), not the argmax of averaged probabilities."""

from __future__ import annotations

from typing import Any

import torch


def to_probabilities(logits: torch.Tensor, activation: str) -> torch.Tensor:
    """Class probabilities (N, C, ...) from a member's raw output; sigmoid gives [1 - p, p]."""
    if activation == "softmax":
        return torch.softmax(logits.float(), dim=1)
    if activation == "sigmoid":
        if logits.shape[1] != 1:
            raise ValueError(f"sigmoid output needs 1 channel, got {logits.shape[1]}")
        foreground = torch.sigmoid(logits.float())
        return torch.cat([1 - foreground, foreground], dim=1)
    raise ValueError(f"unknown output activation {activation!r}")


def probabilities_to_labels(probabilities: torch.Tensor) -> torch.Tensor:
    """Class index per pixel; for two classes from a sigmoid this is exactly ``p > 0.5``."""
    if probabilities.shape[1] == 2:
        return (probabilities[:, 1] > 0.5).long()
    return probabilities.argmax(dim=1)


def majority_vote(member_probabilities: torch.Tensor) -> torch.Tensor:
    """Labels (N, ...) from stacked member probabilities (M, N, C, ...).

    Each member votes for its own label; the class with most votes wins. A tie goes to the tied class
    with the highest mean probability over members (then the lowest class index).
    """
    num_classes = member_probabilities.shape[2]
    votes = torch.stack([probabilities_to_labels(p) for p in member_probabilities])  # (M, N, ...)
    counts = torch.nn.functional.one_hot(votes, num_classes).sum(dim=0)  # (N, ..., C)
    counts = counts.movedim(-1, 1)  # (N, C, ...)
    tied = counts == counts.amax(dim=1, keepdim=True)
    mean = member_probabilities.mean(dim=0)
    score = torch.where(tied, mean, torch.full_like(mean, -1.0))
    return score.argmax(dim=1)


class EnsembleModel(torch.nn.Module):
    """All members of a model; ``forward`` returns every member's probabilities side by side.

    ``forward(x)`` gives (N, M*C, ...) so that MONAI's ``sliding_window_inference`` stitches each member's
    probabilities separately; :meth:`labels` then votes. :meth:`predict` does both for a whole input.
    """

    def __init__(self, members: list[torch.nn.Module], num_classes: int, activation: str = "softmax",
                 ensemble: str | None = None, card: dict[str, Any] | None = None):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = torch.nn.ModuleList(members)
        self.num_classes = num_classes
        self.activation = activation
        self.ensemble = ensemble or ("single" if len(members) == 1 else "majority")
        self.card = card or {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([to_probabilities(member(x), self.activation) for member in self.members], dim=1)

    def split(self, stacked: torch.Tensor) -> torch.Tensor:
        """(N, M*C, ...) -> (M, N, C, ...)."""
        return torch.stack(torch.split(stacked, self.num_classes, dim=1))

    def mean_probabilities(self, stacked: torch.Tensor) -> torch.Tensor:
        """Member-averaged probabilities (N, C, ...): a confidence map, not what decides the label."""
        return self.split(stacked).mean(dim=0)

    def labels(self, stacked: torch.Tensor) -> torch.Tensor:
        """Class indices (N, ...): the single member's label, or the members' majority vote."""
        per_member = self.split(stacked)
        if self.ensemble == "single":
            return probabilities_to_labels(per_member[0])
        return majority_vote(per_member)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class indices for a whole input that fits in memory (tests, 2D slices)."""
        was_training = self.training
        self.eval()
        try:
            return self.labels(self(x))
        finally:
            self.train(was_training)

    def label_values(self) -> list[int]:
        """Label-map value of each class index, from the card (identity when there is no card)."""
        labels = self.card.get("labels")
        return [label["value"] for label in labels] if labels else list(range(self.num_classes))
