"""What a batch run is asked to do, as one picklable value that every worker receives."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SelectionSettings:
    """Series preferences: which series of a study is measured (the rest is reported with a reason)."""

    min_slices: int = 5
    max_tilt_deg: float = 45.0  # slice normal vs the body axis; beyond this the series is not axial
    prefer_thickness_mm: float = 3.0  # the series whose slices are closest to this comes first
    prefer_kernels: tuple[str, ...] = ()  # kernel names (case-insensitive substrings), best first


@dataclass(frozen=True)
class BatchSettings:
    """One batch run. ``level_finder`` names a picklable factory ``module:function`` that returns a
    level model (tests and benchmarks use a stand-in); normally ``level_model`` is a model folder."""

    preset: str
    out: Path
    model: Path
    level_model: Path | None = None
    level_finder: str | None = None
    hu_range: str | None = None
    selection: SelectionSettings = field(default_factory=SelectionSettings)
    dicom_seg: bool = False
    dicom_sr: bool = False
    radiomics: str | None = None  # a features profile (fast, paper, original) or settings JSON: per-case features
    qa_png: bool = True  # the full QA figure (matplotlib, ~0.5 s a case); the gallery thumbnail is always made
    device: str = "cpu"
    torch_threads: int = 1

    def fingerprint(self) -> str:
        """SHA-256 of everything that changes a case's result except the input and the models."""
        keep = {"preset": self.preset, "hu_range": self.hu_range, "selection": asdict(self.selection),
                "dicom_seg": self.dicom_seg, "dicom_sr": self.dicom_sr, "qa_png": self.qa_png,
                "radiomics": self.radiomics}
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return json.loads(json.dumps(data, default=str))
