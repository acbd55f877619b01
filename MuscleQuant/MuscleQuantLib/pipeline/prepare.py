"""Turn an input image (any orientation and spacing) into network-space arrays, and network
predictions back into label maps on the input's own grid. Training and inference both use this,
so a model sees at inference exactly what it saw in training."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from ..presets.base import Preset
from .geometry import Grid, canonical_geometry, extract_slice, resample, resampled_grid, to_canonical
from .intensity import body_mask_ct, normalise


@dataclass
class PreparedSlice:
    """One axial slice in network space (2D presets)."""

    image: np.ndarray  # (H, W) float32, normalised, at the profile's spacing
    labels: np.ndarray | None  # (H, W) training classes, same grid
    native: sitk.Image  # the canonical slice at native resolution (to map predictions back)
    grid: Grid  # the resampled 2D grid of ``image``
    canonical_slice: int


@dataclass
class PreparedVolume:
    """The volume in network space (3D presets), cropped to the body."""

    image: np.ndarray  # (Z, Y, X) float32
    labels: np.ndarray | None
    native: sitk.Image | Grid  # the canonical volume at native resolution (or only its grid: prepare_stored_volume)
    grid: Grid  # the resampled grid before cropping
    crop: tuple[slice, slice, slice]  # body bounding box within ``grid``


def prepare_slice(canonical: sitk.Image, preset: Preset, spacing: tuple[float, ...], canonical_slice: int,
                  canonical_labels: sitk.Image | None = None) -> PreparedSlice:
    """Resample one canonical axial slice to the model's spacing and normalise it."""
    native = extract_slice(canonical, canonical_slice)
    grid = resampled_grid(native, spacing)
    fill = -1024.0 if preset.modality == "CT" else 0.0
    image = normalise(resample(native, grid, labels=False, default=fill), preset.intensity)
    labels = None
    if canonical_labels is not None:
        labels = sitk.GetArrayFromImage(resample(extract_slice(canonical_labels, canonical_slice), grid, labels=True))
    return PreparedSlice(image, labels, native, grid, canonical_slice)


def slice_prediction_to_native(prediction: np.ndarray, prepared: PreparedSlice) -> np.ndarray:
    """A network-space label slice back on the native canonical slice grid (nearest neighbour)."""
    predicted = sitk.GetImageFromArray(prediction.astype(np.uint16))
    predicted.SetSpacing(prepared.grid.spacing)
    predicted.SetOrigin(prepared.grid.origin)
    predicted.SetDirection(prepared.grid.direction)
    return sitk.GetArrayFromImage(resample(predicted, Grid.of(prepared.native), labels=True))


def prepare_volume(canonical: sitk.Image, preset: Preset, spacing: tuple[float, ...],
                   canonical_labels: sitk.Image | None = None, margin: int = 2) -> PreparedVolume:
    """Resample the canonical volume to the model's spacing, normalise, crop to the body."""
    grid = resampled_grid(canonical, spacing)
    image, crop = _normalised_body(canonical, grid, preset, margin)
    labels = None
    if canonical_labels is not None:
        labels = sitk.GetArrayFromImage(resample(canonical_labels, grid, labels=True))[crop]
    return PreparedVolume(image[crop], labels, canonical, grid, crop)


def prepare_stored_volume(image: sitk.Image, preset: Preset, spacing: tuple[float, ...],
                          margin: int = 2) -> PreparedVolume:
    """:func:`prepare_volume` of ``to_canonical(image)`` without reorienting the voxels: the network grid is
    the same (computed from the canonical geometry) and is resampled straight from the stored image, so a
    40-Mvoxel CT is not copied axis by axis for a coarse finder grid. Linear interpolation at the same physical
    points; the values differ from the reoriented route only by floating-point rounding (~1e-10 HU)."""
    native = canonical_geometry(image)
    grid = resampled_grid(native, spacing)
    image_array, crop = _normalised_body(image, grid, preset, margin)
    return PreparedVolume(image_array[crop], None, native, grid, crop)


def _normalised_body(image: sitk.Image, grid: Grid, preset: Preset, margin: int) -> tuple[np.ndarray, tuple]:
    """``image`` resampled onto ``grid`` and normalised, with the crop to the body (CT: the body mask in HU;
    MR: the brighter half), shared by both routes so they cannot drift apart."""
    fill = -1024.0 if preset.modality == "CT" else 0.0
    resampled = resample(image, grid, labels=False, default=fill)
    array = normalise(resampled, preset.intensity)
    if preset.modality == "CT":
        body = body_mask_ct(sitk.GetArrayViewFromImage(resampled))
    else:
        body = array > np.percentile(array, 50)
    return array, _bounding_box(body, margin)


def volume_prediction_to_native(prediction: np.ndarray, prepared: PreparedVolume) -> np.ndarray:
    """A cropped network-space label volume back on the native canonical grid."""
    full = np.zeros(tuple(reversed(prepared.grid.size)), dtype=np.uint16)
    full[prepared.crop] = prediction
    predicted = sitk.GetImageFromArray(full)
    predicted.SetSpacing(prepared.grid.spacing)
    predicted.SetOrigin(prepared.grid.origin)
    predicted.SetDirection(prepared.grid.direction)
    native = prepared.native if isinstance(prepared.native, Grid) else Grid.of(prepared.native)
    return sitk.GetArrayFromImage(resample(predicted, native, labels=True))


def _bounding_box(mask: np.ndarray, margin: int) -> tuple[slice, slice, slice]:
    if not mask.any():
        return tuple(slice(0, n) for n in mask.shape)  # type: ignore[return-value]
    box = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        present = np.nonzero(mask.any(axis=other))[0]
        box.append(slice(max(0, int(present[0]) - margin), min(mask.shape[axis], int(present[-1]) + 1 + margin)))
    return tuple(box)  # type: ignore[return-value]


def canonical_pair(image: sitk.Image, labels: sitk.Image | None = None) -> tuple[sitk.Image, sitk.Image | None]:
    """Both images in the networks' LPS frame."""
    return to_canonical(image), (to_canonical(labels) if labels is not None else None)
