"""``musclequant train --init MODEL`` (issue 14 item 4): training starts from the given model's weights,
the card records which model it started from, and a model that cannot be fine-tuned (other preset,
other network or resolution) is refused in one line before anything is trained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from MuscleQuantLib.fileio import write_json
from MuscleQuantLib.models.modelfile import load_model
from MuscleQuantLib.phantoms.registry import PhantomOptions, generate_case, write_case
from MuscleQuantLib.presets import get_preset
from MuscleQuantLib.progress import NULL_PROGRESS
from MuscleQuantLib.training import trainer
from MuscleQuantLib.training.run import TrainRequest, train


@pytest.fixture(scope="module")
def c3_data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("c3_init")
    options = PhantomOptions(in_view=True, resolution="low")
    entries = [write_case(generate_case("c3", 9, i, options), folder) for i in range(3)]
    write_json(folder / "dataset.json", {"cases": entries})
    return folder


@pytest.fixture(scope="module")
def first_round(c3_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("round1")
    train(TrainRequest(preset=get_preset("c3"), data=c3_data, out=out, profile="tiny", max_epochs=1, seed=1,
                       overwrite=True), NULL_PROGRESS)
    return out / "model"


def test_training_starts_from_the_init_weights_and_the_card_says_so(c3_data, first_round, tmp_path, monkeypatch):
    # With a zero learning rate the parameters cannot move: the second round's are then exactly the first's
    # only if training started from them.
    monkeypatch.setattr(trainer, "make_optimizer", lambda network, profile: torch.optim.SGD(network.parameters(), lr=0.0))
    train(TrainRequest(preset=get_preset("c3"), data=c3_data, out=tmp_path / "r2", max_epochs=1, seed=2,
                       init=first_round), NULL_PROGRESS)
    train(TrainRequest(preset=get_preset("c3"), data=c3_data, out=tmp_path / "cold", profile="tiny", max_epochs=1,
                       seed=2), NULL_PROGRESS)
    before = dict(load_model(first_round).members[0].named_parameters())
    after = dict(load_model(tmp_path / "r2" / "model").members[0].named_parameters())
    cold = dict(load_model(tmp_path / "cold" / "model").members[0].named_parameters())
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not all(torch.equal(before[k], cold[k]) for k in before)
    card = json.loads((tmp_path / "r2" / "model" / "model.json").read_text(encoding="utf-8"))
    first = json.loads((first_round / "model.json").read_text(encoding="utf-8"))
    assert card["training"]["init"] == {"model_id": first["model_id"], "version": first["version"],
                                        "card_sha256": first["card_sha256"], "path": str(first_round)}
    assert card["preprocessing"]["profile"] == "tiny"  # taken from the init model when --profile is not given


def test_cli_init_fine_tunes_and_refuses_models_that_do_not_fit(c3_data, first_round, tmp_path, run_cli):
    code, _, err = run_cli("train", "--preset", "c3", "--data", c3_data, "--out", tmp_path / "ok", "--init",
                           first_round, "--max-epochs", "1", "--progress", "none")
    assert code == 0, err
    assert json.loads((tmp_path / "ok" / "model" / "model.json").read_text(encoding="utf-8"))["training"]["init"]["path"] == str(first_round)
    code, _, err = run_cli("train", "--preset", "l3", "--data", c3_data, "--out", tmp_path / "other", "--init",
                           first_round, "--progress", "none")
    assert code == 2 and err.count("\n") == 1 and "--init" in err and "preset 'c3', not 'l3'" in err
    code, _, err = run_cli("train", "--preset", "c3", "--data", c3_data, "--out", tmp_path / "cpu", "--init",
                           first_round, "--profile", "cpu", "--progress", "none")
    assert code == 2 and err.count("\n") == 1 and "--init" in err and "profile" in err
    code, _, err = run_cli("train", "--preset", "c3", "--data", c3_data, "--out", tmp_path / "none", "--init",
                           tmp_path / "missing", "--progress", "none")
    assert code == 2 and "model folder not found" in err
    assert not (tmp_path / "other" / "model").exists() and not (tmp_path / "cpu" / "model").exists()
