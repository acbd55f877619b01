"""Starter models: trained from synthetic data only, by a recipe with fixed seeds and iteration
counts, so anyone re-running it gets the same model. Muscle models learn from the randomised generator
(``phantoms.synth``: random intensity per tissue, organs, habitus, scanner effects); level finders from
the anatomical phantoms (``phantoms.registry``, whole vertebral columns) with a random intensity curve
per training patch. The card records the command, the data generator and version and the recipe, and
every output of such a model says what it is."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

from ..models.starter import STARTER_NOTICE
from ..presets import get_preset
from ..progress import NULL_PROGRESS, Progress

STARTER_VERSION = "0.1.0"


@dataclasses.dataclass(frozen=True)
class StarterSpec:
    preset: str
    data: str  # a randomised generator package under ``phantoms`` ("synth": L3; see SYNTH_GENERATORS); "phantoms":
    #            anatomical phantoms of ``anatomy``
    samples: int  # synthetic images ("synth") or phantoms per part ("phantoms": see ``parts``)
    data_seed: int
    train_seed: int
    max_epochs: int  # iterations = max_epochs × the profile's iterations per epoch; early stop on synthetic validation
    profile: str = "cpu"
    anatomy: str | None = None
    parts: tuple[tuple[int, int, str], ...] = ()  # phantoms: (count, seed, in_view "random"/"never")
    contrast_curve: float = 0.0
    val_fraction: float = 0.1


# Randomised generators by ``StarterSpec.data``: each is a package under ``phantoms`` exposing
# ``write_training_folder(folder, n, seed, recipe) -> manifest`` and ``FULL`` (its default recipe).
SYNTH_GENERATORS = ("synth", "synth_neck", "synth_thigh", "synth_head")

STARTERS: dict[str, StarterSpec] = {
    "l3": StarterSpec("l3", "synth", samples=600, data_seed=1400, train_seed=14, max_epochs=30, profile="starter"),
    "l3_level": StarterSpec("l3_level", "phantoms", samples=0, data_seed=0, train_seed=14, max_epochs=40,
                            anatomy="l3", parts=((120, 1410, "random"), (12, 1411, "never"), (60, 1412, "random")),
                            contrast_curve=0.3, val_fraction=0.2),
    "temporalis": StarterSpec("temporalis", "synth_head", samples=120, data_seed=1440, train_seed=14, max_epochs=25),
    "orbit_level": StarterSpec("orbit_level", "synth_head", samples=60, data_seed=1450, train_seed=14, max_epochs=30,
                               val_fraction=0.2),
    # Neck and thigh: anatomical phantoms (per-case tissue HU with organs in the muscle range, habitus from
    # BMI, contrast phase, blur, noise, 2.5–5 mm slices; synth_neck/synth_thigh add full resolution and a
    # per-image HU calibration and noise) with a random intensity curve on half the training patches — not
    # a full SynthSeg generator.
    "c3": StarterSpec("c3", "synth_neck", samples=50, data_seed=1420, train_seed=14, max_epochs=30,
                      contrast_curve=0.5),
    "c3_level": StarterSpec("c3_level", "phantoms", samples=0, data_seed=0, train_seed=14, max_epochs=40,
                            anatomy="c3", parts=((80, 1421, "random"), (10, 1422, "never")), contrast_curve=0.3,
                            val_fraction=0.2),
    "thigh": StarterSpec("thigh", "synth_thigh", samples=30, data_seed=1423, train_seed=14, max_epochs=8,
                         contrast_curve=0.5),
}


def write_data(spec: StarterSpec, folder: Path, recipe: Any, progress: Progress) -> dict[str, Any]:
    """The training folder of ``spec``; returns what the card records about the data."""
    if spec.data in SYNTH_GENERATORS:
        write_training_folder = _generator(spec.data).write_training_folder

        done = folder / "dataset.json"
        if done.exists():  # drawn before by the same recipe and seed (the folder is keyed by both): reuse it
            manifest = json.loads(done.read_text(encoding="utf-8"))
            if (manifest["seed"], manifest["n"], manifest["recipe"]) == (spec.data_seed, spec.samples,
                                                                  json.loads(json.dumps(recipe.to_dict()))):
                return {k: manifest[k] for k in ("generator", "generator_version", "recipe")} | {
                    "samples": spec.samples, "data_seed": spec.data_seed}
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        progress.update("synthesise", 0.0, f"drawing {spec.samples} synthetic slices (seed {spec.data_seed})")
        manifest = write_training_folder(folder, spec.samples, spec.data_seed, recipe)
        return {"generator": manifest["generator"], "generator_version": manifest["generator_version"],
                "recipe": manifest["recipe"], "samples": spec.samples, "data_seed": spec.data_seed}
    from .. import __version__
    from ..cli import main as cli_main

    entries = []
    for count, seed, in_view in spec.parts:
        part = folder / f"part_{seed}"
        progress.update("synthesise", None, f"{count} {spec.anatomy} phantoms (seed {seed}, in view: {in_view})")
        code = cli_main(["--progress", "none", "phantom", "--anatomy", str(spec.anatomy), "--n", str(count), "--seed",
                         str(seed), "--in-view", in_view, "--resolution", "low", "--out", str(part)])
        if code != 0:
            raise RuntimeError(f"phantom generation failed ({spec.anatomy}, seed {seed})")
        for entry in json.loads((part / "dataset.json").read_text(encoding="utf-8"))["cases"]:
            entries.append({k: (v if k == "case_id" else f"{part.name}/{v}") for k, v in entry.items()})
    (folder / "dataset.json").write_text(json.dumps({"cases": entries}), encoding="utf-8")
    return {"generator": f"MuscleQuantLib.phantoms ({spec.anatomy}, resolution low)", "generator_version": __version__,
            "recipe": {"parts": [list(p) for p in spec.parts], "contrast_curve_probability": spec.contrast_curve},
            "samples": len(entries)}


def _generator(name: str) -> Any:
    import importlib

    return importlib.import_module(f"..phantoms.{name}", __package__)


def train_starter(spec: StarterSpec, out: Path, command: str, recipe: Any = None, progress: Progress = NULL_PROGRESS,
                  keep_data: bool = False, model_id: str | None = None) -> dict[str, Any]:
    """Draw the synthetic data, train, and write the model to ``out/run/model``; returns the training summary."""
    import torch

    from .run import TrainRequest, train

    data = out / "synthetic_data"
    if spec.data not in SYNTH_GENERATORS:
        shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True, exist_ok=True)
    synthetic = write_data(spec, data, recipe or (_generator(spec.data).FULL if spec.data in SYNTH_GENERATORS
                                                     else None), progress)
    provenance = {"starter": True, "notice": STARTER_NOTICE, "command": command, "synthetic": synthetic,
                  "real_data_used": "none", "torch_threads": torch.get_num_threads()}
    request = TrainRequest(preset=get_preset(spec.preset), data=data, out=out / "run", profile=spec.profile,
                           max_epochs=spec.max_epochs, seed=spec.train_seed, device="cpu", val_fraction=spec.val_fraction,
                           model_id=model_id or f"{spec.preset.replace('_', '-')}-starter", version=STARTER_VERSION,
                           provenance=provenance, overwrite=True, contrast_curve=spec.contrast_curve,
                           description=f"{get_preset(spec.preset).title}: {STARTER_NOTICE}")
    summary = train(request, progress)
    if not keep_data:
        shutil.rmtree(data, ignore_errors=True)
    return summary
