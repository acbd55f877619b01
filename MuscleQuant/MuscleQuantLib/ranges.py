"""Plausible ranges of patient data and muscle measures: one table for every place that checks them.

``quantify`` (quantify/patient.py) and cohort validation (MuscleQuantSurvivalLib/validation.py) both read
this table, so a weight in grams or a CSA of 0 is refused the same way everywhere. A value outside its
range is almost surely a unit error or a failed measurement, never a patient to analyse; each range says
what a value beyond it usually means.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PlausibleRange:
    """Values from ``low`` to ``high`` are plausible (``low`` itself only when ``low_inclusive``)."""

    what: str
    unit: str
    low: float
    high: float
    low_inclusive: bool = True
    above_hint: str = ""  # what a value above the range usually is (a unit error)
    below_hint: str = ""

    def contains(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        above_low = value >= self.low if self.low_inclusive else value > self.low
        return above_low and value <= self.high

    def expected(self) -> str:
        low = f"{self.low:g}" if self.low_inclusive else f"more than {self.low:g}"
        return f"{low} to {self.high:g} {self.unit}".strip()

    def problem(self, value: float) -> str | None:
        """None when plausible, else the reason (with the likely unit error) in words."""
        if self.contains(value):
            return None
        hint = self.above_hint if value > self.high else self.below_hint
        return (f"implausible {self.what} {value:g} (expected {self.expected()})"
                + (f": {hint}" if hint else ""))


AGE_Y = PlausibleRange("age", "years", 0.0, 125.0, above_hint="age must be in years")
HEIGHT_M = PlausibleRange("height", "m", 0.4, 3.0, above_hint="looks like centimetres; height must be in metres",
                          below_hint="height must be in metres")
WEIGHT_KG = PlausibleRange("weight", "kg", 2.0, 400.0,
                           above_hint="looks like grams or pounds; weight must be in kilograms",
                           below_hint="weight must be in kilograms")
BMI_KG_M2 = PlausibleRange("BMI", "kg/m2", 8.0, 120.0)

PATIENT_RANGES = {"age": AGE_Y, "height": HEIGHT_M, "weight": WEIGHT_KG}

# Muscle measures by the unit suffix of their column name (quantify's CSV columns; first match wins).
# Areas, volumes, indices and thicknesses must be > 0: a CSA of 0 is a failed segmentation, not sarcopenia.
MEASURE_RANGES: list[tuple[str, PlausibleRange]] = [
    (r".*_cm2_m2", PlausibleRange("muscle index", "cm2/m2", 0.0, 300.0, low_inclusive=False,
                                  above_hint="an index is cm2 / m2 (area in cm2, height in metres)")),
    (r".*_cm3_m2", PlausibleRange("volume index", "cm3/m2", 0.0, 20000.0, low_inclusive=False)),
    (r"imat_.*_cm2", PlausibleRange("IMAT area", "cm2", 0.0, 1000.0)),  # no fat inside the muscle is possible
    (r".*_cm2", PlausibleRange("muscle area", "cm2", 0.0, 1000.0, low_inclusive=False,
                               above_hint="looks like mm2; this column is in cm2")),
    (r".*_mm2", PlausibleRange("muscle area", "mm2", 0.0, 100000.0, low_inclusive=False)),
    (r".*_cm3", PlausibleRange("muscle volume", "cm3", 0.0, 50000.0, low_inclusive=False)),
    (r"(.*_)?hu_(mean|sd)(_.*)?", PlausibleRange("muscle attenuation", "HU", -200.0, 300.0)),
    (r"tmt(_.*)?_mm", PlausibleRange("muscle thickness", "mm", 0.0, 60.0, low_inclusive=False,
                                     above_hint="temporal muscle thickness is in mm")),
]


def measure_range(column: str) -> PlausibleRange | None:
    """The plausible range of a measurement column (by its unit suffix); None for other columns."""
    for pattern, plausible in MEASURE_RANGES:
        if re.fullmatch(pattern, column):
            return plausible
    return None
