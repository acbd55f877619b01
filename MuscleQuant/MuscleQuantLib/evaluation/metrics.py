"""Per-label agreement of a predicted with a reference label map (SPEC 6), distances in millimetres.

Overlap metrics (Dice, Jaccard, precision, recall) come from one set of integer voxel counts so they
are exactly consistent with each other; surface distances come from MONAI
(``compute_hausdorff_distance`` and ``compute_average_surface_distance``) with the voxel spacing, so
anisotropic voxels are measured in mm, not in voxels.

Conventions (:data:`CONVENTIONS` writes them into every ``metrics.json``):

* ``spacing`` is given per array axis, in array order. SimpleITK arrays are (z, y, x), so that is the
  reverse of ``image.GetSpacing()``; :func:`array_spacing` does the reversal in one place.
* Surfaces are the mask voxels with a face neighbour outside the mask (MONAI's binary-erosion edges);
  distances are between voxel centres.
* HD95 is MONAI's: the larger of the two directed 95th percentiles (linear interpolation).
* ASSD is the mean of the pooled distances of both directions (prediction→reference and back).
* Both masks empty: every metric is undefined (null) with status ``both_empty``. Dice is not scored 1,
  because averaging 1 for an absent label would inflate a mean Dice (MONAI's ``ignore_empty`` gives NaN).
* One mask empty: Dice = Jaccard = 0; the 0/0 ratio (precision without prediction, recall without
  reference) and all distances are null with a note; RVD is −100 % without prediction and null
  without reference.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

ALL_LABELS_NAME = "all_muscle"  # the union of the evaluated labels, one extra row per case

STATUS_OK = "ok"
STATUS_BOTH_EMPTY = "both_empty"
STATUS_PREDICTION_EMPTY = "prediction_empty"
STATUS_REFERENCE_EMPTY = "reference_empty"

CONVENTIONS: dict[str, str] = {
    "units": "distances in mm with the image spacing applied per axis; sizes in mm3 (volume) or mm2 (slice)",
    "surface": "mask voxels with a face neighbour outside the mask (MONAI's edges); distances between "
    "voxel centres",
    "hausdorff95_mm": "MONAI's HD95: the larger of the two directed 95th percentiles (linear interpolation)",
    "assd_mm": "mean of the pooled surface distances of both directions",
    "both_empty": "label absent from both maps: every metric null (Dice is not scored 1, which would "
    "inflate mean Dice; MONAI's ignore_empty also gives NaN)",
    "prediction_empty": "Dice = Jaccard = recall = 0, RVD = -100 %, precision and distances null",
    "reference_empty": "Dice = Jaccard = precision = 0, recall, RVD and distances null",
    "union_row": f"label_name {ALL_LABELS_NAME}: any evaluated label in prediction vs reference",
}

# Metrics summarised over cases, with their units (used by the cohort and the column dictionary).
METRIC_UNITS: dict[str, str] = {
    "dice": "ratio 0..1",
    "jaccard": "ratio 0..1",
    "precision": "ratio 0..1",
    "recall": "ratio 0..1",
    "hausdorff_mm": "mm",
    "hausdorff95_mm": "mm",
    "assd_mm": "mm",
    "relative_volume_difference_percent": "% of reference (signed)",
}


@dataclass(frozen=True)
class LabelMetrics:
    """Agreement of one label (or the union of labels); ``None`` where a value is undefined."""

    status: str
    pred_voxels: int
    ref_voxels: int
    overlap_voxels: int
    pred_size: float  # mm³ for volumes, mm² for one slice
    ref_size: float
    dice: float | None
    jaccard: float | None
    precision: float | None
    recall: float | None
    hausdorff_mm: float | None
    hausdorff95_mm: float | None
    assd_mm: float | None
    relative_volume_difference_percent: float | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def array_spacing(itk_spacing: Sequence[float], ndim: int = 3) -> tuple[float, ...]:
    """Spacing per array axis from SimpleITK's (x, y, z) spacing: reversed, last ``ndim`` axes kept."""
    reversed_spacing = tuple(float(s) for s in reversed(tuple(itk_spacing)))
    return reversed_spacing[len(reversed_spacing) - ndim:]


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _validated_spacing(spacing: Sequence[float], ndim: int) -> list[float]:
    values = [float(s) for s in spacing]
    if len(values) != ndim:
        raise ValueError(f"spacing has {len(values)} values for a {ndim}D array (give one per array axis)")
    if not all(math.isfinite(s) and s > 0 for s in values):
        raise ValueError(f"spacing must be positive and finite, got {values}")
    return values


def surface_distances_mm(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float]) -> tuple[float, float, float]:
    """(HD, HD95, ASSD) in mm of two non-empty boolean masks, by MONAI's metric functions."""
    import torch
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance

    spacing_list = _validated_spacing(spacing, pred.ndim)
    union_box = ndimage.find_objects((pred | ref).astype(np.uint8))[0]
    # Cropping to the union is exact: outside it both masks are background, and MONAI's own erosion
    # treats the array border as background too. It keeps large volumes fast.
    y_pred = torch.from_numpy(np.ascontiguousarray(pred[union_box]))[None, None].float()
    y_ref = torch.from_numpy(np.ascontiguousarray(ref[union_box]))[None, None].float()
    previous_threads = torch.get_num_threads()
    # One thread: the crops are small, and on a busy machine torch's thread pool made each call ~10x slower.
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings():
            # MONAI warns about empty masks (cannot occur here) and about its own deprecated internals.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", FutureWarning)
            hd = compute_hausdorff_distance(y_pred, y_ref, include_background=True, spacing=spacing_list)
            hd95 = compute_hausdorff_distance(y_pred, y_ref, include_background=True, percentile=95,
                                              spacing=spacing_list)
            assd = compute_average_surface_distance(y_pred, y_ref, include_background=True, symmetric=True,
                                                    spacing=spacing_list)
    finally:
        torch.set_num_threads(previous_threads)
    return float(hd.item()), float(hd95.item()), float(assd.item())


