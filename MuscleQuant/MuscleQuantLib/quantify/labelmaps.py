"""Import another tool's label map through an explicit mapping onto a preset's labels.

A label value the preset does not know is never measured as muscle by accident (TotalSegmentator's
spleen is value 1, which is rectus abdominis in the L3 preset): ``quantify`` refuses unknown values
unless they are mapped here, or explicitly ignored with a warning naming them.

A mapping is built in (``totalsegmentator``: TotalSegmentator v2 "total" class ids) or a JSON file
``{"source": "...", "map": {"<source value>": "<preset label name>" | null}}``; values mapped to
null, and values not in the map, are dropped and named in a warning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError

# TotalSegmentator v2 "total" task: the only classes that are muscles of this product's presets.
# 'autochthon' is the erector spinae (with multifidus); at L3 'iliopsoas' is the psoas major.
# The 'total' task has no rectus abdominis, abdominal wall or quadratus lumborum.
TOTALSEGMENTATOR_NAMES: dict[int, str] = {
    1: "spleen", 2: "kidney_right", 3: "kidney_left", 4: "gallbladder", 5: "liver", 6: "stomach", 7: "pancreas",
    8: "adrenal_gland_right", 9: "adrenal_gland_left", 10: "lung_upper_lobe_left", 11: "lung_lower_lobe_left",
    12: "lung_upper_lobe_right", 13: "lung_middle_lobe_right", 14: "lung_lower_lobe_right", 18: "small_bowel",
    19: "duodenum", 20: "colon", 30: "vertebrae_L2", 31: "vertebrae_L1", 32: "vertebrae_T12", 33: "vertebrae_T11",
    52: "aorta", 63: "inferior_vena_cava", 64: "portal_vein_and_splenic_vein", 79: "spinal_cord",
    80: "gluteus_maximus_left", 81: "gluteus_maximus_right", 82: "gluteus_medius_left", 83: "gluteus_medius_right",
    84: "gluteus_minimus_left", 85: "gluteus_minimus_right", 86: "autochthon_left", 87: "autochthon_right",
    88: "iliopsoas_left", 89: "iliopsoas_right", 117: "costal_cartilages",
}
BUILT_IN: dict[str, dict[str, dict[int, str | None]]] = {
    "totalsegmentator": {
        "l3": {86: "erector_spinae", 87: "erector_spinae", 88: "psoas_major", 89: "psoas_major"},
    },
}


@dataclass
class LabelMapping:
    """Source value → preset label name (None: drop), and where the mapping came from."""

    source: str
    mapping: dict[int, str | None]
    source_names: dict[int, str] = field(default_factory=dict)

    def describe(self, value: int) -> str:
        name = self.source_names.get(value)
        return f"{value} ({name})" if name else str(value)


def load_label_mapping(text: str, preset_name: str) -> LabelMapping:
    """A built-in mapping by name, or a JSON mapping file."""
    key = text.strip().lower()
    if key in BUILT_IN:
        per_preset = BUILT_IN[key]
        if preset_name not in per_preset:
            raise InputError(f"no built-in {key} mapping for preset {preset_name!r} (only {', '.join(per_preset)}); "
                             "give a mapping JSON file instead", field="--label-map-from")
        return LabelMapping(key, dict(per_preset[preset_name]), TOTALSEGMENTATOR_NAMES)
    path = Path(text)
    if not path.is_file():
        raise InputError(f"neither a built-in mapping ({', '.join(BUILT_IN)}) nor a mapping JSON file",
                         path=path, field="--label-map-from")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a readable mapping JSON ({' '.join(str(exc).split())})", path=path) from None
    raw = data.get("map") if isinstance(data, dict) else None
    if not isinstance(raw, dict) or not raw:
        raise InputError('mapping JSON needs a non-empty "map": {"<source value>": "<preset label name>" or null}',
                         path=path, field="map")
    mapping: dict[int, str | None] = {}
    for key_text, name in raw.items():
        try:
            value = int(key_text)
        except ValueError:
            raise InputError(f"source value {key_text!r} is not an integer", path=path, field="map") from None
        if value <= 0 or (name is not None and not isinstance(name, str)):
            raise InputError(f"entry {key_text!r}: source values are positive integers and targets label names "
                             "or null", path=path, field="map")
        mapping[value] = name
    return LabelMapping(str(data.get("source") or path.name), mapping)


def apply_label_mapping(labels: np.ndarray, mapping: LabelMapping, preset_names: dict[int, str]
                        ) -> tuple[np.ndarray, list[str]]:
    """The label array in the preset's values, and warnings naming what was dropped or is missing."""
    by_name = {name: value for value, name in preset_names.items()}
    unknown = sorted({name for name in mapping.mapping.values() if name is not None and name not in by_name})
    if unknown:
        raise InputError(f"mapping targets {', '.join(unknown)} are not labels of the preset "
                         f"({', '.join(f'{v}={n}' for v, n in sorted(preset_names.items()))})", field="--label-map-from")
    present = [int(v) for v in np.unique(labels) if v != 0]
    out = np.zeros(labels.shape, dtype=np.uint16)
    dropped = []
    for value in present:
        target = mapping.mapping.get(value)
        if target is None:
            dropped.append(mapping.describe(value))
        else:
            out[labels == value] = by_name[target]
    warnings = []
    if dropped:
        warnings.append(f"label map {mapping.source}: values {', '.join(dropped)} are not muscles of this preset "
                        "and were ignored")
    mapped = {by_name[n] for v, n in mapping.mapping.items() if n is not None and v in present}
    missing = [name for value, name in sorted(preset_names.items()) if value not in mapped]
    if missing:
        warnings.append(f"label map {mapping.source} has no {', '.join(missing)}: total CSA, the indices and the "
                        "sarcopenia definitions cover only the mapped muscles")
    return out, warnings
