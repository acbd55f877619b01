"""Shared pieces of the batch tests and benchmark: a saved tiny L3 muscle model (seeded, untrained: batch
mechanics do not depend on its accuracy) and a stand-in level model for the phantom studies.

The stand-in is a real model object run through the real level finder (``levels.find.find_level``: slab
profile, thickness and edge checks, "not found" when absent); its "network" calls every slice that holds
a voxel denser than ``THRESHOLD`` (the L3 finder's -250..250 HU window scaled to -1..1: 212 HU) slab,
which on the phantom abdomen of ``batch.phantom_studies`` is exactly the slab of the dense L3 body. No trained level model is
needed, so the tests run in seconds and the expected level is known."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from MuscleQuantLib.models.ensemble import EnsembleModel

THRESHOLD = 0.85
LEVEL_FINDER = "batch_helpers:standin_level_model"
TESTING = str(Path(__file__).resolve().parent)


class DenseIsSlab(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, Z, Y, X); one patch holds whole slices
        logit = (x.amax(dim=(3, 4), keepdim=True).expand_as(x) - THRESHOLD) * 40.0
        return torch.cat([-logit, logit], dim=1)


def standin_level_model() -> EnsembleModel:
    card = {"preset": "l3_level", "model_id": "dense-is-slab-standin", "labels": [],
            "preprocessing": {"spacing_mm": [10.0, 10.0, 3.0], "roi": [64, 48, 48]}}
    return EnsembleModel([DenseIsSlab()], 2, "softmax", card=card)


def tiny_l3_model(out: Path, seed: int = 0, preset_name: str = "l3", zero: bool = False) -> Path:
    """A saved model of a preset's tiny profile (default l3), weights from ``seed`` (deterministic,
    untrained); ``zero``: all-zero weights, which predict background everywhere (a blind level finder)."""
    from MuscleQuantLib.models.modelfile import save_model
    from MuscleQuantLib.networks import build_network
    from MuscleQuantLib.presets import get_preset
    from MuscleQuantLib.training.data import DatasetSummary
    from MuscleQuantLib.training.run import TrainRequest, model_card_fields
    from MuscleQuantLib.training.trainer import FoldResult

    preset = get_preset(preset_name)
    torch.manual_seed(seed)
    network = build_network(preset.profile("tiny").network, preset.network_args("tiny"))
    if zero:
        for parameter in network.parameters():
            parameter.data.zero_()
    request = TrainRequest(preset=preset, data=out, out=out, profile="tiny")
    fields = model_card_fields(request, "tiny", [FoldResult(0, network, 0, 0.0, "max_epochs")],
                               DatasetSummary(str(out)), "cpu", 0.0)
    fields["model_id"] = f"tiny-{preset_name}-seed{seed}{'-zero' if zero else ''}"
    return save_model([network], fields, out / "model")


def ensure_importable() -> None:
    """Spawned workers import the stand-in by module name: keep this folder on their path."""
    import os

    if TESTING not in sys.path:
        sys.path.insert(0, TESTING)
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if TESTING not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([TESTING, *parts])


def main(argv: list[str]) -> int:
    """``python batch_helpers.py INPUT OUT MODEL [--workers N]``: a batch run with the stand-in finder
    (the kill-and-resume test runs this in a subprocess)."""
    from MuscleQuantLib.batch.run import run_batch
    from MuscleQuantLib.batch.settings import BatchSettings
    from MuscleQuantLib.progress import Progress

    ensure_importable()
    source, out, model = (Path(a) for a in argv[:3])
    workers = int(argv[argv.index("--workers") + 1]) if "--workers" in argv else 1
    settings = BatchSettings(preset="l3", out=out, model=model, level_finder=LEVEL_FINDER,
                             dicom_seg="--dicom-seg" in argv, dicom_sr="--dicom-sr" in argv,
                             qa_png="--no-qa" not in argv)
    run_batch(source, settings, workers=workers, progress=Progress("json"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
