"""Radiomic features of a case's muscle regions with PyRadiomics.

Single-slice presets (L3, C3, temporalis) are measured on one axial slice of the canonical (LPS)
image, chosen as ``quantify`` chooses it (``--slice``, the metadata level, else the slice with
most muscle), and passed to PyRadiomics as a true 2D image so 2D shape and 2D filters apply.
Volume presets (thigh) are measured in 3D. The image is cropped to the regions' bounding box plus
a margin first: the filters then run on a small image, which makes the paper profile about ten
times faster without changing the features inside the mask.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..errors import InputError, MuscleQuantError
from ..pipeline.geometry import canonical_slice_index, to_canonical
from ..quantify.engine import QuantifyOptions, choose_slice
from ..quantify.labels import label_infos
from ..quantify.presets import PRESETS
from .settings import FeatureSettings

REGIONS = ("muscle", "psoas")  # all skeletal muscle labels; psoas labels (the HCC paper's two regions)
MIN_REGION_PIXELS = 10  # smaller regions give meaningless texture matrices: reported as missing


@dataclass
class CaseFeatures:
    """One case's row plus how it was measured."""

    patient_id: str
    values: dict[str, float]  # "<region>_<imagetype>_<class>_<feature>" -> value
    info: dict[str, Any]  # slice, rule, regions' labels and pixel counts, warnings


PYRADIOMICS_MISSING = ("PyRadiomics is not installed; it is an optional part (radiomics only) built from source: "
                      "pip install numpy versioneer && pip install --no-build-isolation pyradiomics==3.0.1 "
                      "(needs a C compiler and Python 3.11; it has no wheel and does not build on Python 3.12)")


def pyradiomics_version() -> str:
    """The installed PyRadiomics version; a one-line error saying how to install it when it is missing
    (segmentation, measurement and cohort statistics never need it)."""
    try:
        import radiomics
    except ImportError:
        raise MuscleQuantError(PYRADIOMICS_MISSING, field="radiomics") from None
    return str(radiomics.__version__)


def _extractor(settings: FeatureSettings, two_d: bool):
    import radiomics
    from radiomics import featureextractor

    radiomics.setVerbosity(logging.ERROR)
    extractor = featureextractor.RadiomicsFeatureExtractor(**settings.pyradiomics_settings())
    extractor.disableAllFeatures()
    for name in settings.feature_classes:
        extractor.enableFeatureClassByName("shape2D" if (name == "shape" and two_d) else name)
    extractor.disableAllImageTypes()
    for name, args in settings.image_types.items():
        extractor.enableImageTypeByName(name, customArgs=dict(args))
    return extractor


def region_labels(label_names: dict[int, str], present: list[int]) -> dict[str, list[int]]:
    """Label values of each region among the labels present."""
    infos = label_infos(present, label_names)
    return {"muscle": [i.label_id for i in infos if i.is_muscle],
            "psoas": [i.label_id for i in infos if i.is_muscle and i.is_psoas]}


def _crop(image: sitk.Image, mask_union: np.ndarray, pad_mm: float) -> tuple[slice, ...]:
    """Array slices of the union's bounding box plus ``pad_mm`` on each in-plane side."""
    spacing = image.GetSpacing()[::-1]  # array order
    where = np.argwhere(mask_union)
    lo, hi = where.min(axis=0), where.max(axis=0) + 1
    pad = [int(np.ceil(pad_mm / s)) for s in spacing]
    return tuple(slice(max(0, a - p), min(n, b + p)) for a, b, p, n in zip(lo, hi, pad, mask_union.shape, strict=True))


def _as_image(array: np.ndarray, reference: sitk.Image, box: tuple[slice, ...]) -> sitk.Image:
    out = sitk.GetImageFromArray(array)
    spacing = reference.GetSpacing()
    corner = [box[d].start for d in range(array.ndim)][::-1]
    out.SetSpacing(spacing)
    out.SetDirection(reference.GetDirection())
    out.SetOrigin(reference.TransformIndexToPhysicalPoint([int(c) for c in corner]))
    return out


def extract_case(image: sitk.Image, labels: sitk.Image, settings: FeatureSettings, *, preset: str = "l3",
                 patient_id: str = "case", slice_index: int | None = None, metadata: dict[str, Any] | None = None,
                 label_names: dict[int, str] | None = None) -> CaseFeatures:
    """Features of every region present; a missing or too small region gives NaN with a warning."""
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; use {', '.join(PRESETS)}", field="--preset")
    names = dict(PRESETS[preset].label_names)
    names.update({int(k): v for k, v in ((metadata or {}).get("label_names") or {}).items()})
    names.update(label_names or {})
    array = sitk.GetArrayFromImage(labels)
    present = [int(v) for v in np.unique(array) if v != 0]
    regions = region_labels(names, present)
    if not regions["muscle"]:  # an empty or wrong label map is an error, not a row of missing values
        raise InputError("the label map holds no muscle label; nothing to measure", field="labels")
    info: dict[str, Any] = {"preset": preset, "warnings": [], "regions": {}}
    canonical_image = to_canonical(sitk.Cast(image, sitk.sitkFloat32))
    canonical_labels = to_canonical(labels)
    two_d = not PRESETS[preset].volumetric
    if two_d:
        options = QuantifyOptions(preset=preset, slice_index=slice_index, metadata=metadata)
        k, rule = choose_slice(options, array, regions["muscle"])
        k_canonical = canonical_slice_index(image, canonical_image, k)
        canonical_image, canonical_labels = canonical_image[:, :, k_canonical], canonical_labels[:, :, k_canonical]
        info.update(slice_index=k, slice_rule=rule)
    values_array = sitk.GetArrayFromImage(canonical_image)
    label_array = sitk.GetArrayFromImage(canonical_labels)
    union = np.isin(label_array, regions["muscle"] + regions["psoas"])
    extractor = _extractor(settings, two_d)
    box = _crop(canonical_image, union, settings.pad_mm) if union.any() else None
    values: dict[str, float] = {}
    for region in REGIONS:
        mask = np.isin(label_array, regions[region])
        count = int(mask.sum())
        info["regions"][region] = {"labels": {v: names.get(v, str(v)) for v in regions[region]}, "pixels": count}
        if count < MIN_REGION_PIXELS or box is None:
            info["warnings"].append(f"region {region}: {count} pixels (< {MIN_REGION_PIXELS}); its features are missing")
            continue
        crop_image = _as_image(values_array[box], canonical_image, box)
        crop_mask = _as_image(mask[box].astype(np.uint8), canonical_image, box)
        result = extractor.execute(crop_image, crop_mask)
        values.update({f"{region}_{key}": float(value) for key, value in result.items()
                       if not key.startswith("diagnostics_")})
    return CaseFeatures(patient_id, values, info)
