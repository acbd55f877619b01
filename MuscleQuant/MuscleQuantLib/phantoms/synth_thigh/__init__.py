"""Training data for the thigh starter model: full-resolution thigh phantoms with per-image scanner
randomisation (shared with ``synth_neck``). For training only; the phantoms stay the labelled test data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..synth_neck.anatomical import FULL, GENERATOR_VERSION, Recipe, write_anatomical_folder

__all__ = ["FULL", "GENERATOR_VERSION", "Recipe", "write_training_folder"]


def write_training_folder(out: str | Path, n: int, seed: int, recipe: Recipe = FULL) -> dict[str, Any]:
    """``n`` thigh phantoms, hip to knee."""
    return write_anatomical_folder(out, n, seed, recipe, "thigh", True, "MuscleQuantLib.phantoms.synth_thigh")