def compare_masks(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float]) -> LabelMetrics:
    """Every SPEC 6 per-label metric for two boolean masks on the same grid.

    ``spacing`` is in mm per array axis (array order); sizes are voxel counts times the voxel's
    volume (3D) or area (2D).
    """
    pred = np.asarray(pred, dtype=bool)
    ref = np.asarray(ref, dtype=bool)
    if pred.shape != ref.shape:
        raise ValueError(f"masks differ in shape: {pred.shape} and {ref.shape}")
    voxel_size = float(np.prod(_validated_spacing(spacing, pred.ndim)))
    n_pred, n_ref = int(np.count_nonzero(pred)), int(np.count_nonzero(ref))
    overlap = int(np.count_nonzero(pred & ref))
    sizes = {"pred_voxels": n_pred, "ref_voxels": n_ref, "overlap_voxels": overlap,
             "pred_size": n_pred * voxel_size, "ref_size": n_ref * voxel_size}
    no_distances = {"hausdorff_mm": None, "hausdorff95_mm": None, "assd_mm": None}
    if n_pred == 0 and n_ref == 0:
        return LabelMetrics(STATUS_BOTH_EMPTY, **sizes, dice=None, jaccard=None, precision=None, recall=None,
                            **no_distances, relative_volume_difference_percent=None,
                            note="absent from prediction and reference: every metric undefined (0/0)")
    if n_pred == 0:
        return LabelMetrics(STATUS_PREDICTION_EMPTY, **sizes, dice=0.0, jaccard=0.0, precision=None, recall=0.0,
                            **no_distances, relative_volume_difference_percent=-100.0,
                            note="prediction empty: precision undefined (nothing predicted), "
                            "no predicted surface to measure distances from")
    if n_ref == 0:
        return LabelMetrics(STATUS_REFERENCE_EMPTY, **sizes, dice=0.0, jaccard=0.0, precision=0.0, recall=None,
                            **no_distances, relative_volume_difference_percent=None,
                            note="reference empty: recall and relative volume difference undefined, "
                            "no reference surface to measure distances to")
    hd, hd95, assd = surface_distances_mm(pred, ref, spacing)
    return LabelMetrics(
        STATUS_OK, **sizes,
        dice=2.0 * overlap / (n_pred + n_ref),
        jaccard=overlap / (n_pred + n_ref - overlap),
        precision=_ratio(overlap, n_pred),
        recall=_ratio(overlap, n_ref),
        hausdorff_mm=hd, hausdorff95_mm=hd95, assd_mm=assd,
        relative_volume_difference_percent=100.0 * (n_pred - n_ref) / n_ref,
    )


def present_labels(*arrays: np.ndarray) -> list[int]:
    """The non-zero label values found in any of ``arrays``, ascending."""
    found: set[int] = set()
    for array in arrays:
        found.update(int(v) for v in np.unique(array) if v != 0)
    return sorted(found)


def evaluate_label_maps(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float],
                        labels: Sequence[int] | None = None,
                        include_union: bool = True,
                        union_of: Sequence[int] | None = None) -> list[tuple[int | None, LabelMetrics]]:
    """Metrics per label value (default: every value present in either map), then the union row.

    The union row (value ``None``) compares "any of ``union_of``" (default: the evaluated labels) in
    both maps — all muscle when those are the muscles; it is left out when it would cover fewer than
    two labels.
    """
    pred = np.asarray(pred)
    ref = np.asarray(ref)
    if pred.shape != ref.shape:
        raise ValueError(f"label maps differ in shape: {pred.shape} and {ref.shape}")
    values = sorted({int(v) for v in labels}) if labels is not None else present_labels(pred, ref)
    boxes = _label_boxes(pred, ref, values)
    results: list[tuple[int | None, LabelMetrics]] = []
    for value in values:
        box = boxes.get(value)
        if box is None:  # absent from both: an empty comparison, no need to touch the arrays
            empty = np.zeros((1,) * pred.ndim, dtype=bool)
            results.append((value, compare_masks(empty, empty, spacing)))
            continue
        results.append((value, compare_masks(pred[box] == value, ref[box] == value, spacing)))
    union = sorted({int(v) for v in union_of}) if union_of is not None else values
    if include_union and len(union) >= 2:
        results.append((None, compare_masks(np.isin(pred, union), np.isin(ref, union), spacing)))
    return results


def _label_boxes(pred: np.ndarray, ref: np.ndarray, values: Sequence[int]) -> dict[int, tuple[slice, ...]]:
    """Bounding box of each label over both maps (one pass per map), so masks are built on small crops."""
    wanted = set(values)
    boxes: dict[int, tuple[slice, ...]] = {}
    for array in (pred, ref):
        if array.size == 0 or not wanted or int(array.max()) <= 0:
            continue
        clipped = np.where(np.isin(array, list(wanted)), array, 0).astype(np.int64)
        for index, box in enumerate(ndimage.find_objects(clipped), start=1):
            if box is None:
                continue
            old = boxes.get(index)
            boxes[index] = box if old is None else tuple(
                slice(min(a.start, b.start), max(a.stop, b.stop)) for a, b in zip(old, box, strict=True))
    return boxes
