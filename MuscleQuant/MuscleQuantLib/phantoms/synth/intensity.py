"""Image intensities from a tissue map, SynthSeg style (Billot et al., Med Image Anal 2023): every
tissue gets a random value per image, drawn from its CT range over contrast phases (liver, spleen,
kidney, bowel and vessels overlap muscle), and in a share of images from anywhere in the network's
window, so the network must learn shapes and positions rather than a fixed HU table. Texture within
a tissue and fat infiltration of muscle are random too."""

from __future__ import annotations

import numpy as np

from .classes import N_CLASSES, T
from .recipe import Recipe
from .shapes import smooth_noise

# Plausible CT values (HU) per tissue over patients, scanners and contrast phases.
CT_RANGES: dict[T, tuple[float, float]] = {
    T.AIR: (-1024, -990), T.SAT: (-135, -70), T.VAT: (-125, -55), T.SKIN: (0, 70),
    T.CANCELLOUS: (90, 350), T.CORTICAL: (350, 1200), T.CANAL: (-5, 45), T.DISC: (50, 130), T.RIB: (150, 700),
    T.ILIUM: (200, 700), T.ARM_BONE: (300, 1000), T.LIVER: (35, 150), T.SPLEEN: (35, 170), T.KIDNEY: (25, 260),
    T.KIDNEY_MEDULLA: (10, 220), T.PANCREAS: (25, 140), T.GALLBLADDER: (-5, 40), T.STOMACH_WALL: (25, 120),
    T.STOMACH_CONTENT: (-40, 60), T.BOWEL_WALL: (20, 130), T.BOWEL_FLUID: (-15, 45), T.GAS: (-1010, -850),
    T.STOOL: (-180, 80), T.ORAL_CONTRAST: (140, 600), T.AORTA: (30, 450), T.IVC: (30, 250), T.LUNG: (-920, -700),
    T.TABLE: (-600, 300), T.MATTRESS: (-950, -500), T.METAL: (2000, 3000),
}
MUSCLE_CLASSES = (T.RECTUS, T.WALL, T.PSOAS, T.QL, T.ERECTOR, T.OTHER_MUSCLE, T.ARM_MUSCLE)
MUSCLE_RANGE = (-10.0, 70.0)
FIXED_HU = {**{k: 0.5 * (lo + hi) for k, (lo, hi) in CT_RANGES.items()}, **{k: 45.0 for k in MUSCLE_CLASSES},
            T.LIVER: 60.0, T.SPLEEN: 50.0, T.KIDNEY: 40.0, T.KIDNEY_MEDULLA: 30.0, T.AORTA: 45.0, T.IVC: 45.0}


def tissue_values(rng: np.random.Generator, recipe: Recipe) -> np.ndarray:
    """One mean value per tissue class for this image."""
    values = np.zeros(N_CLASSES, dtype=np.float32)
    if recipe.intensity == "fixed":
        for k, v in FIXED_HU.items():
            values[int(k)] = v
        return values
    if rng.random() < recipe.random_contrast_fraction:
        values[:] = rng.uniform(-300.0, 300.0, N_CLASSES)
        values[int(T.AIR)] = rng.uniform(-1024, 300) if rng.random() < 0.3 else -1000.0
        return values
    for k, (lo, hi) in CT_RANGES.items():
        values[int(k)] = rng.uniform(lo, hi)
    base = rng.uniform(*MUSCLE_RANGE)
    for k in MUSCLE_CLASSES:
        values[int(k)] = base + rng.normal(0.0, 6.0)
    # Unenhanced scans put liver, spleen, kidney, pancreas, bowel wall and vessels within a few HU of
    # muscle; contrast phases lift the enhancing ones together.
    if rng.random() < 0.4:
        for k in (T.LIVER, T.SPLEEN, T.KIDNEY, T.KIDNEY_MEDULLA, T.PANCREAS, T.AORTA, T.IVC, T.BOWEL_WALL,
                  T.STOMACH_WALL):
            values[int(k)] = base + rng.normal(5.0, 10.0)
    elif rng.random() < 0.6:
        phase = rng.uniform(0.0, 1.0)
        for k in (T.LIVER, T.SPLEEN, T.KIDNEY, T.PANCREAS, T.AORTA, T.IVC, T.BOWEL_WALL):
            lo, hi = CT_RANGES[k]
            values[int(k)] = lo + (hi - lo) * np.clip(phase + rng.normal(0, 0.15), 0, 1)
    return values


def paint_intensities(tissues: np.ndarray, rng: np.random.Generator, recipe: Recipe, pixel_mm: float) -> np.ndarray:
    """HU image of a tissue map: per-tissue value, smooth texture, fat infiltration of muscle."""
    values = tissue_values(rng, recipe)
    image = values[tissues]
    if recipe.intensity == "fixed":
        return image
    fine = smooth_noise(rng, tissues.shape, rng.uniform(0.7, 2.5) / pixel_mm)
    coarse = smooth_noise(rng, tissues.shape, rng.uniform(6.0, 20.0) / pixel_mm)
    sd_fine = rng.uniform(0.0, 18.0, N_CLASSES).astype(np.float32)
    sd_coarse = rng.uniform(0.0, 12.0, N_CLASSES).astype(np.float32)
    image += sd_fine[tissues] * fine + sd_coarse[tissues] * coarse
    muscle = np.isin(tissues, MUSCLE_CLASSES)
    infiltration = rng.uniform(0.0, 0.12)
    if infiltration > 0.01:  # intramuscular fat: muscle keeps its label, its pixels look like fat
        speckle = smooth_noise(rng, tissues.shape, rng.uniform(0.8, 2.0) / pixel_mm)
        fat = muscle & (speckle > np.quantile(speckle, 1.0 - infiltration))
        image[fat] = values[int(T.SAT)] + rng.uniform(0.0, 60.0)
    return image
