"""Randomised synthetic head MRI for training the temporalis model and the orbit level finder only
(SynthSeg-style, Billot et al. 2023): the anatomical head of ``phantoms.head_anatomy`` with a random
intensity per tissue class per image (T1 with or without gadolinium, or any contrast), texture,
a strong bias field, 1-3 mm voxels with partial volume, in-plane elastic deformation, head size and
shape variation and fields of view that cut the face. The phantoms (``phantoms.head_mri``) stay the
labelled test data with known truth."""

from .generate import draw_head_case, write_training_folder
from .recipe import ABLATIONS, FULL, GENERATOR_VERSION, Recipe

__all__ = ["ABLATIONS", "FULL", "GENERATOR_VERSION", "Recipe", "draw_head_case", "write_training_folder"]
