"""Standard terminology (SNOMED CT codes) for every MuscleQuant label, as Slicer segments need it.

Slicer segments carry their meaning in the ``TerminologyEntry`` tag; DICOM SEG export reads the
category / type / type-modifier codes from it. The codes live in ``terminology.json`` (data, with
the source each code was checked against) and are validated once, on first use, so a typo in the
data fails loudly instead of producing a SEG with a broken code.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "Code",
    "SlicerTerminologyEntry",
    "Terminology",
    "TerminologyError",
    "all_terminology",
    "parse_slicer_terminology_string",
    "slicer_terminology_string",
    "terminology_for",
]

_JSON_NAME = "terminology.json"
_SCHEMA_VERSION = 1
# SNOMED CT identifiers: 6..18 digits, no leading zero (SNOMED CT Technical Implementation Guide).
_SCT_ID = re.compile(r"[1-9][0-9]{5,17}")
LEFT = ("SCT", "7771000", "Left")
RIGHT = ("SCT", "24028007", "Right")
# Characters that Slicer's serialized entry uses as separators; they must not occur inside a field.
_SEPARATORS = ("~", "^")


class TerminologyError(ValueError):
    """terminology.json is malformed (a packaging or editing error, not a user error)."""


@dataclass(frozen=True)
class Code:
    """One coded concept (DICOM Code Sequence Macro: scheme designator, value, meaning)."""

    scheme: str
    code: str
    meaning: str

    def slicer(self) -> str:
        """``Scheme^Value^Meaning``, the triple Slicer puts between ``~`` separators."""
        return f"{self.scheme}^{self.code}^{self.meaning}"


@dataclass(frozen=True)
class Terminology:
    """The terminology of one label (a segment)."""

    name: str
    category: Code
    type: Code
    type_modifier: Code | None
    recommended_color: tuple[int, int, int]
    source: str
    unverified_specific: bool = False
    note: str | None = None
    candidate_type: Code | None = None

    @property
    def color(self) -> tuple[int, int, int]:
        return self.recommended_color

    def card_dict(self) -> dict[str, dict[str, str]]:
        """The coded fields as a model card / summary JSON stores them."""
        fields = {"category": self.category, "type": self.type, "type_modifier": self.type_modifier}
        return {key: {"scheme": c.scheme, "code": c.code, "meaning": c.meaning} for key, c in fields.items() if c}

    @property
    def color_float(self) -> tuple[float, float, float]:
        """Colour as 0..1 floats, the unit ``vtkSegment.SetColor`` takes."""
        r, g, b = self.recommended_color
        return (r / 255.0, g / 255.0, b / 255.0)


@dataclass(frozen=True)
class SlicerTerminologyEntry:
    """The seven ``~``-separated fields of a serialized Slicer terminology entry."""

    context_name: str
    category: Code | None
    type: Code | None
    type_modifier: Code | None
    region_context_name: str
    region: Code | None
    region_modifier: Code | None


def _fail(where: str, message: str) -> TerminologyError:
    return TerminologyError(f"{_JSON_NAME}: {where}: {message}")


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, "must be a non-empty string")
    for sep in _SEPARATORS:
        if sep in value:
            raise _fail(where, f"must not contain {sep!r} (Slicer uses it as a separator)")
    return value


def _code(value: Any, where: str) -> Code:
    if not isinstance(value, Mapping) or set(value) != {"scheme", "code", "meaning"}:
        raise _fail(where, "must be an object with exactly 'scheme', 'code' and 'meaning'")
    code = Code(_text(value["scheme"], f"{where}.scheme"), _text(value["code"], f"{where}.code"),
                _text(value["meaning"], f"{where}.meaning"))
    if code.scheme == "SCT" and not _SCT_ID.fullmatch(code.code):
        raise _fail(f"{where}.code", f"{code.code!r} is not a SNOMED CT identifier")
    return code


def _candidate(value: Any, where: str) -> Code:
    # A candidate also records where it was seen and why it was not promoted.
    if not isinstance(value, Mapping):
        raise _fail(where, "must be an object")
    _text(value.get("source"), f"{where}.source")
    _text(value.get("status"), f"{where}.status")
    return _code({k: value.get(k) for k in ("scheme", "code", "meaning")}, where)


def _entry(name: str, raw: Any) -> Terminology:
    where = f"labels.{name}"
    if not isinstance(raw, Mapping):
        raise _fail(where, "must be an object")
    required = {"category", "type", "type_modifier", "recommended_color", "source"}
    optional = {"unverified_specific", "note", "candidate_type"}
    missing = required - set(raw)
    unknown = set(raw) - required - optional
    if missing or unknown:
        raise _fail(where, f"missing keys {sorted(missing)}, unknown keys {sorted(unknown)}")
    color = raw["recommended_color"]
    if (not isinstance(color, list) or len(color) != 3
            or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in color)):
        raise _fail(f"{where}.recommended_color", "must be three integers 0..255")
    modifier = None if raw["type_modifier"] is None else _code(raw["type_modifier"], f"{where}.type_modifier")
    # A one-sided label must say which side; a both-sides label must not claim one.
    expected = LEFT if name.endswith("_left") else RIGHT if name.endswith("_right") else None
    got = None if modifier is None else (modifier.scheme, modifier.code, modifier.meaning)
    if got != expected:
        raise _fail(f"{where}.type_modifier", f"is {got}, expected {expected}")
    unverified = raw.get("unverified_specific", False)
    if not isinstance(unverified, bool):
        raise _fail(f"{where}.unverified_specific", "must be true or false")
    note = raw.get("note")
    if note is not None and (not isinstance(note, str) or not note.strip()):
        raise _fail(f"{where}.note", "must be a non-empty string")
    if unverified and note is None:
        raise _fail(where, "an unverified_specific entry needs a note saying why")
    candidate = raw.get("candidate_type")
    return Terminology(
        name=name,
        category=_code(raw["category"], f"{where}.category"),
        type=_code(raw["type"], f"{where}.type"),
        type_modifier=modifier,
        recommended_color=(color[0], color[1], color[2]),
        source=_text(raw["source"], f"{where}.source"),
        unverified_specific=unverified,
        note=note,
        candidate_type=None if candidate is None else _candidate(candidate, f"{where}.candidate_type"),
    )


@dataclass(frozen=True)
class _Table:
    context_name: str
    anatomic_context_name: str
    labels: Mapping[str, Terminology]


def _parse(doc: Any) -> _Table:
    """Validate the whole document; kept separate from the file read so tests can feed bad data."""
    if not isinstance(doc, Mapping):
        raise _fail("top level", "must be an object")
    if doc.get("schema_version") != _SCHEMA_VERSION:
        raise _fail("schema_version", f"must be {_SCHEMA_VERSION}, got {doc.get('schema_version')!r}")
    labels = doc.get("labels")
    if not isinstance(labels, Mapping) or not labels:
        raise _fail("labels", "must be a non-empty object")
    parsed = {name: _entry(name, raw) for name, raw in labels.items()}
    return _Table(
        context_name=_text(doc.get("terminology_context"), "terminology_context"),
        anatomic_context_name=_text(doc.get("anatomic_context"), "anatomic_context"),
        labels=parsed,
    )


@cache
def _table() -> _Table:
    text = resources.files(__package__).joinpath(_JSON_NAME).read_text(encoding="utf-8")
    return _parse(json.loads(text))


def all_terminology() -> dict[str, Terminology]:
    """Every label with terminology, by name (a copy: callers may not edit the cached table)."""
    return dict(_table().labels)


_SIDES = {"left": Code("SCT", "7771000", "Left"), "right": Code("SCT", "24028007", "Right")}


def terminology_for(name: str) -> Terminology:
    """The terminology of label ``name``; ``KeyError`` naming the label if there is none.

    A sided name (``<label>_left``/``<label>_right``) without its own entry is the label's entry with
    the SNOMED laterality modifier; the right side gets a darker shade so both sides stay distinguishable.
    """
    labels = _table().labels
    if name in labels:
        return labels[name]
    base, _, side = name.rpartition("_")
    if side in _SIDES and base in labels and labels[base].type_modifier is None:
        entry = labels[base]
        color = entry.recommended_color if side == "left" else tuple(int(c * 0.7) for c in entry.recommended_color)
        return dataclasses.replace(entry, name=name, type_modifier=_SIDES[side], recommended_color=color)
    raise KeyError(f"no terminology for label {name!r}")


def slicer_terminology_string(name: str) -> str:
    """The value Slicer stores in a segment's ``TerminologyEntry`` tag for label ``name``.

    Seven ``~``-separated fields, each code as ``Scheme^Value^Meaning`` and an absent code as
    ``^^``: terminology context name, category, type, type modifier, anatomic context name,
    anatomic region, anatomic region modifier. This is the format written by
    ``vtkSlicerTerminologiesModuleLogic::SerializeTerminologyEntry`` and read back (exactly seven
    fields required) by ``DeserializeTerminologyEntry`` in Slicer's
    ``Modules/Loadable/Terminologies/Logic/vtkSlicerTerminologiesModuleLogic.cxx`` — unchanged from
    Slicer 4.8 through 5.10, 5.12 and 5.13 — and set with ``vtkSegment::SetTerminology``
    (``Libs/vtkSegmentationCore/vtkSegment.cxx``, tag name ``TerminologyEntry``).
    """
    entry = terminology_for(name)
    table = _table()
    empty = "^^"
    return "~".join((
        table.context_name,
        entry.category.slicer(),
        entry.type.slicer(),
        entry.type_modifier.slicer() if entry.type_modifier else empty,
        table.anatomic_context_name,
        empty,
        empty,
    ))


def _parse_code(field: str, where: str) -> Code | None:
    parts = field.split("^")
    if len(parts) != 3:
        raise ValueError(f"terminology entry {where} {field!r} is not Scheme^Value^Meaning")
    if not any(parts):
        return None
    return Code(*parts)


def parse_slicer_terminology_string(text: str) -> SlicerTerminologyEntry:
    """Split a serialized Slicer terminology entry back into its fields (to read segments back)."""
    fields = text.split("~")
    if len(fields) != 7:
        raise ValueError(f"terminology entry has {len(fields)} '~'-separated fields, Slicer needs 7: {text!r}")
    return SlicerTerminologyEntry(
        context_name=fields[0],
        category=_parse_code(fields[1], "category"),
        type=_parse_code(fields[2], "type"),
        type_modifier=_parse_code(fields[3], "type modifier"),
        region_context_name=fields[4],
        region=_parse_code(fields[5], "region"),
        region_modifier=_parse_code(fields[6], "region modifier"),
    )
