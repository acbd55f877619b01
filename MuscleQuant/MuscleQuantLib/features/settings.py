"""Which radiomic features are computed, and how: named profiles, recorded with every result.

The ``paper`` profile follows the HCC paper's feature set (first order, shape, GLCM, GLRLM, GLSZM,
GLDM, NGTDM on the original image and on wavelet, Laplacian-of-Gaussian, square, square-root,
logarithm and exponential filtered images): 1,311 features per region on a 2D slice, close to the
paper's 1,343. ``fast`` keeps the original and wavelet images (474 per region) for tests and quick
looks. A profile can be customised from a JSON file with the same keys.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError

FEATURE_CLASSES = ("firstorder", "shape", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


@dataclass(frozen=True)
class FeatureSettings:
    """PyRadiomics settings plus the filtered images to compute features on."""

    name: str
    image_types: dict[str, dict[str, Any]]
    bin_width: float = 25.0  # HU per grey level (PyRadiomics' default, usual for CT)
    feature_classes: tuple[str, ...] = FEATURE_CLASSES
    resampled_spacing_mm: float | None = None  # in-plane resampling before extraction; None keeps the scan's
    pad_mm: float = 20.0  # context kept around the mask so filters see real neighbours, not the crop edge
    extra: dict[str, Any] = field(default_factory=dict)  # further PyRadiomics settings, passed as given

    def pyradiomics_settings(self) -> dict[str, Any]:
        settings = {"binWidth": self.bin_width, "label": 1, "additionalInfo": False, **self.extra}
        if self.resampled_spacing_mm:
            settings["resampledPixelSpacing"] = [self.resampled_spacing_mm] * 3
        return settings

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["feature_classes"] = list(self.feature_classes)
        return data


_FILTERS = {"Square": {}, "SquareRoot": {}, "Logarithm": {}, "Exponential": {}}
PROFILES: dict[str, FeatureSettings] = {
    "paper": FeatureSettings("paper", {"Original": {}, "Wavelet": {}, "LoG": {"sigma": [1.0, 2.0, 3.0, 4.0, 5.0]},
                                       **_FILTERS}),
    "fast": FeatureSettings("fast", {"Original": {}, "Wavelet": {}}),
    "original": FeatureSettings("original", {"Original": {}}),
}


def load_settings(choice: str) -> FeatureSettings:
    """A profile name, or a JSON file with FeatureSettings keys (``name`` defaults to the file name)."""
    if choice in PROFILES:
        return PROFILES[choice]
    path = Path(choice)
    if not path.exists():
        raise InputError(f"neither a profile ({', '.join(PROFILES)}) nor an existing settings JSON file",
                         field="--features")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data.setdefault("name", path.stem)
        if "feature_classes" in data:
            data["feature_classes"] = tuple(data["feature_classes"])
        settings = FeatureSettings(**data)
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as exc:
        raise InputError(f"not a feature settings JSON ({exc})", path=path) from None
    unknown = set(settings.feature_classes) - set(FEATURE_CLASSES)
    if unknown:
        raise InputError(f"unknown feature classes {sorted(unknown)}; use {', '.join(FEATURE_CLASSES)}", path=path)
    if not settings.image_types:
        raise InputError("image_types is empty: give at least {\"Original\": {}}", path=path)
    return settings
