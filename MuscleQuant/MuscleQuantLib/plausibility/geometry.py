"""Where things are on a slice: the body outline, the spine, and a body-relative frame.

Positions are judged in a frame that travels with the patient rather than in millimetres, so thin
and obese patients, children and large men are compared on the same terms: ``lateral`` is the
distance from the origin towards either side in units of the body's half-width, ``posterior`` the
distance towards the back in units of the body's front-to-back depth. The origin is the spine
(CT, where bone is visible) or the centre of the body outline (MR, or no spine found).
Arrays are canonical (``pipeline.geometry.to_canonical``): x towards the patient's left, y posterior.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..pipeline.intensity import fill_holes_per_slice
from ..pipeline.postprocess import largest_component

CT_BODY_HU = -500.0  # air/body boundary (SPEC 2.2 body mask)
CT_BONE_HU = 120.0  # an osteopenic vertebra at 3 mm is ~120-250 HU (real L2 here: mean 187); muscle stays below ~100
MR_BODY_FRACTION = 0.15  # MR body: above this fraction of the slice's 99th percentile (quantify.labels)
MIN_SPINE_MM2 = 150.0  # a lumbar or cervical vertebra's cross-section is several cm²; ribs are smaller


@dataclass(frozen=True)
class SliceFrame:
    """The body outline of one slice and the frame positions are measured in."""

    body: np.ndarray  # bool (ny, nx)
    pixel_mm2: float
    origin_yx: tuple[float, float]  # voxel coordinates of the origin (spine or body centre)
    half_width: float  # voxels: half the body's left-right extent
    depth: float  # voxels: the body's front-to-back extent
    origin: str  # "spine" or "body"
    midline_x: float  # voxels: the body centre left-right, where sides are split (as segment/quantify do)

    @property
    def body_mm2(self) -> float:
        return float(self.body.sum()) * self.pixel_mm2

    def coordinates(self, y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lateral, posterior) of voxels (y, x): |x − origin| / half-width, (y − origin) / depth."""
        return np.abs(x - self.origin_yx[1]) / self.half_width, (y - self.origin_yx[0]) / self.depth


def body_mask(values: np.ndarray, modality: str) -> np.ndarray:
    """The patient's cross-section (or volume): largest region above the air threshold, holes filled."""
    if modality == "CT":
        mask = values > CT_BODY_HU
    else:
        high = float(np.percentile(values, 99)) if values.size else 0.0
        mask = values > MR_BODY_FRACTION * high if high > 0 else np.zeros(values.shape, bool)
    if mask.ndim == 2:
        return ndimage.binary_fill_holes(largest_component(mask))
    # A volume may hold two legs: keep every large region (a tenth of the largest), not only the largest.
    regions, count = ndimage.label(mask)
    if count > 1:
        sizes = np.bincount(regions.ravel())
        sizes[0] = 0
        mask = (sizes >= 0.1 * sizes.max())[regions]  # a lookup, as np.isin on the kept labels gave
    del regions
    return fill_holes_per_slice(mask, out=mask)  # binary_fill_holes per slice, in one labelling per chunk


def find_spine(values: np.ndarray, body: np.ndarray, pixel_mm2: float) -> np.ndarray | None:
    """The vertebra on a CT slice: the largest bone region near the left-right centre of the body and
    not in its front third (ribs, pelvis and calcified vessels are lateral or anterior). None if absent."""
    bone = ndimage.binary_closing((values > CT_BONE_HU) & body, iterations=1)
    regions, count = ndimage.label(bone)
    if not count:
        return None
    ys, xs = np.nonzero(body)
    cx, width = xs.mean(), xs.max() - xs.min() + 1
    front, depth = ys.min(), ys.max() - ys.min() + 1
    best, best_size = None, MIN_SPINE_MM2 / pixel_mm2
    for index, sl in enumerate(ndimage.find_objects(regions), start=1):
        component = regions[sl] == index
        size = component.sum()
        if size < best_size:
            continue
        cy_c, cx_c = (np.mean(v) + s.start for v, s in zip(np.nonzero(component), sl, strict=True))
        if abs(cx_c - cx) < 0.15 * width and cy_c > front + depth / 3:
            best, best_size = index, size
    return None if best is None else regions == best


def slice_frame(values: np.ndarray | None, labels: np.ndarray, modality: str, spacing_xy: tuple[float, float],
                use_spine: bool) -> SliceFrame:
    """Body outline and frame of one canonical slice. Without an image the labels' own extent stands in
    for the body (positions then only compare labels with each other)."""
    pixel_mm2 = spacing_xy[0] * spacing_xy[1]
    body = body_mask(values, modality) if values is not None else ndimage.binary_fill_holes(labels > 0)
    if not body.any():
        body = labels > 0
    ys, xs = np.nonzero(body)
    half_width = max((xs.max() - xs.min() + 1) / 2, 1.0)
    depth = max(ys.max() - ys.min() + 1, 1.0)
    origin: tuple[float, float] = (float(ys.mean()), float(xs.mean()))
    kind = "body"
    if use_spine and values is not None and modality == "CT":
        spine = find_spine(values, body, pixel_mm2)
        if spine is not None:
            # Front-to-back from the vertebra; left-right from the body centre, which the vertebra sits on
            # and which a partly visible (osteopenic, thick-slice) vertebra would pull sideways.
            origin, kind = (float(np.nonzero(spine)[0].mean()), origin[1]), "spine"
    return SliceFrame(body, pixel_mm2, origin, float(half_width), float(depth), kind, float(xs.mean()))
