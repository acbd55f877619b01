"""Intensity normalisation as each paper did it: CT window and scale (optionally gamma), or MR
N4 bias correction and z-score inside the head."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..presets.base import Intensity


def normalise(image: sitk.Image, spec: Intensity) -> np.ndarray:
    """Network input (float32, same shape as the image array) for ``spec``."""
    if spec.kind == "ct_window":
        lo, hi = spec.window or (-1024.0, 3071.0)
        array = sitk.GetArrayFromImage(image).astype(np.float32)
        unit = (np.clip(array, lo, hi) - lo) / (hi - lo)
        if spec.gamma:
            unit = unit**spec.gamma
        out_lo, out_hi = spec.output_range
        return (unit * (out_hi - out_lo) + out_lo).astype(np.float32)
    if spec.kind == "zscore":
        image = sitk.Cast(image, sitk.sitkFloat32)
        mask = foreground_mask(image)
        if spec.bias_correction:
            image = _n4(image, mask)
        array = sitk.GetArrayFromImage(image).astype(np.float32)
        inside = array[sitk.GetArrayViewFromImage(mask) > 0]
        if inside.size < 10:
            inside = array.ravel()
        return ((array - inside.mean()) / (inside.std() + 1e-6)).astype(np.float32)
    raise ValueError(f"unknown intensity kind {spec.kind!r}")


def foreground_mask(image: sitk.Image) -> sitk.Image:
    """Head/body mask of an MR image: Otsu threshold, largest component, holes filled."""
    otsu = sitk.OtsuThreshold(image, 0, 1)
    components = sitk.RelabelComponent(sitk.ConnectedComponent(otsu), sortByObjectSize=True)
    largest = components == 1
    return sitk.BinaryFillhole(largest) if image.GetDimension() == 2 else largest


def _n4(image: sitk.Image, mask: sitk.Image) -> sitk.Image:
    """N4 on a shrunken copy, applied at full resolution (fast enough per slice or small volume)."""
    shrink = 2 if min(image.GetSize()) >= 64 else 1
    small = sitk.Shrink(image, [shrink] * image.GetDimension())
    small_mask = sitk.Shrink(mask, [shrink] * image.GetDimension())
    corrector = sitk.N4BiasFieldCorrectionImageFilter()
    corrector.SetMaximumNumberOfIterations([20, 20])
    corrector.Execute(small, small_mask)
    log_bias = corrector.GetLogBiasFieldAsImage(image)
    return image / sitk.Exp(log_bias)


def body_mask_ct(array_hu: np.ndarray, threshold: float = -500.0) -> np.ndarray:
    """Body mask of a CT (HU > −500, largest component, holes filled slice by slice) — SPEC 2.2."""
    from scipy import ndimage

    mask = array_hu > threshold
    labels, count = ndimage.label(mask)
    if count > 1:
        sizes = np.bincount(labels.ravel())  # one pass (ndimage.sum over range(count) is slower); same argmax
        sizes[0] = 0
        mask = labels == int(np.argmax(sizes))
    del labels
    if mask.ndim == 3:
        return fill_holes_per_slice(mask, out=mask)  # in place: no second volume
    return ndimage.binary_fill_holes(mask)


SLICE_CHUNK = 16  # slices labelled at once by fill_holes_per_slice: a small label array, whatever the volume


def fill_holes_per_slice(mask: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``ndimage.binary_fill_holes`` on every axial slice (axis 0) of a boolean volume, identical voxel for voxel:
    background not 4-connected within its slice to the slice's edge is filled. One labelling of the background
    per chunk of slices (in-plane connectivity only) instead of scipy's dilation to convergence per slice: 2.9 s
    for the 307 slices of a 0.98×0.98×1.5 mm thigh, now a fraction of that. ``out`` may be ``mask``."""
    from scipy import ndimage

    result = np.empty(mask.shape, bool) if out is None else out
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = ndimage.generate_binary_structure(2, 1)  # binary_fill_holes' default: 4-connected, in plane
    for start in range(0, mask.shape[0], SLICE_CHUNK):
        part = mask[start:start + SLICE_CHUNK]
        background, count = ndimage.label(~part, structure)
        outside = np.zeros(count + 1, bool)  # background pieces touching a slice's edge stay background
        for edge in (background[:, 0, :], background[:, -1, :], background[:, :, 0], background[:, :, -1]):
            outside[edge] = True
        outside[0] = False  # label 0: the mask itself
        result[start:start + SLICE_CHUNK] = ~outside[background]
    return result
