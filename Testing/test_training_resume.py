"""Interrupted training resumes from its checkpoints; checkpoints of another setup are never mixed in.

An interruption is a KeyboardInterrupt raised from the progress callback right after an epoch's
checkpoint is written — what Ctrl-C or a cancelled Slicer process does between two epochs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from MuscleQuantLib.errors import InputError
from MuscleQuantLib.fileio import write_json
from MuscleQuantLib.phantoms.registry import PhantomOptions, generate_case, write_case
from MuscleQuantLib.presets import get_preset
from MuscleQuantLib.progress import Progress
from MuscleQuantLib.training.run import TrainRequest, train

EPOCHS = 3


class _Recorder(Progress):
    """Records messages; raises KeyboardInterrupt once epoch ``stop_after`` has been checkpointed."""

    def __init__(self, stop_after: int | None = None):
        super().__init__("none")
        self.stop_after = stop_after
        self.messages: list[str] = []

    def update(self, stage, fraction=None, message="", **extra):
        self.messages.append(message)
        if self.stop_after is not None and f"epoch {self.stop_after}/{EPOCHS} val Dice" in message:
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def c3_data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("c3_resume")
    options = PhantomOptions(in_view=True, resolution="low")
    entries = [write_case(generate_case(get_preset("c3").phantom_anatomy, 5, i, options), folder) for i in range(3)]
    write_json(folder / "dataset.json", {"cases": entries})
    return folder


def _request(data: Path, out: Path, **changes) -> TrainRequest:
    return TrainRequest(**{"preset": get_preset("c3"), "data": data, "out": out, "profile": "tiny",
                           "max_epochs": EPOCHS, "seed": 4, **changes})


def test_an_interrupted_run_resumes_where_it_stopped(c3_data, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(_request(c3_data, out), _Recorder(stop_after=2))
    assert (out / ".checkpoints" / "fold0" / "checkpoint.pt").exists() and not (out / "model").exists()

    resumed = _Recorder()
    train(_request(c3_data, out), resumed)
    assert any("resumed from epoch 2" in m for m in resumed.messages)
    assert not any("epoch 1/3 val Dice" in m or "epoch 2/3 val Dice" in m for m in resumed.messages)
    history = json.loads((out / "metrics_fold0.json").read_text(encoding="utf-8"))["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]  # one history across both invocations
    assert (out / "model" / "model.json").exists()
    assert not (out / ".checkpoints").exists()  # a finished run leaves nothing to resume
    with pytest.raises(InputError, match="not empty"):
        train(_request(c3_data, out), Progress("none"))  # the finished model is never silently replaced


def test_checkpoints_of_another_setup_are_refused_or_discarded_with_overwrite(c3_data, tmp_path, run_cli):
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(_request(c3_data, out), _Recorder(stop_after=1))
    code, _, stderr = run_cli("train", "--preset", "c3", "--data", c3_data, "--out", out, "--profile", "tiny",
                              "--max-epochs", EPOCHS, "--seed", 5, "--progress", "none")
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert ".checkpoints" in stderr and "seed" in stderr and "--overwrite" in stderr
    assert not (out / "model").exists()

    fresh = _Recorder()
    train(_request(c3_data, out, seed=5, overwrite=True), fresh)
    assert any("discarding checkpoints" in m for m in fresh.messages)
    assert not any("resumed" in m for m in fresh.messages)
    assert (out / "model" / "model.json").exists()


def test_an_unreadable_checkpoint_is_refused_in_one_line(c3_data, tmp_path, run_cli):
    """A truncated checkpoint (a disk full, a copy cut short) is named, not loaded or silently replaced."""
    checkpoint = tmp_path / "run" / ".checkpoints" / "fold0" / "checkpoint.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"PK\x03\x04 cut short")
    code, _, stderr = run_cli("train", "--preset", "c3", "--data", c3_data, "--out", tmp_path / "run", "--profile",
                              "tiny", "--max-epochs", EPOCHS, "--progress", "none")
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and "unreadable checkpoint" in stderr
    assert checkpoint.read_bytes() == b"PK\x03\x04 cut short"
