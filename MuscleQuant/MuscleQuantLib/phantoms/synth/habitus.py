"""Body habitus of one synthetic patient: size, fat (thin to obese, subcutaneous and visceral),
muscle bulk (sarcopenic to muscular), arms beside the body, and the patient table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .recipe import Recipe


@dataclass(frozen=True)
class Habitus:
    size: float  # linear scale of the skeleton (1 = average adult)
    fat: float  # 0 very thin … 1 very obese
    muscle: float  # muscle bulk factor (0.55 sarcopenic … 1.3 muscular)
    sat_mm: tuple[float, float, float]  # subcutaneous fat: anterior, lateral, posterior
    visceral: float  # extra cavity width/depth from visceral fat (mm)
    arms: bool
    table: bool
    table_gap_mm: float


def draw_habitus(rng: np.random.Generator, recipe: Recipe) -> Habitus:
    if not recipe.habitus:
        return Habitus(1.0, 0.35, 1.0, (18.0, 16.0, 14.0), 25.0, False, True, 5.0)
    size = float(rng.uniform(0.85, 1.15))
    fat = float(rng.beta(1.6, 2.2))
    sat = 3.0 + 75.0 * fat ** 1.4
    female = rng.random() < 0.5
    sats = (sat * rng.uniform(0.9, 1.3) * (1.15 if female else 1.0), sat * rng.uniform(0.7, 1.2),
            sat * rng.uniform(0.5, 1.0))
    visceral = float(rng.uniform(0.0, 1.0) * 90.0 * fat ** 1.2 * (0.7 if female else 1.0))
    muscle = float(np.clip(rng.normal(1.0, 0.18), 0.55, 1.35) * (0.88 if female else 1.0))
    return Habitus(size, fat, muscle, sats, visceral, bool(rng.random() < 0.3), bool(rng.random() < 0.85),
                   float(rng.uniform(0.0, 25.0)))
