"""Whole-volume reorientation avoided (issue 16): the canonical grid computed from the header equals the one
``to_canonical`` gives, the level finder's network input resampled straight from the stored voxels equals the
reoriented route to float rounding, and plausibility judged on the one known slice equals judging the volume."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import SimpleITK as sitk

from MuscleQuantLib.pipeline.geometry import Grid, canonical_geometry, canonical_grid, to_canonical
from MuscleQuantLib.pipeline.prepare import prepare_stored_volume, prepare_volume
from MuscleQuantLib.plausibility import check as plausibility_check
from MuscleQuantLib.presets import get_preset


def _stored(direction: np.ndarray, size: tuple[int, int, int], rng: np.random.Generator) -> sitk.Image:
    image = sitk.GetImageFromArray(rng.integers(-1000, 1200, size[::-1]).astype(np.int16))
    image.SetSpacing(tuple(float(v) for v in rng.uniform(0.6, 3.0, 3)))
    image.SetOrigin(tuple(float(v) for v in rng.uniform(-200, 200, 3)))
    image.SetDirection(direction.ravel().tolist())
    return image


def _signed_permutations() -> list[np.ndarray]:
    out = []
    for order in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            d = np.zeros((3, 3))
            for axis, row in enumerate(order):
                d[row, axis] = signs[axis]
            out.append(d)
    return out


def test_canonical_geometry_equals_the_reoriented_grid_for_all_48_storage_orders():
    rng = np.random.default_rng(0)
    for direction in _signed_permutations():
        image = _stored(direction, tuple(int(v) for v in rng.integers(3, 9, 3)), rng)
        assert canonical_geometry(image) == Grid.of(canonical_grid(image))


def test_canonical_geometry_of_an_oblique_grid_agrees_to_rounding():
    rng = np.random.default_rng(1)
    tilt = np.array(sitk.VersorTransform((0.3, 0.5, 0.8), 0.1).GetMatrix()).reshape(3, 3)
    for direction in _signed_permutations()[::5]:
        image = _stored(tilt @ direction, (5, 6, 7), rng)
        mine, reference = canonical_geometry(image), Grid.of(canonical_grid(image))
        assert mine.size == reference.size and mine.spacing == reference.spacing
        assert mine.direction == reference.direction
        assert np.allclose(mine.origin, reference.origin, rtol=0, atol=1e-9)


@pytest.mark.parametrize("storage", ["LPS", "RAS", "PIL", "feet_first_sagittal"])
def test_finder_input_resampled_from_the_stored_voxels_equals_the_reoriented_route(storage):
    """The L3 finder's coarse grid: same grid and crop, values equal to float rounding."""
    directions = {"LPS": np.eye(3), "RAS": np.diag([-1.0, -1.0, 1.0]),
                  "PIL": np.array([[0.0, 0, 1], [1, 0, 0], [0, -1, 0]]),
                  "feet_first_sagittal": np.array([[0.0, 1, 0], [0, 0, 1], [-1, 0, 0]])}
    rng = np.random.default_rng(2)
    image = _stored(directions[storage], (60, 50, 40), rng)
    image.SetSpacing((2.0, 1.5, 2.5))
    preset = get_preset("l3_level")
    spacing = preset.profile("cpu").spacing
    fast = prepare_stored_volume(image, preset, spacing)
    slow = prepare_volume(to_canonical(image), preset, spacing)
    assert fast.grid == slow.grid and fast.crop == slow.crop
    assert fast.native == Grid.of(slow.native)
    np.testing.assert_allclose(fast.image, slow.image, rtol=0, atol=1e-5)


def _l3_case(storage: str) -> tuple[sitk.Image, sitk.Image, int]:
    """A CT with a body ellipse and sided psoas/erector labels on stored slice 3 (of 6)."""
    nz, ny, nx = 6, 80, 100
    ct = np.full((nz, ny, nx), -1000, np.int16)
    yy, xx = np.mgrid[:ny, :nx]
    ct[:, ((yy - 40) / 34) ** 2 + ((xx - 50) / 44) ** 2 <= 1] = 20
    labels = np.zeros((nz, ny, nx), np.uint8)
    labels[3, 50:60, 55:62], labels[3, 50:60, 38:45] = 5, 6  # psoas left / right in canonical x
    labels[3, 62:70, 53:60], labels[3, 62:70, 40:47] = 3, 4
    ct[3][labels[3] > 0] = 45
    image, label_image = sitk.GetImageFromArray(ct), sitk.GetImageFromArray(labels)
    for item in (image, label_image):
        item.SetSpacing((0.8, 0.8, 3.0))
    if storage == "RAS":  # the same voxels stored with x and y flipped
        image, label_image = (sitk.Flip(item, [True, True, False]) for item in (image, label_image))
        for item in (image, label_image):
            item.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
            item.SetOrigin((79.2, 63.2, 0.0))
    return image, label_image, 3


@pytest.mark.parametrize("storage", ["LPS", "RAS"])
def test_plausibility_on_the_known_slice_equals_the_volume_route(storage, monkeypatch):
    image, labels, k = _l3_case(storage)
    names = {3: "erector_spinae_left", 4: "erector_spinae_right", 5: "psoas_major_left", 6: "psoas_major_right"}
    fast = plausibility_check.run_checks(image, labels, "l3", slice_index=k, label_names=names).block()
    monkeypatch.setattr(plausibility_check, "_stored_slice", lambda *args: None)  # the search over the volume
    slow = plausibility_check.run_checks(image, labels, "l3", label_names=names).block()
    assert fast == slow
