"""Per-label segmentation metrics (evaluation.metrics) against hand-computed values in mm."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.metrics import compute_dice
from scipy import ndimage

from MuscleQuantLib.evaluation.metrics import (
    STATUS_BOTH_EMPTY,
    STATUS_PREDICTION_EMPTY,
    STATUS_REFERENCE_EMPTY,
    array_spacing,
    compare_masks,
    evaluate_label_maps,
)


def _rectangles() -> tuple[np.ndarray, np.ndarray]:
    """Reference 4 rows × 10 columns; prediction 4 × 12, starting 2 columns further right.

    With spacing (row 5 mm, column 1 mm) every nearest surface point lies along the row, so the
    distances can be listed by hand (see test_rectangles_offset_anisotropic).
    """
    ref = np.zeros((12, 30), dtype=bool)
    pred = np.zeros_like(ref)
    ref[3:7, 5:15] = True
    pred[3:7, 7:19] = True
    return pred, ref


def test_rectangles_offset_anisotropic():
    pred, ref = _rectangles()
    m = compare_masks(pred, ref, spacing=(5.0, 1.0))
    # |P| = 48, |R| = 40, overlap 4 rows × 8 columns = 32.
    assert (m.pred_voxels, m.ref_voxels, m.overlap_voxels) == (48, 40, 32)
    assert m.dice == pytest.approx(64 / 88)
    assert m.jaccard == pytest.approx(32 / 56)
    assert m.precision == pytest.approx(32 / 48)
    assert m.recall == pytest.approx(32 / 40)
    assert m.relative_volume_difference_percent == pytest.approx(20.0)
    assert m.pred_size == pytest.approx(48 * 5.0) and m.ref_size == pytest.approx(40 * 5.0)  # mm²
    # Surface distances (mm). Prediction → reference, 28 surface voxels: 16 shared (0), top and bottom
    # rows overhang by 1, 2, 3, 4 columns, left inner column 2 (×2), right inner column 4 (×2): sum 32.
    # Reference → prediction, 24 voxels: 16 shared, overhang 2, 1 (top and bottom), left inner 2 (×2),
    # right inner column lies inside the prediction, 4 from its right edge (×2): sum 18.
    assert m.hausdorff_mm == pytest.approx(4.0)
    assert m.hausdorff95_mm == pytest.approx(4.0)  # directed 95th percentiles 4.0 and 3.7 → max
    assert m.assd_mm == pytest.approx((32 + 18) / (28 + 24), rel=1e-6)
    assert m.status == "ok" and m.note == ""


def test_spacing_scales_the_axis_it_belongs_to():
    """A shift along columns is measured with the column spacing, never the row spacing."""
    ref = np.zeros((20, 20), dtype=bool)
    ref[5:15, 5:15] = True
    along_columns = np.roll(ref, 3, axis=1)
    along_rows = np.roll(ref, 3, axis=0)
    assert compare_masks(along_columns, ref, (0.5, 2.0)).hausdorff_mm == pytest.approx(6.0)
    assert compare_masks(along_rows, ref, (0.5, 2.0)).hausdorff_mm == pytest.approx(1.5)
    assert compare_masks(along_columns, ref, (2.0, 0.5)).hausdorff_mm == pytest.approx(1.5)
    # array_spacing turns SimpleITK's (x, y, z) into array order (z, y, x)
    assert array_spacing((0.7, 0.8, 3.0)) == (3.0, 0.8, 0.7)
    assert array_spacing((0.7, 0.8, 3.0), 2) == (0.8, 0.7)


def test_3d_outlier_separates_hausdorff_from_hd95():
    """A box plus one stray voxel 4 slices above it (3 mm slices): HD = 12 mm, HD95 = 0."""
    ref = np.zeros((10, 12, 12), dtype=bool)
    ref[2:5, 3:9, 3:9] = True  # 3 × 6 × 6 = 108 voxels, 92 of them on the surface
    pred = ref.copy()
    pred[8, 5, 5] = True
    m = compare_masks(pred, ref, spacing=(3.0, 0.8, 0.8))
    assert m.hausdorff_mm == pytest.approx(12.0)
    assert m.hausdorff95_mm == pytest.approx(0.0)
    assert m.assd_mm == pytest.approx(12.0 / (93 + 92), rel=1e-6)
    assert m.dice == pytest.approx(216 / 217)
    assert m.recall == 1.0 and m.precision == pytest.approx(108 / 109)
    assert m.relative_volume_difference_percent == pytest.approx(100 / 108)
    assert m.ref_size == pytest.approx(108 * 3.0 * 0.8 * 0.8)  # mm³


def _blobs(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = ndimage.gaussian_filter(rng.random((14, 24, 24)), 2.0)
    b = ndimage.gaussian_filter(rng.random((14, 24, 24)), 2.0)
    return a > np.quantile(a, 0.7), (a + 0.3 * b) > np.quantile(a + 0.3 * b, 0.72)


def test_symmetry_properties():
    a, b = _blobs(1)
    spacing = (2.5, 0.9, 0.7)
    ab, ba = compare_masks(a, b, spacing), compare_masks(b, a, spacing)
    assert ab.dice == pytest.approx(ba.dice) and ab.jaccard == pytest.approx(ba.jaccard)
    assert ab.precision == pytest.approx(ba.recall) and ab.recall == pytest.approx(ba.precision)
    assert ab.hausdorff_mm == pytest.approx(ba.hausdorff_mm)
    assert ab.hausdorff95_mm == pytest.approx(ba.hausdorff95_mm)
    assert ab.assd_mm == pytest.approx(ba.assd_mm, rel=1e-5)
    # RVD is relative to the reference: (1 + x)(1 + y) = 1 when the roles swap
    x, y = ab.relative_volume_difference_percent / 100, ba.relative_volume_difference_percent / 100
    assert (1 + x) * (1 + y) == pytest.approx(1.0)
    same = compare_masks(a, a, spacing)
    assert (same.dice, same.hausdorff_mm, same.hausdorff95_mm, same.assd_mm) == (1.0, 0.0, 0.0, 0.0)


def test_distances_follow_the_documented_conventions():
    """Brute force over surface voxels: HD95 = max of the directed 95th percentiles, ASSD = pooled mean."""
    a, b = _blobs(2)
    spacing = np.array([2.5, 0.9, 0.7])

    def surface_points(mask: np.ndarray) -> np.ndarray:
        return np.argwhere(mask & ~ndimage.binary_erosion(mask)) * spacing

    pa, pb = surface_points(a), surface_points(b)
    d = np.sqrt(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(-1))
    a_to_b, b_to_a = d.min(axis=1), d.min(axis=0)
    m = compare_masks(a, b, tuple(spacing))
    assert m.hausdorff_mm == pytest.approx(max(a_to_b.max(), b_to_a.max()), rel=1e-5)
    assert m.hausdorff95_mm == pytest.approx(max(np.percentile(a_to_b, 95), np.percentile(b_to_a, 95)), rel=1e-5)
    assert m.assd_mm == pytest.approx(np.concatenate([a_to_b, b_to_a]).mean(), rel=1e-5)


def test_dice_agrees_with_monai():
    a, b = _blobs(3)
    ours = compare_masks(a, b, (1.0, 1.0, 1.0)).dice
    theirs = compute_dice(torch.from_numpy(a)[None, None].float(), torch.from_numpy(b)[None, None].float())
    assert ours == pytest.approx(float(theirs.item()), rel=1e-6)


def test_empty_masks_are_explicit():
    empty = np.zeros((8, 8), dtype=bool)
    full = empty.copy()
    full[2:5, 2:5] = True
    both = compare_masks(empty, empty, (1.0, 1.0))
    assert both.status == STATUS_BOTH_EMPTY and both.dice is None and both.hausdorff_mm is None
    assert both.relative_volume_difference_percent is None and "undefined" in both.note

    missed = compare_masks(empty, full, (1.0, 1.0))
    assert missed.status == STATUS_PREDICTION_EMPTY
    assert (missed.dice, missed.jaccard, missed.recall, missed.precision) == (0.0, 0.0, 0.0, None)
    assert missed.relative_volume_difference_percent == -100.0
    assert missed.hausdorff_mm is None and missed.assd_mm is None and "prediction empty" in missed.note

    invented = compare_masks(full, empty, (1.0, 1.0))
    assert invented.status == STATUS_REFERENCE_EMPTY
    assert (invented.dice, invented.precision, invented.recall) == (0.0, 0.0, None)
    assert invented.relative_volume_difference_percent is None and invented.hausdorff95_mm is None


def test_label_maps_rows_and_union():
    ref = np.zeros((2, 10, 10), dtype=np.uint8)
    ref[:, 1:4, 1:4] = 1
    ref[:, 6:9, 6:9] = 2
    pred = ref.copy()
    pred[pred == 2] = 0  # label 2 missed entirely
    pred[:, 1:4, 4] = 1  # label 1 one column too wide
    rows = dict(evaluate_label_maps(pred, ref, (3.0, 1.0, 1.0), labels=[1, 2, 3]))
    assert rows[1].dice == pytest.approx(2 * 18 / (24 + 18))
    assert rows[2].status == STATUS_PREDICTION_EMPTY
    assert rows[3].status == STATUS_BOTH_EMPTY  # asked for, absent from both
    union = rows[None]  # any of 1, 2, 3
    assert (union.pred_voxels, union.ref_voxels, union.overlap_voxels) == (24, 36, 18)
    assert [value for value, _ in evaluate_label_maps(pred, ref, (3.0, 1.0, 1.0))] == [1, 2, None]
    with pytest.raises(ValueError, match="spacing"):
        compare_masks(ref == 1, ref == 1, (1.0, 1.0))
