"""Body-size-normalised indices and the C3 → L3 conversion.

Every function returns ``(value, reason)``: a value, or None with the reason naming the missing or
refused input, so a case without height still gets its areas and a clear "not applicable".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

Result = tuple[float | None, str | None]


@dataclass(frozen=True)
class SwartzModel:
    """The cited linear model CSA_L3 = f(CSA_C3, age, weight, sex), coefficients from data."""

    intercept: float
    csa_c3_cm2: float
    age_y: float
    weight_kg: float
    sex: float
    sex_code: dict[str, int]
    citation: str


@cache
def swartz_model() -> SwartzModel:
    """Load Swartz 2016 from ``conversions.json`` (data, not magic numbers)."""
    text = resources.files(__package__).joinpath("conversions.json").read_text(encoding="utf-8")
    entry = json.loads(text)["swartz_2016_c3_to_l3"]
    return SwartzModel(**entry["coefficients"], sex_code=entry["sex_code"], citation=entry["citation"])


def per_height_squared(value: float | None, height_m: float | None, what: str) -> Result:
    """``value / height²`` — the form of SMI, psoas index and volume index."""
    if value is None:
        return None, f"{what} not measured"
    if height_m is None:
        return None, "height missing or refused"
    return value / height_m**2, None


def l3_csa_from_c3(csa_c3_cm2: float | None, age_y: float | None, weight_kg: float | None,
                   sex: str | None) -> Result:
    """Swartz 2016: estimated L3 muscle CSA (cm²) from C3 CSA (cm²), age (y), weight (kg), sex (M/F)."""
    missing = [name for name, v in (("C3 CSA", csa_c3_cm2), ("age", age_y), ("weight", weight_kg), ("sex", sex))
               if v is None]
    if missing:
        return None, f"needs {', '.join(missing)} (missing or refused)"
    model = swartz_model()
    value = (model.intercept + model.csa_c3_cm2 * csa_c3_cm2 + model.age_y * age_y
             + model.weight_kg * weight_kg + model.sex * model.sex_code[sex])
    return value, None
