"""Validated patient data for indices and definitions.

Units: age in years, height in metres, weight in kilograms, sex coded "M" (male) or "F" (female);
"male"/"female" in any case are accepted too. A bad value never stops the measurement: it is
dropped, its problem is recorded under the field's name, and everything needing it becomes "not
applicable". ``strict`` turns the first problem into an error instead (``--strict-patient``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, UnitError
from ..ranges import AGE_Y, HEIGHT_M, WEIGHT_KG

SEX_CODES = {"m": "M", "male": "M", "f": "F", "female": "F"}
# The plausible ranges live in MuscleQuantLib/ranges.py, shared with cohort validation (issue 17 defect 8).
MAX_HEIGHT_M = HEIGHT_M.high  # above this, the value is almost surely centimetres
MIN_HEIGHT_M = HEIGHT_M.low
WEIGHT_RANGE_KG = (WEIGHT_KG.low, WEIGHT_KG.high)
AGE_RANGE_Y = (AGE_Y.low, AGE_Y.high)


@dataclass(frozen=True)
class Patient:
    """Accepted values (None when missing or refused) and one message per refused field."""

    age_y: float | None = None
    sex: str | None = None
    height_m: float | None = None
    weight_kg: float | None = None
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def bmi(self) -> float | None:
        if self.height_m is None or self.weight_kg is None:
            return None
        return self.weight_kg / self.height_m**2

    def reason(self, name: str) -> str:
        """Why a field is unavailable, for 'not applicable' messages."""
        return self.problems.get(name, f"{name} not given")

    def to_dict(self) -> dict[str, Any]:
        return {"age_y": self.age_y, "sex": self.sex, "height_m": self.height_m, "weight_kg": self.weight_kg,
                "bmi_kg_m2": self.bmi, "problems": dict(self.problems)}


def _number(raw: Any, name: str) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise InputError(f"{raw!r} is not a number", field=name) from None
    if not math.isfinite(value):
        raise InputError(f"{raw!r} is not a finite number", field=name)
    return value


def parse_sex(raw: Any) -> str:
    code = SEX_CODES.get(str(raw).strip().lower())
    if code is None:
        raise InputError(f"{raw!r} is not a recognised code; use M (male) or F (female)", field="sex")
    return code


def parse_height(raw: Any) -> float:
    value = _number(raw, "height")
    if value > MAX_HEIGHT_M:
        raise UnitError(f"{value:g} is above {MAX_HEIGHT_M:g} m: height must be in metres "
                        f"(did you give centimetres? {value:g} cm = {value / 100:g} m)", field="height")
    if value < MIN_HEIGHT_M:
        raise InputError(f"{value:g} m is implausibly small; height must be in metres", field="height")
    return value


def parse_weight(raw: Any) -> float:
    value = _number(raw, "weight")
    if not WEIGHT_RANGE_KG[0] <= value <= WEIGHT_RANGE_KG[1]:
        raise UnitError(f"{value:g} is outside {WEIGHT_RANGE_KG[0]:g}-{WEIGHT_RANGE_KG[1]:g}: weight must be in kg",
                        field="weight")
    return value


def parse_age(raw: Any) -> float:
    value = _number(raw, "age")
    if not AGE_RANGE_Y[0] <= value <= AGE_RANGE_Y[1]:
        raise UnitError(f"{value:g} is outside {AGE_RANGE_Y[0]:g}-{AGE_RANGE_Y[1]:g}: age must be in years", field="age")
    return value


PARSERS = {"age": parse_age, "sex": parse_sex, "height": parse_height, "weight": parse_weight}


def make_patient(age: Any = None, sex: Any = None, height: Any = None, weight: Any = None, *,
                 strict: bool = False) -> Patient:
    """Validate raw values field by field; missing (None or '') fields are simply absent."""
    accepted: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, raw in (("age", age), ("sex", sex), ("height", height), ("weight", weight)):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        try:
            accepted[name] = PARSERS[name](raw)
        except InputError as exc:
            if strict:
                raise
            problems[name] = str(exc)
    return Patient(age_y=accepted.get("age"), sex=accepted.get("sex"), height_m=accepted.get("height"),
                   weight_kg=accepted.get("weight"), problems=problems)
