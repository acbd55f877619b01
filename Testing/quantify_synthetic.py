"""Small synthetic CT cases for the quantify tests, with truth computed by construction.

Canonical arrays are (z, y, x) with x towards the patient's left, y posterior (LPS identity);
``stored`` re-stores them RAS (x and y flipped), feet-first (z flipped) or oblique (rotated grid),
keeping every voxel at the same physical place, so measurements must not change.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

SPACING = (0.8, 0.7, 3.0)
NZ, NY, NX = 4, 60, 80
MID_X = NX // 2


def canonical_case() -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Body ellipse at 0 HU in air; label 1 'psoas_major' on both sides, label 2 'erector_spinae_left'.

    Slice 2 holds: left psoas 6x5 = 30 voxels (20 at 40 HU, 6 at 60 HU, 4 at -100 HU = IMAT),
    right psoas 4x5 = 20 voxels at 30 HU, erector left 3x4 = 12 voxels at 50 HU (one at 500 HU: bone,
    outside the range). Other slices hold less muscle.
    """
    image = np.full((NZ, NY, NX), -1000, dtype=np.int16)
    yy, xx = np.mgrid[:NY, :NX]
    body = ((yy - NY / 2) / (NY * 0.45)) ** 2 + ((xx - MID_X + 0.5) / (NX * 0.45)) ** 2 <= 1
    image[:, body] = 0
    labels = np.zeros((NZ, NY, NX), dtype=np.uint8)
    k = 2
    labels[k, 20:25, MID_X + 5:MID_X + 11] = 1  # patient's left (x > midline)
    image[k, 20:25, MID_X + 5:MID_X + 11] = 40
    image[k, 20, MID_X + 5:MID_X + 11] = 60
    image[k, 24, MID_X + 5:MID_X + 9] = -100
    labels[k, 20:25, MID_X - 9:MID_X - 5] = 1  # patient's right
    image[k, 20:25, MID_X - 9:MID_X - 5] = 30
    labels[k, 35:39, MID_X + 3:MID_X + 6] = 2
    image[k, 35:39, MID_X + 3:MID_X + 6] = 50
    image[k, 35, MID_X + 3] = 500
    labels[1, 20:22, MID_X + 5:MID_X + 8] = 1
    image[1, 20:22, MID_X + 5:MID_X + 8] = 45
    pixel = SPACING[0] * SPACING[1]
    hu = np.concatenate([[40] * 20, [60] * 6, [30] * 20, [50] * 11]).astype(float)
    psoas_hu = np.concatenate([[40] * 20, [60] * 6, [30] * 20]).astype(float)
    truth = {
        "slice": k, "pixel": pixel,
        "psoas_left_mm2": 26 * pixel, "psoas_right_mm2": 20 * pixel, "psoas_imat_mm2": 4 * pixel,
        "erector_mm2": 11 * pixel, "total_mm2": 57 * pixel, "hu_mean": hu.mean(), "hu_sd": hu.std(ddof=1),
        "psoas_hu_mean": psoas_hu.mean(), "psoas_outline_mm2": 50 * pixel,
    }
    return image, labels, truth


def stored(arrays: list[np.ndarray], orientation: str = "LPS") -> list[sitk.Image]:
    """Images holding the canonical arrays in the given storage orientation (same physical anatomy)."""
    nz, ny, nx = arrays[0].shape
    spacing = np.array(SPACING)
    canonical_origin = np.array([-100.0, -50.0, 200.0])
    direction = np.eye(3)
    out_arrays = list(arrays)
    origin = canonical_origin.copy()
    if orientation == "RAS":
        direction = np.diag([-1.0, -1.0, 1.0])
        out_arrays = [a[:, ::-1, ::-1] for a in arrays]
        origin = canonical_origin + np.array([(nx - 1) * spacing[0], (ny - 1) * spacing[1], 0])
    elif orientation == "feet_first":
        direction = np.diag([1.0, 1.0, -1.0])
        out_arrays = [a[::-1] for a in arrays]
        origin = canonical_origin + np.array([0, 0, (nz - 1) * spacing[2]])
    elif orientation == "oblique":
        angle = np.deg2rad(12.0)
        direction = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    images = []
    for a in out_arrays:
        image = sitk.GetImageFromArray(np.ascontiguousarray(a))
        image.SetSpacing(tuple(spacing))
        image.SetOrigin(tuple(origin))
        image.SetDirection(tuple(direction.ravel()))
        images.append(image)
    return images


def stored_slice(orientation: str, k: int) -> int:
    return NZ - 1 - k if orientation == "feet_first" else k
