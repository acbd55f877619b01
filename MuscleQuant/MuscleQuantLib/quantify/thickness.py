"""Temporal muscle thickness (TMT) on one axial slice.

Definition used here: TMT of one side is the diameter of the largest disc that fits inside that
side's temporalis cross-section. The largest inscribed disc touches both the inner (skull) surface
and the outer (fascia) surface, so its diameter is the muscle's maximal thickness measured
perpendicular to the skull, which is how Furtner et al. (Neuro Oncol 2019) measure TMT by hand.
The patient value is the mean of the left and right sides, as in Furtner's papers.

Discretisation: the distance transform is computed on a mask upsampled ``UPSAMPLE`` times in-plane
(anisotropic spacing respected) and measured to the voxel edge, so the error is at most about a
quarter of a pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

UPSAMPLE = 4


@dataclass(frozen=True)
class Thickness:
    """Maximal thickness (mm) and where the inscribed disc is centred (fractional row, column)."""

    thickness_mm: float
    center_rc: tuple[float, float]


def max_inscribed_thickness(mask: np.ndarray, spacing_rc: tuple[float, float]) -> Thickness | None:
    """Diameter of the largest disc inside ``mask`` (2D), in mm; None for an empty mask."""
    if not mask.any():
        return None
    rows, cols = np.nonzero(mask)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    crop = np.pad(mask[r0:r1, c0:c1], 1)  # a background border so the transform sees the edge
    fine = np.repeat(np.repeat(crop, UPSAMPLE, axis=0), UPSAMPLE, axis=1)
    fine_spacing = (spacing_rc[0] / UPSAMPLE, spacing_rc[1] / UPSAMPLE)
    distance = ndimage.distance_transform_edt(fine, sampling=fine_spacing)
    peak = np.unravel_index(int(np.argmax(distance)), distance.shape)
    # The transform measures to the centre of the nearest background sub-pixel; the edge lies half a
    # sub-pixel closer along the axis of the nearest neighbour (the smaller spacing, conservatively).
    radius = float(distance[peak]) - 0.5 * min(fine_spacing)
    center = ((peak[0] + 0.5) / UPSAMPLE - 0.5 - 1 + r0, (peak[1] + 0.5) / UPSAMPLE - 0.5 - 1 + c0)
    return Thickness(2.0 * radius, (float(center[0]), float(center[1])))
