"""Tissue values of one synthetic head MRI, SynthSeg style: each tissue class of the head phantom
gets a random value per image, from T1 ranges with or without gadolinium (muscle overlapping grey
matter, skin, lens and nerve), or in a share of images from anywhere, so the network must learn the
temporalis and the globes by shape and position rather than by a fixed T1 table."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..tissues import MR_T1_POSTGAD, sample_mr_values
from .recipe import Recipe

# Plausible T1 values relative to white matter ~0.9, over scanners and sequences (spin echo, MPRAGE, FLASH).
T1_RANGES: dict[str, tuple[float, float]] = {
    "air": (0.0, 0.05), "cortical_bone": (0.0, 0.12), "marrow": (0.5, 1.3), "fat": (0.95, 1.6),
    "skin": (0.45, 0.95), "muscle": (0.3, 0.75), "brain": (0.55, 1.0), "csf": (0.05, 0.35),
    "vitreous": (0.05, 0.35), "lens": (0.35, 0.85), "optic_nerve": (0.45, 0.9), "sinus_air": (0.0, 0.08),
}
WITH_GADOLINIUM = {"blood": (0.8, 1.5), "mucosa": (0.7, 1.2)}
WITHOUT_GADOLINIUM = {"blood": (0.1, 0.7), "mucosa": (0.35, 0.8)}  # flow voids, unenhanced mucosa


def tissue_values(rng: np.random.Generator, recipe: Recipe) -> tuple[dict[str, float], str]:
    """One value per tissue class for this image and the contrast it imitates."""
    if recipe.intensity == "fixed":
        return sample_mr_values(rng), "t1_postgad_table"
    if rng.random() < recipe.random_contrast_fraction:
        values = {name: float(rng.uniform(0.0, 1.5)) for name in MR_T1_POSTGAD}
        if rng.random() < 0.85:  # outside the head is dark on almost every MR image
            values["air"] = float(rng.uniform(0.0, 0.05))
        return values, "random"
    gadolinium = bool(rng.random() < recipe.gadolinium_fraction)
    ranges = T1_RANGES | (WITH_GADOLINIUM if gadolinium else WITHOUT_GADOLINIUM)
    return {name: float(rng.uniform(lo, hi)) for name, (lo, hi) in ranges.items()}, (
        "t1_gadolinium" if gadolinium else "t1_plain")


def smooth_volume(rng: np.random.Generator, shape: tuple[int, ...], sigma_vox: float) -> np.ndarray:
    """Unit-SD smooth random field, drawn at half size for speed."""
    small = tuple(max(2, n // 2) for n in shape)
    field = ndimage.gaussian_filter(rng.standard_normal(small).astype(np.float32), max(sigma_vox / 2, 0.5))
    field = ndimage.zoom(field, [n / m for n, m in zip(shape, small, strict=True)], order=1, grid_mode=True,
                         mode="nearest")[tuple(slice(0, n) for n in shape)]
    return field / (field.std() + 1e-6)


def add_texture(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Smooth texture of random strength within every painted region (each region is one value of
    the clean drawing, so the value itself identifies it)."""
    values, region = np.unique(image, return_inverse=True)
    region = region.reshape(image.shape)
    strength = rng.uniform(0.0, 0.12, len(values)).astype(np.float32) * np.maximum(values, 0.05).astype(np.float32)
    texture = smooth_volume(rng, image.shape, float(rng.uniform(0.8, 2.5)))
    return image + strength[region] * texture
