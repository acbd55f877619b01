"""The orbit finder's anchor measures each marked component inside its bounding box (issue 16: an undertrained
or noisy map marks hundreds of specks, and whole-volume passes per component took seconds); the components'
volumes, centres and spreads equal the whole-volume formulas to float rounding, and the anchor is the same."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from MuscleQuantLib.levels import anchors
from MuscleQuantLib.levels.specs import spec_for


def _whole_volume_components(p: np.ndarray, spacing: tuple[float, ...]) -> list[tuple[float, np.ndarray, float, float]]:
    """The formulas as they were: every component measured over the whole volume."""
    labels, n = ndimage.label(p >= anchors.VOTE)
    step = np.asarray(spacing, dtype=float)[::-1]
    voxel = float(np.prod(step))
    out = []
    for index in range(1, n + 1):
        weights = np.where(labels == index, p, 0.0)
        mass = float(weights.sum())
        centre = np.asarray(ndimage.center_of_mass(weights)) * step
        z = (np.arange(p.shape[0]) * step[0])[:, None, None]
        z_var = float((weights * (z - centre[0]) ** 2).sum() / mass)
        out.append((mass * voxel, centre, z_var, mass / float((labels == index).sum())))
    return out


def _speckled_globes() -> np.ndarray:
    """Two globe-like blobs (about 12 mm in radius on the 5 × 5 × 2 mm finder grid, as the finder's globe-size
    check requires) plus 150 specks of noise, as a briefly trained network marks them."""
    rng = np.random.default_rng(4)
    z, y, x = np.mgrid[:40, :48, :64]
    p = 0.3 * rng.random((40, 48, 64))
    for cx in (26.0, 38.0):  # 60 mm apart at 5 mm voxels
        p = np.maximum(p, np.exp(-(((z - 20.3) / 7.2) ** 2 + ((y - 24.2) / 2.9) ** 2 + ((x - cx) / 2.9) ** 2)))
    specks = rng.integers(0, [40, 48, 64], (150, 3))
    p[tuple(specks.T)] = rng.uniform(0.5, 0.9, 150)
    return p


def test_components_in_their_boxes_equal_the_whole_volume_formulas(monkeypatch):
    p = _speckled_globes()
    spacing = (5.0, 5.0, 2.0)
    seen = []
    component = anchors._Component
    monkeypatch.setattr(anchors, "_Component", lambda *values: seen.append(values) or component(*values))
    spec = spec_for("temporalis")
    names = ["orbit_slab", spec.anchor[1]]
    anchor = anchors.find_anchor(spec, names, np.stack([1 - p, 0 * p, p]), spacing)
    reference = _whole_volume_components(p, spacing)
    assert len(seen) == len(reference) > 100
    for (volume, centre, z_var, mean_p), (volume0, centre0, z_var0, mean_p0) in zip(seen, reference, strict=True):
        assert np.isclose(volume, volume0, rtol=1e-12) and np.allclose(centre, centre0, rtol=1e-12, atol=1e-9)
        assert np.isclose(z_var, z_var0, rtol=1e-9, atol=1e-9) and np.isclose(mean_p, mean_p0, rtol=1e-12)
    assert anchor is not None and anchor.present and abs(anchor.network_z - 20.3) < 0.5
