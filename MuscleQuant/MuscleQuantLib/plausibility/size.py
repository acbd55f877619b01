"""Size checks: each label's area (2D) or volume (3D) against published ranges and against body size,
all muscle together, and left against right. Checks return None where quiet.

Area alone misses a small patient with a large label and vice versa, so it is judged twice: in mm²
against the range seen in adults, and as a share of the body cross-section (thin to obese). For 3D
presets the field of view decides how much of each muscle is scanned, so a muscle is judged as a share
of all labelled muscle instead.
"""

from __future__ import annotations

from .context import Context
from .flags import Flag, flag_if


def label_sizes(ctx: Context) -> list[Flag | None]:
    flags: list[Flag | None] = []
    body = float(ctx.body.sum()) * ctx.voxel
    muscle = sum(ctx.size(r) for r in ctx.muscle_regions())
    for region in ctx.muscle_regions():
        size, spec = ctx.size(region), region.spec
        per = " per side" if region.side else ""
        if size == 0:
            flags.append(Flag("area" if ctx.ranges.spatial_dims == 2 else "volume", region.name, 0.0,
                              list(spec.size.warn) if spec.size else [None, None],
                              f"{region.name} is absent: the model found none of this label", "warning", ctx.unit))
            continue
        if spec.size:
            check = "area" if ctx.ranges.spatial_dims == 2 else "volume"
            flag = flag_if(check, region.name, size, spec.size,
                           f"{ctx.size_word} of {region.name} outside the range seen in adults{per}", ctx.unit)
            flags.append(flag)
        if spec.fraction:
            if ctx.ranges.spatial_dims == 2:
                share, what = (size / body if body else float("nan")), "body cross-section"
            else:
                share, what = (size / muscle if muscle else float("nan")), "all labelled muscle"
            flag = flag_if("area_fraction" if ctx.ranges.spatial_dims == 2 else "volume_fraction", region.name,
                           share, spec.fraction, f"{region.name} is an implausible share of the {what}{per}", "fraction")
            flags.append(flag)
    return flags


def total_muscle(ctx: Context) -> list[Flag | None]:
    """All muscle together (run only when the map declares every muscle label of the preset)."""
    flags: list[Flag | None] = []
    total = sum(ctx.size(r) for r in ctx.muscle_regions())
    body = float(ctx.body.sum()) * ctx.voxel
    if ctx.ranges.total_size:
        flag = flag_if("total_area" if ctx.ranges.spatial_dims == 2 else "total_volume", "all_muscle", total,
                       ctx.ranges.total_size, f"total muscle {ctx.size_word} outside the range seen in adults", ctx.unit)
        flags.append(flag)
    if ctx.ranges.total_fraction and body:
        flag = flag_if("total_fraction", "all_muscle", total / body, ctx.ranges.total_fraction,
                       "all muscle is an implausible share of the body", "fraction")
        flags.append(flag)
    return flags


def symmetry(ctx: Context) -> list[Flag | None]:
    """Paired muscles: the smaller side against the larger (both present; an absent side is an area flag)."""
    if not ctx.ranges.symmetry:
        return []
    sides: dict[str, dict[str, float]] = {}
    for region in ctx.muscle_regions():
        if region.side:
            sides.setdefault(region.spec.name, {})[region.side] = ctx.size(region)
    flags: list[Flag | None] = []
    for name, by_side in sides.items():
        left, right = by_side.get("left", 0.0), by_side.get("right", 0.0)
        if left and right and abs(left - right) > ctx.ranges.symmetry_min_difference:
            ratio = min(left, right) / max(left, right)
            smaller = "left" if left < right else "right"
            flag = flag_if("symmetry", name, ratio, ctx.ranges.symmetry,
                           f"{name}: the {smaller} side is {ratio:.0%} of the other ({left:.0f} vs {right:.0f} "
                           f"{ctx.unit} left/right); muscles are near-symmetric unless one side is diseased", "ratio")
            flags.append(flag)
    return flags
