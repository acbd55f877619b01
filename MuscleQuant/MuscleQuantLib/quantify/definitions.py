"""Sarcopenia definitions (SPEC 4) loaded from ``definitions.json`` and applied to one case.

A definition is data: which CSV column it reads, cutoffs by sex (optionally by BMI class), the
comparison, units and citation. Classification never guesses: a missing sex, BMI (when the cutoff
depends on it) or measure gives ``not_applicable`` with the missing input named.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

SEXES = ("M", "F")
SEX_ALIASES = {"m": "M", "male": "M", "f": "F", "female": "F"}  # as patient.SEX_CODES, for cohort tables
COMPARISONS = ("<", "<=")
SARCOPENIC, NOT_SARCOPENIC, NOT_APPLICABLE = "sarcopenic", "not_sarcopenic", "not_applicable"


@dataclass(frozen=True)
class SarcopeniaDefinition:
    """One published definition. ``cutoffs[sex]`` is a number or {'bmi_below', 'bmi_at_or_above'}."""

    key: str
    name: str
    measure: str
    measure_label: str
    presets: tuple[str, ...]
    comparison: str
    units: str
    cutoffs: dict[str, Any]
    citation: str
    bmi_threshold: float | None = None

    def needs_bmi(self, sex: str) -> bool:
        return isinstance(self.cutoffs[sex], dict)

    def cutoff(self, sex: str, bmi: float | None) -> float:
        """The cutoff for this sex (and BMI class; BMI at the threshold belongs to the upper class)."""
        entry = self.cutoffs[sex]
        if not isinstance(entry, dict):
            return float(entry)
        if bmi is None:
            raise ValueError(f"{self.key}: cutoff depends on BMI")
        return float(entry["bmi_below"] if bmi < self.bmi_threshold else entry["bmi_at_or_above"])


@dataclass(frozen=True)
class Classification:
    """The outcome for one case under one definition."""

    status: str  # sarcopenic | not_sarcopenic | not_applicable
    reason: str
    cutoff: float | None = None


def _definition(key: str, entry: dict[str, Any]) -> SarcopeniaDefinition:
    definition = SarcopeniaDefinition(
        key=key, name=entry["name"], measure=entry["measure"], measure_label=entry["measure_label"],
        presets=tuple(entry["presets"]), comparison=entry["comparison"], units=entry["units"],
        cutoffs=entry["cutoffs"], citation=entry["citation"], bmi_threshold=entry.get("bmi_threshold"))
    if definition.comparison not in COMPARISONS or set(definition.cutoffs) != set(SEXES):
        raise ValueError(f"definitions.json: {key}: comparison must be < or <= and cutoffs given for M and F")
    if any(definition.needs_bmi(s) for s in SEXES) and definition.bmi_threshold is None:
        raise ValueError(f"definitions.json: {key}: BMI-dependent cutoffs need bmi_threshold")
    return definition


@cache
def load_definitions() -> dict[str, SarcopeniaDefinition]:
    """All definitions, keyed by a stable identifier used in CSV column names."""
    text = resources.files(__package__).joinpath("definitions.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return {key: _definition(key, entry) for key, entry in data.items() if not key.startswith("_")}


DEFINITIONS: dict[str, SarcopeniaDefinition] = load_definitions()


def classify(definition: SarcopeniaDefinition, value: float | None, sex: str | None,
             bmi: float | None = None) -> Classification:
    """Apply one definition to one value; inputs the cutoff needs but the case lacks are named."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Classification(NOT_APPLICABLE, f"{definition.measure_label} ({definition.measure}) not available")
    sex = SEX_ALIASES.get(str(sex).strip().lower()) if sex is not None else None
    if sex not in SEXES:
        return Classification(NOT_APPLICABLE, "sex missing or refused (needs M or F)")
    if definition.needs_bmi(sex) and bmi is None:
        return Classification(NOT_APPLICABLE, "BMI missing (needs height and weight): the cutoff depends on BMI")
    cutoff = definition.cutoff(sex, bmi)
    low = value < cutoff if definition.comparison == "<" else value <= cutoff
    bmi_text = f", BMI {bmi:.1f}" if definition.needs_bmi(sex) else ""
    reason = f"{definition.measure} {value:.4g} {definition.comparison if low else 'not ' + definition.comparison} " \
             f"{cutoff:g} {definition.units} (sex {sex}{bmi_text})"
    return Classification(SARCOPENIC if low else NOT_SARCOPENIC, reason, cutoff)


def classify_case(values: dict[str, Any], reasons: dict[str, str], preset: str, sex: str | None,
                  bmi: float | None) -> dict[str, Classification]:
    """Every definition for one case; those for other presets are not applicable, saying why."""
    results: dict[str, Classification] = {}
    for key, definition in DEFINITIONS.items():
        if preset not in definition.presets:
            results[key] = Classification(
                NOT_APPLICABLE, f"{definition.measure_label} is measured with preset {'/'.join(definition.presets)}, "
                f"not {preset}")
            continue
        value = values.get(definition.measure)
        result = classify(definition, value, sex, bmi)
        if value is None and definition.measure in reasons:
            result = Classification(NOT_APPLICABLE, f"{definition.measure} not available: {reasons[definition.measure]}")
        results[key] = result
    return results
