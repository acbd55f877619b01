"""Position of 3D-preset muscles relative to a bone (thigh: the femur of the same side).

The thigh's compartments are defined by the femur: the quadriceps lie in front of it, the hamstrings
behind, the adductors medial, the vastus lateralis and the small gluteals lateral. On every slice where a
muscle and its side's femur both appear, the muscle's centre is compared with the femur's; the share of
slices where a muscle lies on the wrong side by more than a margin is the value judged.
"""

from __future__ import annotations

import numpy as np

from .context import Context
from .flags import Flag, flag_if


def _offsets(direction: str, muscle: tuple[float, float], bone: tuple[float, float], midline: float,
             spacing_yx: tuple[float, float]) -> float:
    """How far (mm) the muscle centre lies in ``direction`` from the bone centre (negative: the other way).
    Canonical arrays: y grows posterior, x grows to the patient's left."""
    (my, mx), (by, bx) = muscle, bone
    if direction == "anterior":
        return (by - my) * spacing_yx[0]
    if direction == "posterior":
        return (my - by) * spacing_yx[0]
    medial = (abs(bx - midline) - abs(mx - midline)) * spacing_yx[1]
    return medial if direction == "medial" else -medial


def bone_position(ctx: Context) -> list[Flag | None]:
    rules = ctx.ranges.bone_position
    if rules is None or ctx.ranges.spatial_dims != 3:
        return []
    regions = {r.name: r for r in ctx.regions}
    flags: list[Flag | None] = []
    for region in ctx.muscle_regions():
        where = region.spec.relative_to_bone
        bone = regions.get(f"{rules.bone}_{region.side}") if region.side else None
        if not where or bone is None:
            continue
        slices = np.nonzero(region.mask.any(axis=(1, 2)) & bone.mask.any(axis=(1, 2)))[0]
        if not slices.size:
            continue
        wrong = 0
        for z in slices:
            muscle_c = tuple(float(v.mean()) for v in np.nonzero(region.mask[z]))
            bone_c = tuple(float(v.mean()) for v in np.nonzero(bone.mask[z]))
            if any(_offsets(d, muscle_c, bone_c, ctx.midline_x, ctx.spacing_yx) < -rules.margin_mm for d in where):
                wrong += 1
        share = wrong / slices.size
        flags.append(flag_if("position", region.name, share, rules.outside,
                             f"on {share:.0%} of the {slices.size} slices it shares with the {rules.bone}, "
                             f"{region.name} is not {' and '.join(where)} to it (margin {rules.margin_mm:g} mm)",
                             "fraction"))
    return flags
