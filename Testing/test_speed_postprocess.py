"""Issue 16: the one-pass post-processing gives exactly what the per-piece / per-label versions at the issue's
start (git 4c31cdd) gave. The reference versions are copied here verbatim so the test needs no git history."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from MuscleQuantLib.pipeline.postprocess import apply_hu_window, midline_x, remove_small_islands, split_sides
from MuscleQuantLib.presets import get_preset


def _old_remove_small_islands(labels: np.ndarray, voxel_size: float, min_size: float) -> np.ndarray:
    if min_size <= 0:
        return labels
    out = labels.copy()
    min_voxels = min_size / voxel_size
    for value in np.unique(labels):
        if value == 0:
            continue
        pieces, count = ndimage.label(labels == value)
        if count <= 1:
            continue
        sizes = ndimage.sum(np.ones_like(pieces), pieces, index=np.arange(1, count + 1))
        for piece, size in enumerate(sizes, start=1):
            if size < min_voxels:
                out[pieces == piece] = 0
    return out


def _old_apply_hu_window(labels, hu, window, only=None):
    if window is None:
        return labels
    lo, hi = window
    out = labels.copy()
    outside = (hu < lo) | (hu > hi)
    if only is not None:
        outside &= np.isin(labels, list(only))
    out[outside] = 0
    return out


def _old_midline_x(body_mask: np.ndarray) -> float:
    if not body_mask.any():
        return (body_mask.shape[-1] - 1) / 2
    return float(np.nonzero(body_mask)[-1].mean())


def _old_split_sides(labels, preset, midline):
    out = np.zeros(labels.shape, dtype=np.uint16)
    x = np.arange(labels.shape[-1])
    is_left = np.broadcast_to(x >= midline, labels.shape)
    for output in preset.output_labels():
        selected = labels == output.source_value
        if output.side == "left":
            selected &= is_left
        elif output.side == "right":
            selected &= ~is_left
        out[selected] = output.value
    return out


def _random_labels(rng: np.random.Generator, shape: tuple[int, ...], classes: int, smooth: float) -> np.ndarray:
    """Blobby label maps with many pieces of every size (smoothed noise, arg-maxed)."""
    noise = ndimage.gaussian_filter(rng.normal(size=(classes + 1, *shape)), sigma=(0, *[smooth] * len(shape)))
    return noise.argmax(axis=0).astype(np.uint16)


@pytest.mark.parametrize("seed", range(6))
def test_islands_match_the_old_algorithm_on_random_label_maps(seed):
    rng = np.random.default_rng(seed)
    shape = (24, 40, 36) if seed % 2 else (120, 110)
    labels = _random_labels(rng, shape, classes=int(rng.integers(1, 8)), smooth=float(rng.uniform(0.6, 2.0)))
    labels[labels == int(rng.integers(1, 3))] = 0  # background where a class was
    voxel, min_size = float(rng.uniform(0.3, 3.0)), float(rng.uniform(1.0, 40.0))
    old = _old_remove_small_islands(labels, voxel, min_size)
    new = remove_small_islands(labels, voxel, min_size)
    assert new.dtype == old.dtype and np.array_equal(new, old)
    assert (old != labels).any(), "the case must erase something, or it tests nothing"


def test_islands_keep_a_single_small_piece_and_edge_cases():
    labels = np.zeros((10, 10), np.uint16)
    labels[0, 0] = 3  # one piece of its label: kept however small, as before
    labels[5:7, 5:7] = 2
    labels[9, 9] = 2
    assert np.array_equal(remove_small_islands(labels, 1.0, 3.0), _old_remove_small_islands(labels, 1.0, 3.0))
    assert remove_small_islands(labels, 1.0, 0.0) is labels
    assert np.array_equal(remove_small_islands(np.zeros((4, 4), np.uint16), 1.0, 5.0), np.zeros((4, 4)))


def _phantom_thigh():
    import SimpleITK as sitk

    from MuscleQuantLib.phantoms.registry import PhantomOptions, generate_case

    case = generate_case("thigh", 3, 0, PhantomOptions(in_view=True, orientation="LPS", resolution="low"))
    return sitk.GetArrayFromImage(case.labels).astype(np.uint16), sitk.GetArrayFromImage(case.image).astype(np.float32)


def test_phantom_postprocessing_matches_the_old_algorithms():
    """A thigh phantom label map, roughened into many pieces the way a network's output is, through the
    whole post-processing chain: islands, HU window (muscle only), midline, sides."""
    labels, hu = _phantom_thigh()
    rng = np.random.default_rng(0)
    noisy = labels.copy()
    flip = rng.random(labels.shape) < 0.02
    noisy[flip] = rng.integers(0, int(labels.max()) + 1, int(flip.sum()))
    preset = get_preset("thigh")
    old = _old_remove_small_islands(noisy, 27.0, preset.min_island_mm3)
    new = remove_small_islands(noisy, 27.0, preset.min_island_mm3)
    assert (old != noisy).sum() > 1000 and np.array_equal(new, old)
    window = (-29.0, 150.0)
    old_hu = _old_apply_hu_window(old, hu, window, only=preset.muscle_values())
    assert (old_hu != old).any()
    assert np.array_equal(apply_hu_window(new, hu, window, only=preset.muscle_values()), old_hu)
    assert np.array_equal(apply_hu_window(new, hu, window), _old_apply_hu_window(old, hu, window))
    body = hu > -500
    assert midline_x(body) == _old_midline_x(body)
    for midline in (_old_midline_x(body), 40.0, 39.5, -3.0, 1e4):
        assert np.array_equal(split_sides(old_hu, preset, midline), _old_split_sides(old_hu, preset, midline))


@pytest.mark.parametrize("name", ["l3", "c3", "temporalis"])
def test_2d_sides_match_the_old_algorithm(name):
    preset = get_preset(name)
    labels = _random_labels(np.random.default_rng(1), (64, 70), len(preset.labels), 1.5)
    labels[0, 0] = 250  # a value no output label comes from
    for midline in (34.5, 35.0, 0.0, 69.0):
        assert np.array_equal(split_sides(labels, preset, midline), _old_split_sides(labels, preset, midline))
    assert midline_x(np.zeros((5, 6), bool)) == _old_midline_x(np.zeros((5, 6), bool))


def _old_body_mask_ct(array_hu: np.ndarray, threshold: float = -500.0) -> np.ndarray:
    mask = array_hu > threshold
    labels, count = ndimage.label(mask)
    if count > 1:
        sizes = ndimage.sum(mask, labels, index=range(1, count + 1))
        mask = labels == (int(np.argmax(sizes)) + 1)
    if mask.ndim == 3:
        return np.stack([ndimage.binary_fill_holes(s) for s in mask])
    return ndimage.binary_fill_holes(mask)


@pytest.mark.parametrize("seed", range(4))
def test_body_mask_matches_the_old_one(seed):
    from MuscleQuantLib.pipeline.intensity import body_mask_ct

    rng = np.random.default_rng(seed)
    shape = (12, 40, 44) if seed % 2 else (60, 70)
    hu = ndimage.gaussian_filter(rng.normal(size=shape), 1.5) * 3000 - 450  # several bodies, holes, ties
    if seed == 2:
        hu[:] = -1000
        hu[..., 5:10, 5:10] = 0
        hu[..., 20:25, 20:25] = 0  # two equal pieces: the first wins, as before
    expected = _old_body_mask_ct(hu)
    got = body_mask_ct(hu)
    assert got.dtype == expected.dtype and np.array_equal(got, expected)
    _, hu_thigh = _phantom_thigh()
    assert np.array_equal(body_mask_ct(hu_thigh), _old_body_mask_ct(hu_thigh))
