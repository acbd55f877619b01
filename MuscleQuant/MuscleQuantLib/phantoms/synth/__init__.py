"""Randomised synthetic training data (SynthSeg-style, Billot et al. 2023): label maps drawn from
anatomy with random intensity per tissue per image, organs that share muscle's HU, habitus from thin
to obese, and scanner effects. For training only; the phantoms beside this package stay the labelled
test data with known truth."""

from .generate import draw_l3_slice, write_training_folder
from .recipe import ABLATIONS, FULL, GENERATOR_VERSION, RECIPES, Recipe

__all__ = ["ABLATIONS", "FULL", "GENERATOR_VERSION", "RECIPES", "Recipe", "draw_l3_slice", "write_training_folder"]
