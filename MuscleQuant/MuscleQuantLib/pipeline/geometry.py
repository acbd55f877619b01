"""Orientation and resampling with SimpleITK, so networks always see patients the same way round
and results land on the exact input grid whatever its direction matrix."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from ..errors import InputError

CANONICAL = "LPS"  # x → patient left, y → posterior, z → superior: the networks' frame


def orientation_code(image: sitk.Image) -> str:
    return sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(image.GetDirection())


def to_canonical(image: sitk.Image) -> sitk.Image:
    """Permute/flip axes (no interpolation) so the array is in LPS order."""
    return sitk.DICOMOrient(image, CANONICAL)


def from_canonical(canonical: sitk.Image, original: sitk.Image) -> sitk.Image:
    """Undo :func:`to_canonical` exactly and stamp the original grid on the result."""
    restored = sitk.DICOMOrient(canonical, orientation_code(original))
    if restored.GetSize() != original.GetSize():
        raise RuntimeError("orientation round trip changed the grid size")  # cannot happen for permutations
    restored.CopyInformation(original)
    return restored


def canonical_grid(image: sitk.Image) -> sitk.Image:
    """An empty (uint8) image on the grid :func:`to_canonical` gives ``image``: the geometry without
    reorienting the voxel values."""
    proxy = sitk.Image(image.GetSize(), sitk.sitkUInt8)
    proxy.CopyInformation(image)
    return to_canonical(proxy)


def canonical_geometry(image: sitk.Image) -> Grid:
    """The grid :func:`to_canonical` gives ``image``, computed from its header (a one-voxel proxy tells the
    axis order and flips): no volume allocated or reoriented, where :func:`canonical_grid` costs a
    volume-sized pass. Equal to that grid's geometry up to floating-point rounding of an oblique origin."""
    orient = sitk.DICOMOrientImageFilter()
    orient.SetDesiredCoordinateOrientation(CANONICAL)
    proxy = sitk.Image([1] * image.GetDimension(), sitk.sitkUInt8)
    proxy.SetSpacing(image.GetSpacing())
    proxy.SetDirection(image.GetDirection())
    oriented = orient.Execute(proxy)
    order, flips, size = orient.GetPermuteOrder(), orient.GetFlipAxes(), image.GetSize()
    corner = [0] * image.GetDimension()  # the stored index of the canonical image's first voxel
    for axis, stored in enumerate(order):
        if flips[axis]:
            corner[stored] = size[stored] - 1
    return Grid(tuple(size[stored] for stored in order), oriented.GetSpacing(),
                image.TransformIndexToPhysicalPoint(corner), oriented.GetDirection())


def grid_proxy(grid: Grid) -> sitk.Image:
    """A one-voxel image carrying ``grid``'s origin, spacing and direction: index/physical conversions (which
    do not depend on the size) without allocating the grid."""
    proxy = sitk.Image([1] * len(grid.size), sitk.sitkUInt8)
    proxy.SetOrigin(grid.origin)
    proxy.SetSpacing(grid.spacing)
    proxy.SetDirection(grid.direction)
    return proxy


def canonical_slice_index(original: sitk.Image, canonical: sitk.Image, stored_slice: int, path: str | None = None) -> int:
    """The canonical (axial) slice that holds stored slice ``stored_slice`` of the original image.

    2D presets measure on axial slices; an image whose slice axis is not head–foot is refused
    rather than measured on a sagittal or coronal plane.
    """
    nx, ny, nz = original.GetSize()
    if not 0 <= stored_slice < nz:
        raise InputError(f"slice {stored_slice} is outside the image (0…{nz - 1})", path=path, field="--slice")
    corners = [(0, 0, stored_slice), (nx - 1, ny - 1, stored_slice), (nx - 1, 0, stored_slice)]
    indices = [canonical.TransformPhysicalPointToContinuousIndex(original.TransformIndexToPhysicalPoint(c)) for c in corners]
    ks = [idx[2] for idx in indices]
    if max(ks) - min(ks) > 0.5:
        raise InputError("2D presets need an axial acquisition; this image's slices are not axial", path=path)
    return int(round(ks[0]))


