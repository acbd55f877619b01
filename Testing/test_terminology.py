"""Terminology data for every label: complete, well-formed, and in the exact format Slicer stores."""

from __future__ import annotations

import copy
import json
from importlib import resources

import pytest

from MuscleQuantLib.presets.terminology import (
    Code,
    TerminologyError,
    _parse,
    all_terminology,
    parse_slicer_terminology_string,
    slicer_terminology_string,
    terminology_for,
)

# The labels of the four presets (SPEC 2), the union and the vertebrae the level finders use.
PAIRED = ["temporalis", "sternocleidomastoid", "rectus_abdominis", "abdominal_wall", "psoas_major",
          "quadratus_lumborum", "erector_spinae"]
THIGH = ["sartorius", "rectus_femoris", "vastus_lateralis", "vastus_intermedius", "vastus_medialis",
         "adductor_longus", "adductor_brevis", "adductor_magnus", "gracilis", "pectineus", "semitendinosus",
         "semimembranosus", "biceps_femoris", "gluteus_maximus", "gluteus_medius", "gluteus_minimus",
         "tensor_fasciae_latae", "piriformis", "obturator_internus", "obturator_externus", "quadratus_femoris",
         "iliacus", "iliopsoas", "psoas", "abdominal_oblique", "rectus_abdominis", "multifidus"]
VERTEBRAE = [*(f"C{i}" for i in range(1, 8)), *(f"T{i}" for i in range(1, 13)), *(f"L{i}" for i in range(1, 6)),
             "sacrum"]
BONES = {*VERTEBRAE, "femur", "iliac_bone"}
ALL_LABELS = sorted({
    *PAIRED, *(f"{n}_{side}" for n in PAIRED for side in ("left", "right")),
    "paravertebral_muscles", *THIGH, "femur", "iliac_bone", "skeletal_muscle", *VERTEBRAE,
})
LEFT = Code("SCT", "7771000", "Left")
RIGHT = Code("SCT", "24028007", "Right")


def _raw() -> dict:
    text = resources.files("MuscleQuantLib.presets").joinpath("terminology.json").read_text(encoding="utf-8")
    return json.loads(text)


@pytest.mark.parametrize("name", ALL_LABELS)
def test_every_label_has_terminology(name: str) -> None:
    term = terminology_for(name)
    assert term.name == name
    assert term.category == Code("SCT", "123037004", "Anatomical Structure")


def test_no_entry_without_a_preset_label() -> None:
    # Extra entries would be untested data; a new label must be added to the list above as well.
    assert sorted(all_terminology()) == ALL_LABELS


def test_sct_codes_are_digit_strings() -> None:
    for term in all_terminology().values():
        codes = [term.category, term.type, term.type_modifier, term.candidate_type]
        for code in (c for c in codes if c is not None):
            if code.scheme == "SCT":
                assert code.code.isdigit() and not code.code.startswith("0"), (term.name, code)


@pytest.mark.parametrize("name", ALL_LABELS)
def test_slicer_string_round_trips(name: str) -> None:
    term = terminology_for(name)
    text = slicer_terminology_string(name)
    assert text.count("~") == 6
    parsed = parse_slicer_terminology_string(text)
    assert parsed.context_name == "Segmentation category and type - DICOM master list"
    assert parsed.region_context_name == "Anatomic codes - DICOM master list"
    assert (parsed.category, parsed.type, parsed.type_modifier) == (term.category, term.type, term.type_modifier)
    assert parsed.region is None and parsed.region_modifier is None


def test_slicer_string_exact_format() -> None:
    assert slicer_terminology_string("sternocleidomastoid_right") == (
        "Segmentation category and type - DICOM master list~SCT^123037004^Anatomical Structure"
        "~SCT^22823000^Sternocleidomastoid muscle~SCT^24028007^Right"
        "~Anatomic codes - DICOM master list~^^~^^"
    )


def test_parser_reads_slicer_default_entry() -> None:
    # vtkSegment's own default terminology (Libs/vtkSegmentationCore/vtkSegment.cxx).
    parsed = parse_slicer_terminology_string(
        "Segmentation category and type - 3D Slicer General Anatomy list~SCT^85756007^Tissue~SCT^85756007^Tissue"
        "~^^~Anatomic codes - DICOM master list~^^~^^")
    assert parsed.type == Code("SCT", "85756007", "Tissue") and parsed.type_modifier is None


@pytest.mark.parametrize("bad", ["a~b", "x~SCT^1^A~SCT^2~^^~ctx~^^~^^"])
def test_parser_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_slicer_terminology_string(bad)


@pytest.mark.parametrize("name", PAIRED)
def test_laterality_variants_carry_the_right_modifier(name: str) -> None:
    both, left, right = (terminology_for(n) for n in (name, f"{name}_left", f"{name}_right"))
    assert both.type_modifier is None
    assert left.type_modifier == LEFT and right.type_modifier == RIGHT
    assert both.type == left.type == right.type


def test_no_two_muscles_share_a_colour() -> None:
    seen: dict[tuple[int, int, int], str] = {}
    for name, term in all_terminology().items():
        if name in BONES:
            continue
        assert term.recommended_color not in seen, (name, seen.get(term.recommended_color))
        seen[term.recommended_color] = name


def test_every_entry_has_a_source() -> None:
    for name, raw in _raw()["labels"].items():
        assert isinstance(raw.get("source"), str) and raw["source"].strip(), name


def test_unverified_entries_say_why() -> None:
    for term in all_terminology().values():
        if term.unverified_specific:
            assert term.note


def test_unknown_label_names_the_label() -> None:
    with pytest.raises(KeyError, match="no_such_muscle"):
        terminology_for("no_such_muscle")
    with pytest.raises(KeyError, match="no_such_muscle"):
        slicer_terminology_string("no_such_muscle")


def _broken(path: list[str], value: object) -> dict:
    doc = copy.deepcopy(_raw())
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@pytest.mark.parametrize(("path", "value"), [
    (["labels", "temporalis_left", "type_modifier"], {"scheme": "SCT", "code": "24028007", "meaning": "Right"}),
    (["labels", "temporalis", "type_modifier"], {"scheme": "SCT", "code": "7771000", "meaning": "Left"}),
    (["labels", "temporalis", "type"], {"scheme": "SCT", "code": "T-13000", "meaning": "Temporalis muscle"}),
    (["labels", "temporalis", "type"], {"scheme": "SCT", "code": "52927003", "meaning": "Temporalis~muscle"}),
    (["labels", "temporalis", "source"], ""),
    (["labels", "temporalis", "recommended_color"], [255, 0, 256]),
    (["labels", "temporalis", "unexpected"], 1),
    (["labels", "psoas", "note"], None),
    (["schema_version"], 2),
])
def test_validation_rejects_broken_data(path: list[str], value: object) -> None:
    with pytest.raises(TerminologyError):
        _parse(_broken(path, value))


@pytest.mark.slicer
def test_slicer_reads_and_writes_the_same_string() -> None:
    """Slicer's own (de)serializer must reproduce every string exactly (slicer-core wheel)."""
    slicer = pytest.importorskip("slicer")
    logic = slicer.vtkSlicerTerminologiesModuleLogic
    for name in ALL_LABELS:
        text = slicer_terminology_string(name)
        entry = slicer.vtkSlicerTerminologyEntry()
        assert logic.DeserializeTerminologyEntry(text, entry), name
        assert logic.SerializeTerminologyEntry(entry) == text
        assert entry.GetTypeObject().GetCodeValue() == terminology_for(name).type.code
        segment = slicer.vtkSegment()
        segment.SetTerminology(text)
        assert segment.GetTerminology() == text
