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
    # K > 1: K-fold cross-validation, and the model is the folds' majority vote (as the L3 paper's 10-fold CV):
    # each member sees other data, so the errors one training run makes by chance are outvoted.
    folds: int = 1
    recipe: str | None = None  # a named recipe of the generator (its ``RECIPES``); None: its full recipe
    # Fine-tuning: training starts from the model that ``base`` makes (trained first by the same script, or a
    # model already made by it, ``--base-model``), so a longer schedule or new data builds on a shipped model.
    base: StarterSpec | None = None
    # Synthetic data only: labelled anatomical phantoms added to the synthetic slices, (count, seed, in_view)
    # per part at low resolution; their seeds never overlap the held-out benchmark phantoms (seed 1000).
    mix: tuple[tuple[int, int, str], ...] = ()


# Randomised generators by ``StarterSpec.data``: each is a package under ``phantoms`` exposing
# ``write_training_folder(folder, n, seed, recipe) -> manifest`` and ``FULL`` (its default recipe).
SYNTH_GENERATORS = ("synth", "synth_neck", "synth_thigh", "synth_head")

STARTERS: dict[str, StarterSpec] = {
    "l3": StarterSpec("l3", "synth", samples=600, data_seed=1400, train_seed=14, max_epochs=30, profile="starter"),
    "l3_level": StarterSpec("l3_level", "phantoms", samples=0, data_seed=0, train_seed=14, max_epochs=40,
                            anatomy="l3", parts=((120, 1410, "random"), (12, 1411, "never"), (60, 1412, "random")),
                            contrast_curve=0.3, val_fraction=0.2),
    "temporalis": StarterSpec("temporalis", "synth_head", samples=120, data_seed=1440, train_seed=14, max_epochs=25),
    "orbit_level": StarterSpec("orbit_level", "synth_head", samples=60, data_seed=1450, train_seed=14, max_epochs=60,
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
    "thigh": StarterSpec("thigh", "synth_thigh", samples=30, data_seed=1423, train_seed=14, max_epochs=20,
                         contrast_curve=0.5),
}


def write_data(spec: StarterSpec, folder: Path, recipe: Any, progress: Progress) -> dict[str, Any]:
    """The training folder of ``spec``; returns what the card records about the data."""
    if spec.data in SYNTH_GENERATORS:
        write_training_folder = _generator(spec.data).write_training_folder

        mix = [list(part) for part in spec.mix]
        done = folder / "dataset.json"
        manifest = json.loads(done.read_text(encoding="utf-8")) if done.exists() else None
        # Slices drawn before by the same recipe and seed (the folder is keyed by both) are reused.
        if manifest is None or (manifest["seed"], manifest["n"], manifest["recipe"]) != (
                spec.data_seed, spec.samples, json.loads(json.dumps(recipe.to_dict()))):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            progress.update("synthesise", 0.0, f"drawing {spec.samples} synthetic slices (seed {spec.data_seed})")
            manifest = write_training_folder(folder, spec.samples, spec.data_seed, recipe)
        if manifest.get("mix", []) != mix:  # the phantoms mixed in, after the synthetic slices
            synthetic = [c for c in manifest["cases"] if not c["image"].startswith("part_")]
            for part in folder.glob("part_*"):
                shutil.rmtree(part)
            manifest = manifest | {"mix": mix, "cases": synthetic + _phantom_parts(
                folder, get_preset(spec.preset).phantom_anatomy, spec.mix, progress)}
            done.write_text(json.dumps(manifest), encoding="utf-8")
        return _synthetic_record(manifest, spec)
    from .. import __version__

    entries = _phantom_parts(folder, str(spec.anatomy), spec.parts, progress)
    (folder / "dataset.json").write_text(json.dumps({"cases": entries}), encoding="utf-8")
    return {"generator": f"MuscleQuantLib.phantoms ({spec.anatomy}, resolution low)", "generator_version": __version__,
            "recipe": {"parts": [list(p) for p in spec.parts], "contrast_curve_probability": spec.contrast_curve},
            "samples": len(entries)}


def _synthetic_record(manifest: dict[str, Any], spec: StarterSpec) -> dict[str, Any]:
    """What the card records about randomised-generator data (and the phantoms mixed in, if any)."""
    record = {k: manifest[k] for k in ("generator", "generator_version", "recipe")} | {
        "samples": spec.samples, "data_seed": spec.data_seed}
    return record | ({"mix": [list(part) for part in spec.mix]} if spec.mix else {})


def _phantom_parts(folder: Path, anatomy: str, parts: tuple[tuple[int, int, str], ...],
                   progress: Progress) -> list[dict[str, Any]]:
    """Low-resolution anatomical phantoms under ``folder/part_<seed>``; their dataset entries, paths
    relative to ``folder``."""
    from ..cli import main as cli_main

    entries = []
    for count, seed, in_view in parts:
        part = folder / f"part_{seed}"
        progress.update("synthesise", None, f"{count} {anatomy} phantoms (seed {seed}, in view: {in_view})")
        code = cli_main(["--progress", "none", "phantom", "--anatomy", anatomy, "--n", str(count), "--seed",
                         str(seed), "--in-view", in_view, "--resolution", "low", "--out", str(part)])
        if code != 0:
            raise RuntimeError(f"phantom generation failed ({anatomy}, seed {seed})")
        for entry in json.loads((part / "dataset.json").read_text(encoding="utf-8"))["cases"]:
            entries.append({k: (v if k == "case_id" else f"{part.name}/{v}") for k, v in entry.items()})
    return entries


def base_matches(card: dict[str, Any], base: StarterSpec) -> str | None:
    """Why a model was not made by the ``base`` recipe (None: it was), from its card."""
    training = card.get("training", {})
    synthetic = training.get("synthetic", {})
    made = (card.get("preset"), training.get("seed"), synthetic.get("data_seed"), synthetic.get("samples"),
            card.get("preprocessing", {}).get("profile"))
    wanted = (base.preset, base.train_seed, base.data_seed, base.samples, base.profile)
    if made != wanted:
        return f"its card says preset/seed/data seed/samples/profile {made}, the base recipe {wanted}"
    epochs = training.get("max_epochs")  # older cards did not record it
    if epochs is not None and epochs != base.max_epochs:
        return f"it was given {epochs} epochs, the base recipe {base.max_epochs}"
    return None


def recipe_of(spec: StarterSpec) -> Any:
    """The generator recipe ``spec`` names (its full recipe when it names none)."""
    generator = _generator(spec.data)
    return generator.FULL if spec.recipe is None else getattr(generator, "RECIPES", generator.ABLATIONS)[spec.recipe]


def _generator(name: str) -> Any:
    import importlib

    return importlib.import_module(f"..phantoms.{name}", __package__)


def train_starter(spec: StarterSpec, out: Path, command: str, recipe: Any = None, progress: Progress = NULL_PROGRESS,
                  keep_data: bool = False, model_id: str | None = None, base_model: Path | None = None
                  ) -> dict[str, Any]:
    """Draw the synthetic data, train, and write the model to ``out/run/model``; returns the training summary.
    A recipe with a ``base`` fine-tunes the model the base recipe makes: ``base_model`` if given (checked
    against the base recipe by its card), else the base is trained first under ``out/base``."""
    import torch

    from ..errors import InputError
    from ..models.card import read_card
    from .run import TrainRequest, train

    init = None
    if spec.base is not None:
        if base_model is None:
            base_id = f"{spec.preset.replace('_', '-')}-starter-base"
            base_model = Path(train_starter(spec.base, out / "base", command, None, progress, keep_data,
                                            base_id)["model"])
        why = base_matches(read_card(base_model), spec.base)
        if why is not None:
            raise InputError(f"not the base recipe's model: {why}", path=base_model, field="--base-model")
        init = base_model
    data = out / "synthetic_data"
    if spec.data not in SYNTH_GENERATORS:
        shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True, exist_ok=True)
    synthetic = write_data(spec, data, recipe or (recipe_of(spec) if spec.data in SYNTH_GENERATORS else None), progress)
    provenance = {"starter": True, "notice": STARTER_NOTICE, "command": command, "synthetic": synthetic,
                  "real_data_used": "none", "torch_threads": torch.get_num_threads()}
    if spec.base is not None:
        provenance["base_recipe"] = json.loads(json.dumps(dataclasses.asdict(spec.base)))
    request = TrainRequest(preset=get_preset(spec.preset), data=data, out=out / "run", profile=spec.profile,
                           max_epochs=spec.max_epochs, seed=spec.train_seed, device="cpu", val_fraction=spec.val_fraction,
                           folds=spec.folds,
                           model_id=model_id or f"{spec.preset.replace('_', '-')}-starter", version=STARTER_VERSION,
                           provenance=provenance, overwrite=True, contrast_curve=spec.contrast_curve, init=init,
                           description=f"{get_preset(spec.preset).title}: {STARTER_NOTICE}")
    summary = train(request, progress)
    if not keep_data:
        shutil.rmtree(data, ignore_errors=True)
    return summary
