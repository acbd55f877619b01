"""The simulated person behind a phantom: sex, age, body size, muscle mass and attenuation.

Sampling the person first keeps images and clinical tables consistent: a tall heavy man gets a
larger body and more muscle than a small woman, and the cohort's SMI is measured from the image.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# Population means used to scale muscle size (cm²/m², L3 SMI) — close to published healthy means.
MEAN_SMI = {"M": 50.0, "F": 40.0}
SD_SMI = {"M": 8.0, "F": 6.5}


@dataclass(frozen=True)
class Subject:
    """One simulated person. Units: years, metres, kilograms, HU."""

    sex: str  # "M" or "F"
    age: float
    height_m: float
    weight_kg: float
    target_smi: float  # cm²/m²; drives muscle size
    muscle_hu: float  # mean attenuation of muscle; low values are myosteatosis

    @property
    def bmi(self) -> float:
        return self.weight_kg / self.height_m**2

    @property
    def body_scale(self) -> float:
        """Linear in-plane size factor of the trunk/limbs relative to an average adult (1.0)."""
        return float(np.clip((self.bmi / 25.0) ** 0.5 * (self.height_m / 1.70) ** 0.3, 0.75, 1.35))

    @property
    def muscle_scale(self) -> float:
        """Area factor of muscles relative to the sex-specific mean."""
        return float(np.clip(self.target_smi / MEAN_SMI[self.sex], 0.5, 1.6))

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(bmi=self.bmi, body_scale=self.body_scale, muscle_scale=self.muscle_scale)
        return data


def sample_subject(rng: np.random.Generator) -> Subject:
    """Draw a plausible adult cancer patient."""
    sex = "M" if rng.random() < 0.5 else "F"
    age = float(np.clip(rng.normal(63, 11), 30, 90))
    height = float(np.clip(rng.normal(1.76 if sex == "M" else 1.63, 0.07), 1.45, 2.05))
    bmi = float(np.clip(rng.normal(25.5, 4.5), 16.5, 42.0))
    weight = bmi * height**2
    smi = float(np.clip(rng.normal(MEAN_SMI[sex], SD_SMI[sex]) - 0.12 * (age - 63), 22.0, 80.0))
    # Myosteatosis: attenuation falls with age and obesity (Martin 2013 cutoffs 33-41 HU).
    muscle_hu = float(np.clip(rng.normal(44, 7) - 0.25 * (age - 63) - 0.6 * (bmi - 25), 12.0, 62.0))
    return Subject(sex=sex, age=round(age, 1), height_m=round(height, 3), weight_kg=round(weight, 1),
                   target_smi=smi, muscle_hu=muscle_hu)
