"""A whole training run: find and check the data, split into folds (or train/validation), train
each fold within the time budget, and save one model (a fold ensemble votes) with its card."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..fileio import Commit, json_text, try_exclusive
from ..networks import count_parameters
from ..pipeline.predict import select_device
from ..presets.base import Preset
from ..progress import Progress
from .data import DatasetSummary, PreparedCase, discover_cases, prepare_case
from .trainer import FoldResult, train_fold


@dataclasses.dataclass(frozen=True)
class TrainRequest:
    preset: Preset
    data: Path
    out: Path
    profile: str | None = None
    folds: int = 1
    val_fraction: float = 0.2
    max_minutes: float | None = None
    max_epochs: int | None = None
    seed: int = 0
    device: str = "auto"
    model_id: str | None = None
    version: str = "1.0.0"
    overwrite: bool = False
    init: Path | None = None  # warm start: a model folder whose weights training starts from
    provenance: dict[str, Any] | None = None  # extra card "training" fields (e.g. the synthetic data recipe)
    description: str | None = None  # card description (default: the profile's note)
    contrast_curve: float = 0.0  # probability of a random intensity curve per patch (SynthSeg-style, phantoms)


def split_folds(case_ids: list[str], folds: int, val_fraction: float, seed: int) -> list[tuple[list[int], list[int]]]:
    """(train, validation) index lists: K-fold by case, or one random split for ``folds == 1``."""
    order = np.random.default_rng(seed).permutation(len(case_ids)).tolist()
    if folds == 1:
        n_val = max(1, int(round(len(order) * val_fraction))) if len(order) > 1 else 0
        val, train = order[:n_val], order[n_val:]
        return [(train, val or train)]
    chunks = [order[i::folds] for i in range(folds)]
    return [([i for j, c in enumerate(chunks) if j != k for i in c], chunks[k]) for k in range(folds)]


def prepare_dataset(request: TrainRequest, progress: Progress) -> tuple[list[PreparedCase], DatasetSummary]:
    """Load and check every case; a case that cannot be used is listed with its reason."""
    preset, profile = request.preset, request.preset.profile(request.profile)
    cases = discover_cases(request.data, preset.label_source)
    check_anatomy(cases, preset)
    summary = DatasetSummary(str(request.data), cases_found=len(cases))
    prepared: list[PreparedCase] = []
    for i, case in enumerate(cases):
        progress.update("prepare", i / len(cases), f"case {case.case_id}")
        result = case.problem or prepare_case(case, preset, profile)
        if isinstance(result, str):
            summary.left_out.append({"case_id": case.case_id, "reason": result})
            progress.info(f"left out {case.case_id}: {result}")
            continue
        prepared.append(result)
    summary.cases_used = len(prepared)
    summary.samples = sum(len(c.samples) for c in prepared)
    minimum = max(2, request.folds)
    if len(prepared) < minimum:
        raise InputError(f"{len(prepared)} usable cases; at least {minimum} are needed "
                         f"({len(summary.left_out)} left out: {summary.left_out[:3]})", path=request.data)
    return prepared, summary


def check_anatomy(cases: list[Any], preset: Preset) -> None:
    """Refuse cases whose metadata says they are another anatomy, or name a label differently from the
    preset: C3 neck labels 1..n would otherwise train as L3 muscles 1..n without a word."""
    names = {label.value: label.name for label in preset.labels}
    for case in cases:
        metadata = case.metadata or {}
        anatomy = metadata.get("anatomy")
        if preset.phantom_anatomy and anatomy and anatomy != preset.phantom_anatomy:
            raise InputError(f"case {case.case_id} is {anatomy!r} data (its metadata 'anatomy'), not "
                             f"{preset.phantom_anatomy!r}: it cannot train preset {preset.name!r}", field="anatomy")
        if preset.label_source != "labels":
            continue
        for value, name in (metadata.get("label_names") or {}).items():
            expected = names.get(int(value)) if str(value).isdigit() else None
            if expected is not None and expected != name:
                raise InputError(f"case {case.case_id}: label {value} is {name!r} in its metadata but {expected!r} in "
                                 f"preset {preset.name!r} (another anatomy or label scheme)", field="label_names")


def train(request: TrainRequest, progress: Progress) -> dict[str, Any]:
    """Run the training request and write the model folder; returns a summary."""
    lock = try_exclusive(request.out, "train run")  # two runs into one --out would mix checkpoints and files
    try:
        return _train(request, progress)
    finally:
        lock.close()


def _train(request: TrainRequest, progress: Progress) -> dict[str, Any]:
    from ..models.modelfile import save_model

    if request.out.exists() and any(request.out.iterdir()) and not request.overwrite:
        if not (request.out / ".checkpoints").exists():
            raise InputError("output folder is not empty; choose another or pass --overwrite", path=request.out)
    preset = request.preset
    init_card, init_states = _warm_start(request) if request.init else (None, [])
    profile_name = request.profile or (init_card or {}).get("preprocessing", {}).get("profile") or preset.default_profile
    preset.profile(profile_name)  # fails early on an unknown profile
    if init_card is not None:
        _check_init_fits(request, init_card, profile_name)
    device = select_device(request.device)
    prepared, summary = prepare_dataset(request, progress)
    splits = split_folds([c.case_id for c in prepared], request.folds, request.val_fraction, request.seed)
    checkpoints = request.out / ".checkpoints"
    setups = [run_setup(request, profile_name, [prepared[i].case_id for i in train_idx],
                        [prepared[i].case_id for i in val_idx], k) for k, (train_idx, val_idx) in enumerate(splits)]
    if init_card is not None:  # a warm start's checkpoints are not a cold start's
        setups = [setup | {"init": init_card["card_sha256"]} for setup in setups]
    if request.contrast_curve:
        setups = [setup | {"contrast_curve": request.contrast_curve} for setup in setups]
    spent = _resumable_seconds(checkpoints, setups, request.overwrite, progress)
    start = time.monotonic() - spent  # an interrupted run's training time counts against the budget
    budget_s = request.max_minutes * 60 if request.max_minutes else math.inf
    results: list[FoldResult] = []
    for k, (train_idx, val_idx) in enumerate(splits):
        remaining_folds = len(splits) - k
        deadline = start + budget_s if not math.isfinite(budget_s) else (
            time.monotonic() + max(0.0, (start + budget_s - time.monotonic()) / remaining_folds))
        label = f"fold {k + 1}/{len(splits)}: " if len(splits) > 1 else ""
        result = train_fold(k, [prepared[i] for i in train_idx], [prepared[i] for i in val_idx], preset,
                            profile_name, device, request.seed, deadline, progress, checkpoints / f"fold{k}",
                            request.max_epochs, label, setups[k],
                            init_states[k % len(init_states)] if init_states else None, request.contrast_curve)
        results.append(result)
    unvalidated = [r.fold for r in results if not r.history or r.best_val_dice < 0]
    if unvalidated:  # never publish a model that was not trained and validated
        raise InputError(f"fold(s) {unvalidated} finished without a validated epoch (time budget or epoch limit too "
                         "small); no model was saved", field="--max-epochs/--max-minutes")
    model_dir = request.out / "model"
    if model_dir.exists() and not request.overwrite:
        raise InputError("already exists; pass --overwrite to replace it", path=model_dir)
    card_fields = model_card_fields(request, profile_name, results, summary, device.type, time.monotonic() - start)
    if init_card is not None:
        card_fields["training"]["init"] = {"model_id": init_card["model_id"], "version": init_card["version"],
                                           "card_sha256": init_card["card_sha256"], "path": str(request.init)}
    if request.contrast_curve:
        card_fields["training"]["augmentation"]["contrast_curve_probability"] = request.contrast_curve
    card_fields["training"].update(request.provenance or {})
    if request.description:
        card_fields["description"] = request.description
    outcome = {"model": str(model_dir), "folds": [r.metrics() | {"history": None} for r in results],
               "mean_best_val_dice": float(np.mean([r.best_val_dice for r in results])),
               "dataset": dataclasses.asdict(summary), "seconds": round(time.monotonic() - start, 1)}
    # Model, per-fold metrics and summary appear together; a replaced model stays whole until then.
    with Commit(request.out) as commit:
        for k, result in enumerate(results):
            commit.file(request.out / f"metrics_fold{k}.json").write_text(json_text(result.metrics()), encoding="utf-8")
        save_model([r.network for r in results], card_fields, commit.folder_for(model_dir),
                   folds=[r.fold for r in results] if len(results) > 1 else None, overwrite=True)
        commit.file(request.out / "training_summary.json").write_text(json_text(outcome), encoding="utf-8")
    shutil.rmtree(checkpoints, ignore_errors=True)  # the model is saved: nothing is left to resume
    return outcome


def _warm_start(request: TrainRequest) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The card and member weights of the ``--init`` model (verified: hashes, strict load)."""
    from ..models.modelfile import load_model

    assert request.init is not None
    if not Path(request.init).is_dir():
        raise InputError("model folder not found", path=request.init, field="--init")
    model = load_model(request.init)
    if model.card["preset"] != request.preset.name:
        raise InputError(f"model is for preset {model.card['preset']!r}, not {request.preset.name!r}",
                         path=request.init, field="--init")
    return model.card, [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in model.members]


