"""Training data for the C3 starter model: full-resolution neck phantoms with per-image scanner
randomisation (``anatomical``). For training only; the phantoms stay the labelled test data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .anatomical import FULL, GENERATOR_VERSION, Recipe, write_anatomical_folder

__all__ = ["FULL", "GENERATOR_VERSION", "Recipe", "write_training_folder"]


def write_training_folder(out: str | Path, n: int, seed: int, recipe: Recipe = FULL) -> dict[str, Any]:
    """``n`` C3 neck phantoms (C3 always in view, since the 2D model trains on the C3 slice)."""
    return write_anatomical_folder(out, n, seed, recipe, "c3", True, "MuscleQuantLib.phantoms.synth_neck")
