"""The training loop shared by every preset: batches from ``augment``, MONAI losses, validation
Dice, early stopping, learning-rate schedules, a time budget, resumable checkpoints and progress."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.losses import DiceCELoss, DiceLoss
from monai.utils import set_determinism

from ..networks import build_network
from ..pipeline.predict import predict_labels
from ..presets.base import Preset, Profile, TrainingRecipe
from ..progress import Progress
from .augment import prepare_examples, sample_batch, training_transform
from .data import PreparedCase


@dataclass
class FoldResult:
    fold: int
    network: torch.nn.Module
    best_epoch: int
    best_val_dice: float
    stopped: str  # "early_stop", "max_epochs", "time_budget"
    history: list[dict[str, Any]] = field(default_factory=list)
    train_cases: list[str] = field(default_factory=list)
    val_cases: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def metrics(self) -> dict[str, Any]:
        return {"fold": self.fold, "best_epoch": self.best_epoch, "best_val_dice": self.best_val_dice,
                "stopped": self.stopped, "train_cases": self.train_cases, "val_cases": self.val_cases,
                "seconds": round(self.seconds, 1), "history": self.history}


def make_loss(preset: Preset, profile: Profile) -> torch.nn.Module:
    sigmoid = preset.output_activation == "sigmoid"
    kwargs = {"sigmoid": True} if sigmoid else {"softmax": True, "to_onehot_y": True}
    if profile.training.loss == "dice":
        return DiceLoss(**kwargs)
    if profile.training.loss == "dice_batch":
        # One Dice per class over the whole batch: a class absent from one patch no longer dominates the loss.
        return DiceLoss(batch=True, **kwargs)
    if profile.training.loss == "dice_ce":
        return DiceCELoss(**kwargs)
    if profile.training.loss == "dice_batch_ce":
        # Batch Dice alone let a rare class sit on ~300k air voxels at p≈1 (the thigh's obturator externus):
        # that state costs little Dice and each voxel's gradient is ~1/300k; cross-entropy punishes it per voxel.
        return DiceCELoss(batch=True, **kwargs)
    raise ValueError(f"unknown loss {profile.training.loss!r}")


def make_optimizer(network: torch.nn.Module, profile: Profile) -> torch.optim.Optimizer:
    recipe = profile.training
    if recipe.optimizer == "adam":
        return torch.optim.Adam(network.parameters(), lr=recipe.learning_rate, betas=(0.9, 0.999),
                                weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(network.parameters(), lr=recipe.learning_rate, weight_decay=recipe.weight_decay or 1e-2)
    raise ValueError(f"unknown optimizer {recipe.optimizer!r}")


def validation_dice(network: torch.nn.Module, cases: list[PreparedCase], preset: Preset, profile: Profile,
                    device: torch.device) -> tuple[float, dict[str, float]]:
    """Mean Dice over labels present in the reference, per label averaged over cases."""
    per_label: dict[str, list[float]] = {label.name: [] for label in preset.labels}
    sigmoid = preset.output_activation == "sigmoid"
    for case in cases:
        predicted = predict_labels(network, case.target.image, profile.roi, device, preset.output_activation,
                                   preset.num_classes)
        reference = case.target.labels
        for label in preset.labels:
            ref = reference == label.value if not sigmoid else reference > 0
            pred = predicted == label.value if not sigmoid else predicted > 0
            if ref.any():
                per_label[label.name].append(2.0 * np.logical_and(ref, pred).sum() / (ref.sum() + pred.sum()))
    means = {name: float(np.mean(values)) for name, values in per_label.items() if values}
    return (float(np.mean(list(means.values()))) if means else 0.0), means


def train_fold(fold: int, train_cases: list[PreparedCase], val_cases: list[PreparedCase], preset: Preset,
               profile_name: str, device: torch.device, seed: int, deadline: float, progress: Progress,
               checkpoint_dir: Path, max_epochs: int | None = None, fold_label: str = "",
               setup: dict[str, Any] | None = None, init_state: dict[str, torch.Tensor] | None = None,
               contrast_curve: float = 0.0) -> FoldResult:
    """Train one network; resumes from ``checkpoint_dir`` when a checkpoint is there.

    ``setup`` (what the run was asked to do) is stored in the checkpoint so that a later run can tell
    whether the checkpoint is its own (``checkpoint_setup``); a fold that had finished is not retrained.
    ``init_state`` (warm start, ``train --init``) are the weights training starts from instead of random ones;
    ``contrast_curve`` is the probability of a random intensity curve per training patch.
    """
    profile = preset.profile(profile_name)
    recipe = profile.training
    epochs = max_epochs or recipe.max_epochs
    set_determinism(seed=seed + fold)
    torch.manual_seed(seed + fold)
    rng = np.random.default_rng(seed + fold)
    network = build_network(profile.network, preset.network_args(profile_name)).to(device)
    if init_state is not None:
        network.load_state_dict(init_state, strict=True)
    optimizer = make_optimizer(network, profile)
    loss_fn = make_loss(preset, profile)
    total_iterations = epochs * recipe.iterations_per_epoch
    scheduler = _scheduler(optimizer, profile, total_iterations)
    pairs = [(s.image, s.labels) for case in train_cases for s in case.samples]
    pad_value = float(min(float(image.min()) for image, _ in pairs))
    by_class = preset.num_classes if recipe.sampling == "classes" and preset.num_classes > 1 else None
    context = _single_slice_context(network, recipe)
    train_roi = profile.roi if context is None else (2 * context + 1, *profile.roi[1:])
    examples = prepare_examples(pairs, train_roi, pad_value, by_class)
    transform = training_transform(train_roi, preset.augmentation, recipe.patches_per_case, by_class, contrast_curve,
                                   tuple(preset.intensity.output_range))
    transform.set_random_state(seed + fold)
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    state: dict[str, Any] = {"epoch": 0, "best_val": -1.0, "best_epoch": 0, "history": [], "stale": 0,
                             "finished": "", "trained_seconds": 0.0}
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = checkpoint_dir / "checkpoint.pt"
    best_path = checkpoint_dir / "best.pt"
    setup_text = json.dumps(setup or {}, sort_keys=True)
    if checkpoint.exists():
        saved = torch.load(checkpoint, map_location=device, weights_only=True)  # our own file; still no pickle
        network.load_state_dict(saved["network"])
        optimizer.load_state_dict(saved["optimizer"])
        if scheduler is not None and "scheduler" in saved:
            scheduler.load_state_dict(saved["scheduler"])
        state.update({k: saved[k] for k in state if k in saved})
        rng = np.random.default_rng(seed + fold + 1000 * state["epoch"])
        progress.info(f"{fold_label}resumed from epoch {state['epoch']}"
                      + (f" (finished: {state['finished']})" if state["finished"] else ""))
    start = time.monotonic()
    previously_trained = float(state["trained_seconds"])

    def save_checkpoint() -> None:
        state["trained_seconds"] = previously_trained + time.monotonic() - start
        # Written beside, then renamed: an interruption mid-write leaves the previous checkpoint whole.
        partial = checkpoint.with_suffix(".partial")
        torch.save({"network": network.state_dict(), "optimizer": optimizer.state_dict(),
                    **({"scheduler": scheduler.state_dict()} if scheduler is not None else {}),
                    "setup": setup_text, **state}, partial)
        partial.replace(checkpoint)

    stopped = state["finished"] or "max_epochs"
    while state["epoch"] < epochs and not state["finished"]:
        epoch_start = time.monotonic()
        network.train()
        losses = []
        for iteration in range(recipe.iterations_per_epoch):
            done = (state["epoch"] * recipe.iterations_per_epoch + iteration) / total_iterations
            if recipe.lr_schedule == "poly":
                # nnU-Net's poly decay, over the iterations or the time budget, whichever runs out first.
                for group in optimizer.param_groups:
                    group["lr"] = recipe.learning_rate * (1.0 - _fraction(done, start, deadline)) ** 0.9
            images, labels = sample_batch(examples, transform, recipe.batch_size, rng)
            images, labels = images.to(device), labels.to(device)
            target = (labels > 0).float() if preset.output_activation == "sigmoid" else labels
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, enabled=use_amp):
                if context is None:
                    loss = loss_fn(network(images), target)
                else:  # one slice per sample: predict it from its real neighbours, score only it
                    loss = loss_fn(network.forward_centre(images), target[:, :, context:context + 1])
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            losses.append(float(loss.detach()))
            if isinstance(scheduler, torch.optim.lr_scheduler.MultiStepLR):
                scheduler.step()
            done = (state["epoch"] * recipe.iterations_per_epoch + iteration + 1) / total_iterations
            progress.update("train", _fraction(done, start, deadline),
                            f"{fold_label}epoch {state['epoch'] + 1}/{epochs} loss {np.mean(losses):.3f}")
            if time.monotonic() > deadline:
                break
        val_dice, per_label = validation_dice(network, val_cases, preset, profile, device)
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(val_dice)
        state["epoch"] += 1
        state["history"].append({"epoch": state["epoch"], "train_loss": float(np.mean(losses)), "val_dice": val_dice,
                                 "val_dice_per_label": per_label, "lr": optimizer.param_groups[0]["lr"],
                                 "seconds": round(time.monotonic() - epoch_start, 2)})
        if val_dice > state["best_val"]:
            state.update(best_val=val_dice, best_epoch=state["epoch"], stale=0)
            torch.save(network.state_dict(), best_path.with_suffix(".partial"))
            best_path.with_suffix(".partial").replace(best_path)
        else:
            state["stale"] += 1
        save_checkpoint()
        progress.update("train", _fraction(state["epoch"] / epochs, start, deadline),
                        f"{fold_label}epoch {state['epoch']}/{epochs} val Dice {val_dice:.3f} (best {state['best_val']:.3f})")
        if time.monotonic() > deadline:
            stopped = "time_budget"
            break
        if state["stale"] >= recipe.early_stop_patience:
            stopped = "early_stop"
            break
    if not state["finished"]:
        state["finished"] = stopped
        save_checkpoint()
    if best_path.exists():
        network.load_state_dict(torch.load(best_path, map_location=device, weights_only=True))
    return FoldResult(fold, network.cpu(), state["best_epoch"], float(state["best_val"]), stopped, state["history"],
                      [c.case_id for c in train_cases], [c.case_id for c in val_cases],
                      previously_trained + time.monotonic() - start)


def checkpoint_setup(checkpoint_dir: Path) -> tuple[dict[str, Any] | None, float]:
    """The setup stored in a fold's checkpoint (None if there is no checkpoint) and its training seconds."""
    checkpoint = checkpoint_dir / "checkpoint.pt"
    if not checkpoint.exists():
        return None, 0.0
    try:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        return json.loads(saved.get("setup", "{}")), float(saved.get("trained_seconds", 0.0))
    except Exception as exc:  # noqa: BLE001 - truncated or foreign file: report it, never guess
        return {"unreadable": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:120]}, 0.0


def _single_slice_context(network: torch.nn.Module, recipe: TrainingRecipe) -> int | None:
    """The context depth when the recipe trains a 2.5D network on single slices, else None."""
    if not recipe.single_slices:
        return None
    if not hasattr(network, "forward_centre"):
        raise ValueError(f"single-slice training needs a 2.5D network (SliceUNet), not {type(network).__name__}")
    return int(network.context)


def _scheduler(optimizer: torch.optim.Optimizer, profile: Profile, total_iterations: int):
    recipe = profile.training
    if recipe.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5,
                                                          patience=max(1, recipe.early_stop_patience // 3))
    if recipe.lr_schedule == "step" and recipe.lr_step_to:
        milestone = max(1, int(math.floor(total_iterations * recipe.lr_step_fraction)))
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, [milestone], gamma=recipe.lr_step_to / recipe.learning_rate)
    return None


def _fraction(done: float, start: float, deadline: float) -> float:
    """Progress is whichever is further along: the iterations or the time budget."""
    elapsed = time.monotonic() - start
    budget = max(deadline - start, 1e-6)
    return float(min(0.999, max(done, elapsed / budget if math.isfinite(deadline) else 0.0)))