def _check_init_fits(request: TrainRequest, card: dict[str, Any], profile_name: str) -> None:
    """A warm start must keep the network and the resolution its weights were trained for."""
    profile = request.preset.profile(profile_name)
    args = json.loads(json.dumps(request.preset.network_args(profile_name)))
    if card["network"]["name"] != profile.network or card["network"]["args"] != args:
        raise InputError(f"its network ({card['network']['name']}) differs from profile {profile_name!r}'s "
                         f"({profile.network}); fine-tune with the profile the model was trained with "
                         f"({card['preprocessing'].get('profile')})", path=request.init, field="--init")
    if [float(v) for v in card["preprocessing"]["spacing_mm"]] != [float(v) for v in profile.spacing]:
        raise InputError(f"it was trained at {card['preprocessing']['spacing_mm']} mm, profile {profile_name!r} "
                         f"uses {list(profile.spacing)} mm", path=request.init, field="--init")


def run_setup(request: TrainRequest, profile_name: str, train_cases: list[str], val_cases: list[str],
              fold: int) -> dict[str, Any]:
    """What a fold's checkpoint must match to be resumed: same network, recipe, seed and cases."""
    preset = request.preset
    profile = preset.profile(profile_name)
    return {"preset": preset.name, "profile": profile_name, "network": profile.network,
            "network_args": preset.network_args(profile_name), "spacing_mm": list(profile.spacing),
            "recipe": dataclasses.asdict(profile.training), "seed": request.seed, "max_epochs": request.max_epochs,
            "folds": request.folds, "fold": fold, "train_cases": train_cases, "val_cases": val_cases}


