"""Typical attenuation of tissues (HU) and T1 post-contrast MR intensities (arbitrary units).

Values are central estimates with a per-case spread; several overlap muscle on purpose (bowel
wall, unenhanced organs, vessels) so that thresholding alone cannot segment muscle.
"""

from __future__ import annotations

import numpy as np

# name: (mean HU, per-case SD of the mean)
CT_HU: dict[str, tuple[float, float]] = {
    "air": (-1000.0, 5.0),
    "lung": (-850.0, 30.0),
    "fat": (-100.0, 10.0),
    "skin": (30.0, 8.0),
    "muscle": (45.0, 6.0),  # overridden by the subject's attenuation
    "tendon": (80.0, 10.0),
    "cortical_bone": (900.0, 150.0),
    "cancellous_bone": (220.0, 50.0),
    "marrow": (40.0, 25.0),
    "disc": (80.0, 10.0),
    "cartilage": (110.0, 15.0),
    "liver": (60.0, 8.0),
    "spleen": (50.0, 6.0),
    "kidney": (35.0, 6.0),
    "pancreas": (40.0, 6.0),
    "bowel_wall": (45.0, 10.0),
    "bowel_fluid": (15.0, 10.0),
    "bowel_content": (-60.0, 60.0),
    "gas": (-950.0, 30.0),
    "blood": (42.0, 5.0),
    "fluid": (8.0, 5.0),
    "csf": (8.0, 4.0),
    "brain": (35.0, 4.0),
    "thyroid": (90.0, 15.0),
    "lymph_node": (35.0, 8.0),
}

# Contrast enhancement added in the portal-venous phase (HU); arterial gives more to vessels.
CONTRAST_ENHANCEMENT: dict[str, dict[str, float]] = {
    "none": {},
    "arterial": {"blood": 230.0, "kidney": 120.0, "spleen": 60.0, "liver": 20.0, "bowel_wall": 30.0, "thyroid": 60.0},
    "venous": {"blood": 130.0, "kidney": 110.0, "spleen": 60.0, "liver": 50.0, "bowel_wall": 25.0, "thyroid": 40.0},
}

# T1-weighted post-gadolinium MRI, arbitrary units (white matter ~ 1.0 before bias/noise).
MR_T1_POSTGAD: dict[str, tuple[float, float]] = {
    "air": (0.02, 0.01),
    "cortical_bone": (0.05, 0.02),
    "marrow": (0.85, 0.1),  # diploe: fatty marrow is bright on T1
    "fat": (1.25, 0.1),
    "skin": (0.7, 0.08),
    "muscle": (0.55, 0.06),
    "brain": (0.85, 0.05),
    "csf": (0.2, 0.04),
    "vitreous": (0.18, 0.03),
    "lens": (0.6, 0.05),
    "optic_nerve": (0.7, 0.05),
    "blood": (1.1, 0.15),  # enhancing vessels and dural sinuses
    "mucosa": (0.9, 0.1),  # enhancing nasal/sinus mucosa
    "sinus_air": (0.03, 0.01),
}


def sample_ct_values(rng: np.random.Generator, phase: str, muscle_hu: float) -> dict[str, float]:
    """Per-case HU of each tissue: a base value, the contrast phase, and the subject's muscle."""
    values = {name: float(rng.normal(mean, sd)) for name, (mean, sd) in CT_HU.items()}
    for name, extra in CONTRAST_ENHANCEMENT[phase].items():
        values[name] += extra * float(rng.uniform(0.8, 1.2))
    values["muscle"] = float(muscle_hu)
    return values


def sample_mr_values(rng: np.random.Generator) -> dict[str, float]:
    """Per-case T1 intensities of each tissue."""
    return {name: float(max(0.0, rng.normal(mean, sd))) for name, (mean, sd) in MR_T1_POSTGAD.items()}
