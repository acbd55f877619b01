"""Levels anchored on a structure the slab model also segments (the globes for the orbit finder).

A slab's edge is read off a soft boundary (where "slab" turns into "head below"); the centre of a
compact organ is far better defined — the mean centroid of the two globes sits within a fraction of a
voxel of the mid-orbit level, and their height (a sphere's z-spread does not change with head tilt)
scales the distance to the orbital roof. The structure also makes an explicit "present" decision: a
head scan that starts above the orbits has no pair of globes, whatever the slab profile says.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from .specs import LevelSpec

VOTE = 0.5  # a voxel belongs to the structure where its probability passes this


@dataclass
class Anchor:
    structure: str
    volume_mm3: float  # probability-weighted volume of the chosen components (all components when none fit)
    # mean component centroid on the network grid; None when no plausible pair is seen
    network_z: float | None
    radius_mm: float = 0.0  # sphere radius from the components' z-spread (variance = r²/5)
    confidence: float = 0.0  # mean probability inside the components × volume symmetry
    pieces_mm3: tuple[float, ...] = ()  # the two largest marked pieces (mm³), for the "not found" reason

    @property
    def present(self) -> bool:
        return self.network_z is not None


@dataclass
class _Component:
    volume: float  # mm³
    centre: np.ndarray  # (z, y, x) mm
    z_var: float  # mm²
    mean_p: float


def find_anchor(
    spec: LevelSpec, names: list[str], probabilities: np.ndarray, spacing: tuple[float, ...]
) -> Anchor | None:
    """The spec's anchor structure on the network grid (``probabilities`` (C, Z, Y, X), ``names`` the classes
    after background, ``spacing`` (x, y, z) mm); None when the spec has none or the model lacks the class.
    The two components that best form a left/right pair (plausible volumes, level with each other, apart
    sideways) are the structure; anything else the network marks is ignored."""
    if spec.anchor is None or spec.anchor[1] not in names or probabilities.shape[0] != len(names) + 1:
        return None
    from scipy import ndimage

    structure = spec.anchor[1]
    p = probabilities[names.index(structure) + 1]
    labels, n = ndimage.label(p >= VOTE)
    step = np.asarray(spacing, dtype=float)[::-1]  # (z, y, x) mm
    voxel = float(np.prod(step))
    components = []
    # each component measured inside its bounding box: an undertrained or noisy map marks hundreds of specks,
    # and whole-volume passes per component cost seconds (the same sums, over the box's voxels only)
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        inside = labels[box] == index
        weights = np.where(inside, p[box], 0.0)
        mass = float(weights.sum())
        offset = np.array([b.start for b in box], dtype=float)
        centre = (np.asarray(ndimage.center_of_mass(weights)) + offset) * step
        z = ((np.arange(weights.shape[0]) + offset[0]) * step[0])[:, None, None]
        z_var = float((weights * (z - centre[0]) ** 2).sum() / mass)
        components.append(_Component(mass * voxel, centre, z_var, mass / float(inside.sum())))
    low, high = spec.anchor_component_mm3
    r_low, r_high = spec.anchor_radius_mm
    plausible = [c for c in components if low <= c.volume <= high and r_low <= np.sqrt(5.0 * c.z_var) <= r_high]
    pairs = [
        (a, b)
        for a, b in combinations(plausible, 2)
        if abs(a.centre[0] - b.centre[0]) <= spec.anchor_pair_mm[0]
        and spec.anchor_pair_mm[1] <= abs(a.centre[2] - b.centre[2]) <= spec.anchor_pair_mm[2]
    ]
    largest = tuple(sorted((c.volume for c in components), reverse=True)[:2])
    if not pairs:
        return Anchor(structure, sum(c.volume for c in components), None, pieces_mm3=largest)
    a, b = max(pairs, key=lambda pair: pair[0].volume + pair[1].volume)
    volume = a.volume + b.volume
    if volume < spec.anchor_min_mm3:
        return Anchor(structure, volume, None, pieces_mm3=largest)
    radius = float(np.mean([np.sqrt(5.0 * c.z_var) for c in (a, b)]))
    confidence = (
        (a.mean_p * a.volume + b.mean_p * b.volume)
        / volume
        * min(a.volume, b.volume)
        / max(a.volume, b.volume)
    )
    return Anchor(
        structure, volume, (a.centre[0] + b.centre[0]) / 2 / step[0], radius, round(float(confidence), 3)
    )


def protocol_levels(spec: LevelSpec, low_edge: float, high_edge: float) -> dict[str, dict[str, float]]:
    """Every protocol level at its fraction between the two edges (network slices)."""
    return {
        level: {"network_z": low_edge + fraction * (high_edge - low_edge)}
        for level, fraction in spec.protocols.items()
    }


def anchored_edges(spec: LevelSpec, anchor: Anchor, slice_mm: float) -> tuple[float, float]:
    """(low, high) slab edges in network slices from the anchor alone: the anchored protocol's edge at the
    centroid, the other ``spec.anchor_span`` radii away (cranial when the anchor is the lower edge)."""
    reach = spec.anchor_span * anchor.radius_mm / slice_mm
    if spec.protocols[spec.anchor[0]] == 0.0:
        return anchor.network_z, anchor.network_z + reach
    return anchor.network_z - reach, anchor.network_z
