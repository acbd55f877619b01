"""One generator module per anatomy; adding an anatomy is one new module and one line here."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..fileio import write_json
from ..imageio import write_image
from .base import ORIENTATIONS, PhantomCase, RawCase, finalize
from .subject import Subject, sample_subject

GENERATOR_MODULES = {
    "temporalis": "MuscleQuantLib.phantoms.head_mri",
    "c3": "MuscleQuantLib.phantoms.neck_ct",
    "l3": "MuscleQuantLib.phantoms.abdomen_ct",
    "thigh": "MuscleQuantLib.phantoms.thigh_ct",
}
ANATOMIES = tuple(GENERATOR_MODULES)
IN_VIEW_PROBABILITY = 0.85  # the rest miss the target level, as chest-only or head-only scans do


@dataclass(frozen=True)
class PhantomOptions:
    """Choices a caller may fix; ``None`` means drawn at random per case."""

    in_view: bool | None = None  # is the target level inside the field of view
    orientation: str | None = None  # one of base.ORIENTATIONS
    resolution: str = "standard"  # "low" doubles in-plane spacing, for fast tests

    def __post_init__(self) -> None:
        if self.orientation is not None and self.orientation not in ORIENTATIONS:
            raise ValueError(f"orientation must be one of {ORIENTATIONS}")
        if self.resolution not in ("standard", "low"):
            raise ValueError("resolution must be 'standard' or 'low'")


class Generator(Protocol):
    def __call__(self, rng: np.random.Generator, subject: Subject, in_view: bool, resolution: str) -> RawCase: ...


def get_generator(anatomy: str) -> Generator:
    if anatomy not in GENERATOR_MODULES:
        raise ValueError(f"unknown anatomy {anatomy!r}; choose from {', '.join(ANATOMIES)}")
    return importlib.import_module(GENERATOR_MODULES[anatomy]).generate


def case_rng(anatomy: str, seed: int, index: int) -> np.random.Generator:
    """Independent, reproducible stream per (anatomy, seed, case): case 7 is the same whatever N is."""
    return np.random.default_rng(np.random.SeedSequence([seed, ANATOMIES.index(anatomy), index]))


def case_id(anatomy: str, seed: int, index: int) -> str:
    return f"{anatomy}_s{seed}_{index:04d}"


def generate_case(anatomy: str, seed: int, index: int, options: PhantomOptions = PhantomOptions()) -> PhantomCase:
    """Generate one case deterministically from (anatomy, seed, index)."""
    rng = case_rng(anatomy, seed, index)
    subject = sample_subject(rng)
    in_view = options.in_view if options.in_view is not None else bool(rng.random() < IN_VIEW_PROBABILITY)
    raw = get_generator(anatomy)(rng, subject, in_view, options.resolution)
    case = finalize(raw, case_id(anatomy, seed, index), anatomy, subject, rng, options.orientation)
    case.metadata["seed"] = seed
    case.metadata["index"] = index
    return case


def case_files(case_id_: str, extra_names: list[str]) -> dict[str, str]:
    """File names of a case, relative to its folder."""
    files = {"image": f"{case_id_}_image.nii.gz", "labels": f"{case_id_}_labels.nii.gz", "metadata": f"{case_id_}.json"}
    files.update({name: f"{case_id_}_{name}.nii.gz" for name in extra_names})
    return files


def write_case(case: PhantomCase, out_dir: str | Path) -> dict[str, Any]:
    """Write image, label maps and metadata; each file appears whole or not at all."""
    out_dir = Path(out_dir)
    files = case_files(case.case_id, sorted(case.extra_labels))
    write_image(case.image, out_dir / files["image"])
    write_image(case.labels, out_dir / files["labels"])
    for name, image in case.extra_labels.items():
        write_image(image, out_dir / files[name])
    case.metadata["files"] = files
    write_json(out_dir / files["metadata"], case.metadata)
    return {"case_id": case.case_id, **files}
