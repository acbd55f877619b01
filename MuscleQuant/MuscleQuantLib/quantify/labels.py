"""Label names and body sides.

Sides are decided in physical space, never from array order: a voxel's LPS x coordinate (through
the direction matrix) is compared with the body midline, so RAS-stored, feet-first and oblique
images give the same side. Names ending in ``_left``/``_right`` (or starting ``left_``/``right_``)
are already sided and keep their side; a disagreement with the geometry becomes a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from ..pipeline.postprocess import largest_component
from .presets import NON_MUSCLE_NAMES, PSOAS_NAMES

SIDES = ("left", "right")
BODY_THRESHOLD_HU = -500.0  # air/body boundary for CT body masks
MR_BODY_FRACTION = 0.15  # MR body mask: above this fraction of the 99th percentile


@dataclass(frozen=True)
class LabelInfo:
    """One label of the map: its value, a column-safe name, and (if the name says so) its side."""

    label_id: int
    name: str  # normalised, unique within the case, safe in CSV column names
    base: str  # name without the side
    side: str | None  # "left"/"right" when the name is sided, else None (split by geometry)

    @property
    def is_psoas(self) -> bool:
        return self.base in PSOAS_NAMES

    @property
    def is_muscle(self) -> bool:
        return self.base not in NON_MUSCLE_NAMES and not self.base.startswith(("vertebra", "bone"))


def normalise_name(name: str) -> str:
    """'Psoas major (Left)' -> 'psoas_major_left': lower case, runs of other characters become '_'."""
    text = re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")
    return text or "unnamed"


def split_side(name: str) -> tuple[str, str | None]:
    """('psoas_major', 'left') for 'psoas_major_left' or 'left_psoas_major'; (name, None) if unsided."""
    for side in SIDES:
        for short in (side, side[0]):
            if name.endswith(f"_{short}") and len(name) > len(short) + 1:
                return name[: -len(short) - 1], side
        if name.startswith(f"{side}_"):
            return name[len(side) + 1:], side
    return name, None


def label_infos(label_ids: list[int], names: dict[int, str]) -> list[LabelInfo]:
    """Describe the labels present; unnamed labels become 'label_<id>', duplicate names get the id."""
    infos: list[LabelInfo] = []
    seen: set[str] = set()
    for label_id in sorted(label_ids):
        name = normalise_name(names[label_id]) if label_id in names else f"label_{label_id}"
        if name in seen:
            name = f"{name}_{label_id}"
        seen.add(name)
        base, side = split_side(name)
        infos.append(LabelInfo(label_id, name, base, side))
    return infos


def slice_lps_x(image: sitk.Image, k: int) -> np.ndarray:
    """Physical LPS x (mm, + = patient's left) of every voxel of stored slice ``k``, shape (ny, nx)."""
    nx, ny, _ = image.GetSize()
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    sx, sy, sz = image.GetSpacing()
    ox = image.GetOrigin()[0]
    i = np.arange(nx, dtype=float)[None, :]
    j = np.arange(ny, dtype=float)[:, None]
    return ox + direction[0, 0] * sx * i + direction[0, 1] * sy * j + direction[0, 2] * sz * k


def body_mask(slice_values: np.ndarray, modality: str) -> np.ndarray:
    """The largest connected region above the air threshold: the patient's cross-section."""
    if modality == "CT":
        mask = slice_values > BODY_THRESHOLD_HU
    else:
        high = float(np.percentile(slice_values, 99)) if slice_values.size else 0.0
        mask = slice_values > MR_BODY_FRACTION * high if high > 0 else np.zeros_like(slice_values, bool)
    return largest_component(mask)


def midline_x(lps_x: np.ndarray, slice_values: np.ndarray | None, muscle: np.ndarray, modality: str,
              override_mm: float | None = None) -> tuple[float | None, str]:
    """LPS x of the body midline on one slice, and how it was found.

    The centroid of the body cross-section is used (robust to one-sided or asymmetric muscle);
    without an image, or with no body found, the centroid of the muscle labels is the fallback.
    """
    if override_mm is not None:
        return float(override_mm), "given (--midline-mm)"
    if slice_values is not None:
        body = body_mask(slice_values, modality)
        if body.any():
            return float(lps_x[body].mean()), "centroid of the body cross-section"
    if muscle.any():
        return float(lps_x[muscle].mean()), "centroid of the muscle labels (no body outline found)"
    return None, "no body or muscle on this slice"


def left_of_midline(lps_x: np.ndarray, midline: float | None) -> np.ndarray:
    """Boolean map: True where the voxel lies on the patient's left (LPS x greater than the midline)."""
    if midline is None:
        return np.zeros(lps_x.shape, dtype=bool)
    return lps_x > midline