def _resumable_seconds(checkpoints: Path, setups: list[dict[str, Any]], overwrite: bool, progress: Progress) -> float:
    """Training seconds already spent by checkpoints this run can resume. Checkpoints of a different
    setup are refused (their weights would not fit, or would silently mix two recipes), or discarded
    with ``overwrite``."""
    from .trainer import checkpoint_setup

    if not checkpoints.exists():
        return 0.0
    spent = 0.0
    stale = sorted(p.name for p in checkpoints.iterdir() if p.name not in {f"fold{k}" for k in range(len(setups))})
    for k, setup in enumerate(setups):
        stored, seconds = checkpoint_setup(checkpoints / f"fold{k}")
        if stored is None:
            continue
        if "unreadable" in stored:
            stale.append(f"fold{k} (unreadable checkpoint: {stored['unreadable']})")
        elif json.loads(json.dumps(setup)) != stored:
            differing = sorted(key for key in set(stored) | set(setup)
                               if json.dumps(stored.get(key), sort_keys=True) != json.dumps(setup.get(key), sort_keys=True))
            stale.append(f"fold{k} ({', '.join(differing)} differ)")
        spent += seconds
    if stale:
        if not overwrite:
            raise InputError(f"holds checkpoints of a different training setup: {'; '.join(stale)}; pass "
                             "--overwrite to discard them, or choose another --out", path=checkpoints)
        progress.info(f"discarding checkpoints of a different setup in {checkpoints}")
        shutil.rmtree(checkpoints)
        return 0.0
    return spent