def stored_slice_index(original: sitk.Image, canonical: sitk.Image, canonical_slice: int) -> int:
    """Inverse of :func:`canonical_slice_index` for axial acquisitions."""
    cx, cy = (canonical.GetSize()[0] - 1) / 2, (canonical.GetSize()[1] - 1) / 2
    point = canonical.TransformContinuousIndexToPhysicalPoint((cx, cy, float(canonical_slice)))
    return int(round(original.TransformPhysicalPointToContinuousIndex(point)[2]))


def slice_position_mm(image: sitk.Image, stored_slice: float) -> list[float]:
    """Physical (LPS, mm) centre of a stored slice: what every 2D measurement is reported at."""
    nx, ny, _ = image.GetSize()
    return [float(v) for v in image.TransformContinuousIndexToPhysicalPoint(((nx - 1) / 2, (ny - 1) / 2, float(stored_slice)))]


@dataclass(frozen=True)
class Grid:
    """A regular grid (for resampling targets)."""

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    @classmethod
    def of(cls, image: sitk.Image) -> Grid:
        return cls(image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection())


def resampled_grid(image: sitk.Image | Grid, spacing: tuple[float, ...]) -> Grid:
    """Same physical extent and direction, new spacing (the first voxel centre stays put)."""
    grid = image if isinstance(image, Grid) else Grid.of(image)
    size = tuple(max(1, int(math.ceil(n * s / t - 1e-6))) for n, s, t in zip(grid.size, grid.spacing, spacing, strict=True))
    return Grid(size, tuple(float(s) for s in spacing), grid.origin, grid.direction)


def resample(image: sitk.Image, grid: Grid, *, labels: bool, default: float = 0.0) -> sitk.Image:
    """Resample onto ``grid``: linear for images, nearest neighbour for label maps."""
    interpolator = sitk.sitkNearestNeighbor if labels else sitk.sitkLinear
    pixel = image.GetPixelID() if labels else sitk.sitkFloat32
    return sitk.Resample(image, grid.size, sitk.Transform(), interpolator, grid.origin, grid.spacing, grid.direction,
                         default, pixel)


def extract_slice(volume: sitk.Image, k: int) -> sitk.Image:
    """Axial slice ``k`` of a canonical volume as a 2D image with its in-plane geometry."""
    return volume[:, :, int(k)]


def paste_slice(volume_labels: np.ndarray, k: int, slice_labels: sitk.Image) -> None:
    """Write a 2D label slice into a (z, y, x) label array in place."""
    volume_labels[int(k)] = sitk.GetArrayViewFromImage(slice_labels)


def slice_to_original(slice_labels: np.ndarray, canonical: sitk.Image, canonical_slice: int, original: sitk.Image,
                      stored_slice: int) -> sitk.Image:
    """Labels of one canonical axial slice as a label volume on the original grid, zero elsewhere: what
    :func:`from_canonical` gives for a volume labelled on that slice only, without reorienting the volume."""
    thin = sitk.GetImageFromArray(np.ascontiguousarray(slice_labels, dtype=np.uint16)[None])
    thin.CopyInformation(canonical[:, :, int(canonical_slice):int(canonical_slice) + 1])
    restored = sitk.GetArrayFromImage(sitk.DICOMOrient(thin, orientation_code(original)))  # a copy: the image is temporary
    nx, ny, nz = original.GetSize()
    if restored.shape != (1, ny, nx):
        raise RuntimeError("the slice is not axial in the original grid")  # canonical_slice_index refuses those
    dtype = np.uint8 if int(restored.max(initial=0)) <= np.iinfo(np.uint8).max else np.uint16
    out = np.zeros((nz, ny, nx), dtype=dtype)  # the smallest type, as label maps are written
    out[int(stored_slice)] = restored[0]
    image = sitk.GetImageFromArray(out)
    image.CopyInformation(original)
    return image
