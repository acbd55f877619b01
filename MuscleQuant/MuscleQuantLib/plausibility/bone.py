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
from .regions import Region


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


def _slice_centres(region: Region) -> dict[int, tuple[float, float]]:
    """Centre (y, x) of the region on every slice it touches, in whole-volume voxel coordinates."""
    z0, y0, x0 = (s.start for s in region.box)
    centres = {}
    for dz in np.nonzero(region.mask.any(axis=(1, 2)))[0]:
        ys, xs = np.nonzero(region.mask[dz])
        centres[int(dz) + z0] = (float(ys.mean()) + y0, float(xs.mean()) + x0)
    return centres


def bone_position(ctx: Context) -> list[Flag | None]:
    rules = ctx.ranges.bone_position
    if rules is None or ctx.ranges.spatial_dims != 3:
        return []
    regions = {r.name: r for r in ctx.regions}
    bones = {side: _slice_centres(regions[f"{rules.bone}_{side}"]) for side in ("left", "right")
             if f"{rules.bone}_{side}" in regions}
    flags: list[Flag | None] = []
    for region in ctx.muscle_regions():
        where = region.spec.relative_to_bone
        bone = bones.get(region.side or "")
        if not where or not bone or not region.any():
            continue
        muscle = _slice_centres(region)
        shared = sorted(set(muscle) & set(bone))
        if not shared:
            continue
        wrong = sum(any(_offsets(d, muscle[z], bone[z], ctx.midline_x, ctx.spacing_yx) < -rules.margin_mm
                        for d in where) for z in shared)
        share = wrong / len(shared)
        flags.append(flag_if("position", region.name, share, rules.outside,
                             f"on {share:.0%} of the {len(shared)} slices it shares with the {rules.bone}, "
                             f"{region.name} is not {' and '.join(where)} to it (margin {rules.margin_mm:g} mm)",
                             "fraction"))
    return flags