def model_card_fields(request: TrainRequest, profile_name: str, results: list[FoldResult], summary: DatasetSummary,
                      device: str, seconds: float) -> dict[str, Any]:
    """Everything the card records about this model except what saving measures (hashes, versions)."""
    preset = request.preset
    profile = preset.profile(profile_name)
    args = preset.network_args(profile_name)
    from ..networks import build_network

    parameters = count_parameters(build_network(profile.network, args))
    return {
        "model_id": request.model_id or f"{preset.name}-{profile_name}",
        "name": f"{preset.title} ({profile_name})",
        "version": request.version,
        "preset": preset.name,
        "description": profile.note or f"{preset.title}, {profile_name} profile",
        "network": {"name": profile.network, "args": args},
        "spatial_dims": preset.spatial_dims,
        "output_activation": preset.output_activation,
        "preprocessing": {
            "profile": profile_name, "orientation": "LPS", "spacing_mm": list(profile.spacing), "roi": list(profile.roi),
            "intensity": dataclasses.asdict(preset.intensity),
            "postprocessing": {"hu_range": preset.hu_range, "min_island_mm2": preset.min_island_mm2,
                               "min_island_mm3": preset.min_island_mm3,
                               "output_labels": [dataclasses.asdict(o) for o in preset.output_labels()]},
        },
        "labels": card_labels(preset),
        "training": {
            "data": dataclasses.asdict(summary), "folds": len(results), "seed": request.seed, "device": device,
            "seconds": round(seconds, 1), "recipe": dataclasses.asdict(profile.training),
            "augmentation": dataclasses.asdict(preset.augmentation), "parameters": parameters,
            "max_minutes": request.max_minutes,
            # the epochs this run was given (the recipe's max_epochs is only the profile's default)
            "max_epochs": request.max_epochs or profile.training.max_epochs,
            "per_fold": [{k: v for k, v in r.metrics().items() if k != "history"} for r in results],
        },
        "metrics": {"validation_dice_mean": float(np.mean([r.best_val_dice for r in results])),
                    "validation_dice_per_fold": [r.best_val_dice for r in results]},
    }


def card_labels(preset: Preset) -> list[dict[str, Any]]:
    """The card's class list: background then each class, with terminology and colour."""
    from ..presets.terminology import terminology_for

    def entry(value: int, name: str) -> dict[str, Any]:
        try:
            term = terminology_for(name)
        except KeyError:
            if preset.role != "level":
                raise
            # A level finder's slab (e.g. mid-orbit to orbital roof) is a region, not a coded structure.
            return {"value": value, "name": name, "terminology": {}, "color": [128, 128, 128]}
        return {"value": value, "name": name, "terminology": term.card_dict(), "color": list(term.color)}

    background = {"value": 0, "name": "background", "terminology": {}, "color": [0, 0, 0]}
    if preset.output_activation == "sigmoid":
        return [background, entry(preset.labels[0].value, preset.labels[0].name)]
    return [background] + [entry(label.value, label.name) for label in preset.labels]
