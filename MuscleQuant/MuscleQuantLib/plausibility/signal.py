"""Signal check: is what was labelled muscle-like tissue?

CT: the mean HU of every labelled voxel. Muscle is about 30-60 HU (lower with fatty infiltration,
higher with contrast); a label that is mostly fat, air, bone or contrast-filled vessel or bowel lands far
outside. The check uses all labelled voxels, not only those inside the muscle HU window, so a manual
outline that holds fat is caught too.
MR has no absolute scale: the median signal is placed between the background (air outside the body, 0)
and the bright end of the body (99th percentile: fat and enhancing tissue on T1, 1); muscle is dark to
intermediate on T1.
"""

from __future__ import annotations

import numpy as np

from .context import Context
from .flags import Flag, flag_if

BRIGHT_PERCENTILE = 99.0


def intensity(ctx: Context) -> list[Flag | None]:
    rng = ctx.ranges.intensity
    if rng is None or ctx.values is None:
        return []
    flags: list[Flag | None] = []
    if ctx.modality == "CT":
        for region in ctx.regions:
            if region.spec.muscle and region.any():
                mean = float(region.take(ctx.values).mean(dtype=np.float64))
                flags.append(flag_if("intensity", region.name, mean, rng,
                                     f"mean {mean:.0f} HU of {region.name} is not muscle attenuation", "HU"))
        return flags
    outside = ctx.values[~ctx.body]
    background = float(np.median(outside)) if outside.size else 0.0
    bright = float(np.percentile(ctx.values[ctx.body], BRIGHT_PERCENTILE)) if ctx.body.any() else 0.0
    if bright <= background:
        return []
    for region in ctx.regions:
        if region.spec.muscle and region.any():
            relative = (float(np.median(region.take(ctx.values))) - background) / (bright - background)
            flags.append(flag_if("intensity", region.name, relative, rng,
                                 f"median signal of {region.name} is {relative:.2f} of the way from background to the "
                                 "brightest body tissue; muscle is dark to intermediate on T1", "relative"))
    return flags
