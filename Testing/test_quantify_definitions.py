"""Sarcopenia definitions (SPEC 4) just below, at and above every cutoff; Swartz 2016 exactly."""

from __future__ import annotations

import pytest

from MuscleQuantLib.quantify import DEFINITIONS, classify
from MuscleQuantLib.quantify.definitions import NOT_APPLICABLE, NOT_SARCOPENIC, SARCOPENIC, classify_case
from MuscleQuantLib.quantify.indices import l3_csa_from_c3, per_height_squared, swartz_model

# SPEC 4, written out independently of definitions.json: (key, measure, comparison, cutoff by sex/BMI class).
# BMI classes: None = any BMI; "low" = BMI < 25; "high" = BMI >= 25.
SPEC_TABLE = [
    ("prado_smi", "smi_cm2_m2", "<", {("M", None): 52.4, ("F", None): 38.5}),
    ("martin_smi", "smi_cm2_m2", "<", {("M", "low"): 43, ("M", "high"): 53, ("F", None): 41}),
    ("martin_muscle_attenuation", "muscle_hu_mean", "<",
     {("M", "low"): 41, ("M", "high"): 33, ("F", "low"): 41, ("F", "high"): 33}),
    ("fearon_smi", "smi_cm2_m2", "<", {("M", None): 55, ("F", None): 39}),
    ("carey_smi", "smi_cm2_m2", "<", {("M", None): 50, ("F", None): 39}),
    ("derstine_smi", "smi_cm2_m2", "<", {("M", None): 45.4, ("F", None): 34.4}),
    ("fujiwara_muscle_attenuation", "muscle_hu_mean", "<=", {("M", None): 44.4, ("F", None): 39.3}),
    ("hamaguchi_psoas_index", "psoas_index_cm2_m2", "<", {("M", None): 6.36, ("F", None): 3.92}),
    ("golse_psoas_area", "psoas_area_mm2", "<", {("M", None): 1561, ("F", None): 1464}),
    ("yoo_psoas_density", "psoas_hu_mean", "<", {("M", None): 38.5, ("F", None): 38.5}),
    ("van_rijn_dekker_smi_from_c3", "l3_smi_from_c3_cm2_m2", "<", {("M", None): 42.4, ("F", None): 30.6}),
    ("wendrich_smi_from_c3", "l3_smi_from_c3_cm2_m2", "<=", {("M", None): 43.2, ("F", None): 43.2}),
    ("furtner_tmt", "tmt_mm", "<", {("M", None): 7.2, ("F", None): 7.2}),
    ("prado_smi_from_c3", "l3_smi_from_c3_cm2_m2", "<", {("M", None): 52.4, ("F", None): 38.5}),
]
BMI = {"low": 24.99, "high": 25.0}
EPS = 1e-6
CASES = [(key, measure, comp, sex, bmi_class, cutoff)
         for key, measure, comp, cutoffs in SPEC_TABLE for (sex, bmi_class), cutoff in cutoffs.items()]


def test_table_covers_every_definition_with_citation_and_units():
    assert {row[0] for row in SPEC_TABLE} == set(DEFINITIONS)
    for key, measure, comparison, _ in SPEC_TABLE:
        definition = DEFINITIONS[key]
        assert (definition.measure, definition.comparison) == (measure, comparison)
        assert definition.citation and definition.units and definition.name


@pytest.mark.parametrize("key, measure, comparison, sex, bmi_class, cutoff", CASES,
                         ids=[f"{c[0]}-{c[3]}-{c[4]}" for c in CASES])
def test_below_at_and_above_cutoff(key, measure, comparison, sex, bmi_class, cutoff):
    definition = DEFINITIONS[key]
    bmis = [BMI[bmi_class]] if bmi_class else [None, 18.0, 32.0]  # BMI must not matter when not BMI-specific
    for bmi in bmis:
        assert classify(definition, cutoff - EPS, sex, bmi).status == SARCOPENIC
        at = classify(definition, cutoff, sex, bmi)
        assert at.status == (SARCOPENIC if comparison == "<=" else NOT_SARCOPENIC), at.reason
        assert at.cutoff == pytest.approx(cutoff)
        assert classify(definition, cutoff + EPS, sex, bmi).status == NOT_SARCOPENIC


def test_missing_inputs_are_named():
    martin = DEFINITIONS["martin_smi"]
    result = classify(martin, 45.0, "M", None)
    assert result.status == NOT_APPLICABLE and "BMI" in result.reason
    assert classify(martin, 40.0, "F", None).status == SARCOPENIC  # women's cutoff does not depend on BMI
    assert "sex" in classify(DEFINITIONS["prado_smi"], 40.0, None).reason
    assert "not available" in classify(DEFINITIONS["prado_smi"], None, "M").reason
    assert classify(DEFINITIONS["prado_smi"], float("nan"), "M").status == NOT_APPLICABLE


def test_case_classification_applies_only_matching_presets_and_names_the_missing_measure():
    values = {"smi_cm2_m2": 40.0, "muscle_hu_mean": 30.0, "psoas_area_mm2": 1500.0, "psoas_hu_mean": 40.0,
              "psoas_index_cm2_m2": None}
    results = classify_case(values, {"psoas_index_cm2_m2": "height not given"}, "l3", "M", 26.0)
    assert results["prado_smi"].status == SARCOPENIC
    assert results["martin_smi"].status == SARCOPENIC and results["martin_smi"].cutoff == 53
    assert results["yoo_psoas_density"].status == NOT_SARCOPENIC
    assert results["hamaguchi_psoas_index"].status == NOT_APPLICABLE
    assert "height not given" in results["hamaguchi_psoas_index"].reason
    assert results["furtner_tmt"].status == NOT_APPLICABLE and "temporalis" in results["furtner_tmt"].reason
    c3 = classify_case({"smi_cm2_m2": 10.0, "l3_smi_from_c3_cm2_m2": 30.0}, {}, "c3", "F", None)
    assert c3["prado_smi"].status == NOT_APPLICABLE  # a C3 SMI is never judged with L3 cutoffs
    assert c3["van_rijn_dekker_smi_from_c3"].status == SARCOPENIC


@pytest.mark.parametrize("csa_c3, age, weight, sex", [(30.0, 60.0, 70.0, "M"), (25.5, 45.0, 58.2, "F"),
                                                      (41.2, 77.0, 93.4, "M")])
def test_swartz_formula_exact(csa_c3, age, weight, sex):
    sex_code = {"F": 1, "M": 2}[sex]
    expected = 27.304 + 1.363 * csa_c3 - 0.671 * age + 0.640 * weight + 26.442 * sex_code
    value, reason = l3_csa_from_c3(csa_c3, age, weight, sex)
    assert reason is None and value == pytest.approx(expected, abs=1e-12)
    smi, _ = per_height_squared(value, 1.7, "x")
    assert smi == pytest.approx(expected / 1.7**2, abs=1e-12)


def test_swartz_worked_example_and_missing_inputs():
    # 30 cm² at C3, 60 y, 70 kg, male: 27.304 + 40.89 - 40.26 + 44.8 + 52.884 = 125.618 cm²
    assert l3_csa_from_c3(30.0, 60.0, 70.0, "M")[0] == pytest.approx(125.618, abs=1e-9)
    assert swartz_model().sex == 26.442 and "Oral Oncol" in swartz_model().citation
    value, reason = l3_csa_from_c3(30.0, None, None, "M")
    assert value is None and "age" in reason and "weight" in reason
    assert per_height_squared(10.0, None, "x") == (None, "height missing or refused")
