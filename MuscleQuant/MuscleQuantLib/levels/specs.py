"""What each level finder looks for, as data: the slab model's preset, the plausible slab thickness,
the protocol levels read off the slab, and where the truth sits in phantom metadata."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..presets import get_preset
from ..presets.base import Preset


@dataclass(frozen=True)
class LevelSpec:
    """A level finder. Protocol positions are fractions of the slab from its inferior (0) to superior (1) edge."""

    level_preset: str  # preset of the 3D slab model
    muscle_presets: tuple[str, ...]  # 2D presets that measure at this level
    protocols: dict[str, float]  # level name -> position within the slab
    default_protocol: str
    thickness_mm: tuple[float, float, float]  # (min, nominal, max) plausible slab thickness
    truth: dict[str, tuple[str, str]] = field(default_factory=dict)  # protocol -> ("landmark"|"level", name)
    adjacent: int = 0  # neighbouring slices reported each side (L3: the paper's three adjacent slices)
    # Below this a slab is "not found", never a guess. Calibrated per finder on validation phantoms (seeds
    # 400/401, neither training nor benchmark data) by ``bench_levels.py --calibrate``.
    min_confidence: float = 0.3
    # Ladder models (classes named after vertebrae plus "disc"): plausible body height and disc gap in mm.
    body_mm: tuple[float, float] = (16.0, 40.0)
    disc_mm: float = 16.0
    # A protocol level taken from the centroid of a segmented structure instead of the slab edge
    # (protocol, structure class), and the least volume (mm³) that counts as the structure being in view.
    anchor: tuple[str, str] | None = None
    anchor_min_mm3: float = 0.0
    anchor_component_mm3: tuple[float, float] = (0.0, np.inf)  # plausible volume of one component (one globe)
    anchor_pair_mm: tuple[float, float, float] = (15.0, 35.0, 90.0)  # pair: max height difference, min/max apart sideways
    anchor_span: float = 0.0  # the other slab edge lies this many structure radii from the anchor
    # plausible radius (mm) of one component from its height spread (a sphere's z variance is r²/5): a strip
    # along a field-of-view edge or a slab-shaped false positive is far taller than a globe
    anchor_radius_mm: tuple[float, float] = (0.0, np.inf)

    def nominal_slab_slices(self, slice_mm: float) -> float:
        return self.thickness_mm[1] / slice_mm


# Thickness ranges come from the anatomy: the C3 section is 33 mm by definition (Naser 2022; fewer mm
# when the slice thickness does not divide it); adult L3 bodies are about 22–35 mm tall; the orbital
# roof lies about 12–25 mm above the globe centre.
LEVEL_SPECS: dict[str, LevelSpec] = {
    "c3_level": LevelSpec("c3_level", ("c3",), {"C3": 0.5}, "C3", (20.0, 33.0, 45.0),
                          truth={"C3": ("landmark", "C3_reference")}, min_confidence=0.32),
    "l3_level": LevelSpec("l3_level", ("l3",), {"L3": 0.5}, "L3", (12.0, 27.0, 45.0),
                          truth={"L3": ("level", "L3")}, adjacent=1, min_confidence=0.18),
    "orbit_level": LevelSpec("orbit_level", ("temporalis",),
                             {"superior_orbital_quarter": 0.5, "mid_orbit": 0.0, "orbital_roof": 1.0},
                             "superior_orbital_quarter", (6.0, 17.0, 35.0),
                             truth={"superior_orbital_quarter": ("landmark", "superior_orbital_quarter"),
                                    "mid_orbit": ("landmark", "mid_orbit"),
                                    "orbital_roof": ("landmark", "orbital_roof")},
                             # calibrated for the full-in-plane-resolution starter (val phantoms: in view
                             # >= 0.70, out of view <= 0.26)
                             min_confidence=0.48,
                             # both globes hold about 14 cm³ (two 12 mm spheres); a third of that is "present".
                             # The roof lies 1.36–1.40 globe radii above the globe centre in the phantom head
                             # model (16.8 mm at radius 12 mm; head tilt changes it by < 3 %): an assumption
                             # real MR data must confirm.
                             anchor=("mid_orbit", "globe"), anchor_min_mm3=4800.0,
                             anchor_component_mm3=(1500.0, 14000.0), anchor_span=1.4,
                             # adult globes are 10–14 mm in radius (phantom heads: 12 mm × 0.86–1.12);
                             # a face cut keeps the height spread, coarse grids blur it by about a voxel
                             anchor_radius_mm=(7.0, 18.0)),
}


def spec_for(preset: Preset | str) -> LevelSpec:
    """The finder for a muscle preset (``l3``) or a level preset (``l3_level``)."""
    name = preset if isinstance(preset, str) else preset.name
    if name in LEVEL_SPECS:
        return LEVEL_SPECS[name]
    for spec in LEVEL_SPECS.values():
        if name in spec.muscle_presets:
            return spec
    get_preset(name)  # an unknown name gets the list of valid presets
    raise InputError(f"preset {name!r} has no level finder (finders exist for "
                     f"{', '.join(p for s in LEVEL_SPECS.values() for p in s.muscle_presets)})", field="--preset")


def check_protocol(spec: LevelSpec, protocol: str | None) -> str:
    """The protocol to report as the primary level (default: the spec's)."""
    protocol = protocol or spec.default_protocol
    if protocol not in spec.protocols:
        raise InputError(f"unknown protocol {protocol!r} for {spec.level_preset}; choose from "
                         f"{', '.join(spec.protocols)}", field="--protocol")
    return protocol
