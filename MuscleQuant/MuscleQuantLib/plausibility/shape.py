"""Shape checks: how many pieces a label falls into, and where it lies relative to the body outline
and the spine.

A muscle group on one side is one or a few pieces; a network that labels bowel loops, kidney and liver
as psoas produces many pieces far from the vertebra. Position is judged in the body frame of
``geometry`` (lateral in body half-widths, posterior in body depths, from the spine on CT).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .context import Context
from .flags import Flag, flag_if


def components(ctx: Context) -> list[Flag | None]:
    """Pieces of at least the preset's smallest island and a share of the label (thin layers on coarse
    voxels crumble into slivers; a label that swallowed organs has several large pieces)."""
    flags: list[Flag | None] = []
    structure = ndimage.generate_binary_structure(ctx.body.ndim, ctx.body.ndim)  # 8-/26-connected
    share = ctx.ranges.min_component_share
    for region in ctx.regions:
        if not region.spec.max_components or not region.any():
            continue
        pieces, count = ndimage.label(region.mask, structure)
        sizes = np.bincount(pieces.ravel())[1:]
        minimum = max(ctx.ranges.min_component / ctx.voxel, share * sizes.sum(), 1.0)
        n = int((sizes >= minimum).sum())
        flags.append(flag_if("components", region.name, n, region.spec.max_components,
                             f"{region.name} falls into {n} separate pieces of at least {minimum * ctx.voxel:.0f} "
                             f"{ctx.unit} ({share:.0%} of the label); one muscle group per side is one or a few "
                             "pieces", "count"))
    return flags


def position(ctx: Context) -> list[Flag | None]:
    """Share of each label outside its expected zone (2D presets with zones)."""
    if ctx.frame is None:
        return []
    flags: list[Flag | None] = []
    frame = ctx.frame
    for region in ctx.regions:
        zone = region.spec.zone
        if zone is None or not region.any():
            continue
        lateral, posterior = frame.coordinates(*region.indices())
        inside = ((lateral >= zone.lateral[0]) & (lateral <= zone.lateral[1])
                  & (posterior >= zone.posterior[0]) & (posterior <= zone.posterior[1]))
        outside = 1.0 - float(inside.mean())
        back = float(np.median(posterior))
        where = (f"{np.median(lateral):.2f} body half-widths from the midline and {abs(back):.2f} body depths "
                 f"{'behind' if back >= 0 else 'in front of'} the {frame.origin}")
        flags.append(flag_if("position", region.name, outside, zone.outside,
                             f"{outside:.0%} of {region.name} lies outside where it belongs ({zone.where}); "
                             f"its median voxel is {where}", "fraction"))
    return flags
