"""Fold ensembles vote pixel-wise (majority of member labels, as in the C3 paper), not by averaging."""

from __future__ import annotations

import torch
from models_helpers import card_fields, tiny_unet

from MuscleQuantLib.models import EnsembleModel, load_model, majority_vote, save_model


class FixedOutput(torch.nn.Module):
    """A member whose logits are given: output (N, C, H, W) regardless of the input's values."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.register_buffer("logits", logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x.shape[0], *self.logits.shape[1:])


def member_for_labels(labels: list[list[int]], confidence: float = 5.0, classes: int = 3) -> FixedOutput:
    """Logits that make ``labels`` (H x W) this member's argmax, with the given margin."""
    label_map = torch.tensor(labels)
    logits = torch.nn.functional.one_hot(label_map, classes).permute(2, 0, 1).float() * confidence
    return FixedOutput(logits.unsqueeze(0))


def test_majority_of_three_members():
    a = [[0, 1, 2], [1, 1, 0]]
    b = [[0, 1, 1], [2, 1, 0]]
    c = [[1, 2, 2], [2, 0, 0]]
    model = EnsembleModel([member_for_labels(m) for m in (a, b, c)], num_classes=3)
    labels = model.predict(torch.zeros(1, 1, 2, 3))
    assert labels.tolist() == [[[0, 1, 2], [2, 1, 0]]]


def test_vote_is_not_probability_averaging():
    """Two members mildly say 1, one member is very sure of 2: averaging says 2, the vote says 1."""
    mild = [member_for_labels([[1]], confidence=0.5) for _ in range(2)]
    sure = member_for_labels([[2]], confidence=20.0)
    model = EnsembleModel([*mild, sure], num_classes=3)
    stacked = model(torch.zeros(1, 1, 1, 1))
    assert model.mean_probabilities(stacked).argmax(dim=1).item() == 2
    assert model.labels(stacked).item() == 1


def test_three_way_tie_goes_to_highest_mean_probability():
    members = [member_for_labels([[0]], 1.0), member_for_labels([[1]], 1.0), member_for_labels([[2]], 9.0)]
    assert EnsembleModel(members, num_classes=3).predict(torch.zeros(1, 1, 1, 1)).item() == 2
    probabilities = torch.tensor([[[[0.4]], [[0.35]], [[0.25]]], [[[0.3]], [[0.4]], [[0.3]]]])  # (M=2, C=3)
    assert majority_vote(probabilities.unsqueeze(1)).item() == 1  # 1-1 tie; mean 0.35 vs 0.375


def test_single_member_passes_through():
    logits = torch.randn(1, 3, 4, 5)
    model = EnsembleModel([FixedOutput(logits)], num_classes=3)
    assert model.ensemble == "single"
    assert torch.equal(model.predict(torch.zeros(1, 1, 4, 5)), logits.argmax(dim=1))


def test_sigmoid_member_thresholds_at_half():
    logits = torch.tensor([[[[-2.0, -0.01, 0.01, 3.0]]]])
    model = EnsembleModel([FixedOutput(logits)], num_classes=2, activation="sigmoid")
    assert model.predict(torch.zeros(1, 1, 1, 4)).tolist() == [[[0, 0, 1, 1]]]


def test_saved_fold_ensemble_votes_after_loading(tmp_path):
    members = [tiny_unet(seed) for seed in range(3)]
    model = load_model(save_model(members, card_fields(), tmp_path / "model"))
    assert model.ensemble == "majority"
    x = torch.randn(1, 1, 16, 16)
    with torch.no_grad():
        votes = torch.stack([m(x).argmax(dim=1) for m in members])
    predicted = model.predict(x)
    agree = (votes[0] == votes[1]) | (votes[0] == votes[2])
    assert torch.equal(predicted[agree], votes[0][agree])
    agree12 = votes[1] == votes[2]
    assert torch.equal(predicted[agree12], votes[1][agree12])
    assert model.label_values() == [0, 1, 2]
