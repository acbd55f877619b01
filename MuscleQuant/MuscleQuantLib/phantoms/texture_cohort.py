"""Radiomics cohorts: L3 slices whose muscle texture (myosteatosis) carries part of the hazard.

Each patient has a latent myosteatosis score ``t`` (standard normal). It lowers muscle attenuation
a little and makes the muscle heterogeneous (a fine-grained HU field whose amplitude grows with
``t``, plus fatty spots that stay inside the muscle outline). Survival follows a Weibull PH model
with the SMI, age and sex terms of :class:`CohortTruth` plus ``log(texture_hr) * t``. Setting
``texture_hr = 1`` gives the same images with no texture signal — the check that a deep model
does not find what is not there.

Two sites with different scanners (noise, blur) give an external test set: site A patients are
split into training and internal test, site B is the external test.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..fileio import write_atomic, write_json
from ..progress import NULL_PROGRESS, Progress
from .abdomen_ct import ERECTOR, RECTUS, generate_l3_slice
from .base import CTScanner, finalize
from .cohort import CohortTruth, clinical_table
from .registry import write_case
from .shapes import smooth_field
from .subject import sample_subject

SITES: dict[str, CTScanner] = {"A": CTScanner(noise_sd_hu=8.0, blur_mm=0.8), "B": CTScanner(noise_sd_hu=11.0, blur_mm=1.0)}
SPLITS = ("train", "internal", "external")


@dataclass(frozen=True)
class TextureTruth:
    """How the latent myosteatosis score shows in the image and in the hazard."""

    texture_hr_per_sd: float = 2.0  # hazard ratio per SD of the latent score; 1.0 = no texture signal
    attenuation_shift_hu_per_sd: float = -2.0  # mean muscle HU change per SD
    heterogeneity_hu: float = 7.0  # SD of the intramuscular HU field at t = 0
    heterogeneity_log_slope: float = 0.45  # the SD is multiplied by exp(slope * t)
    grain_mm: float = 2.5  # spatial scale of the heterogeneity
    fat_spot_fraction: float = 0.03  # share of muscle pixels in fatty spots at t = 0 (x exp(0.8 t))
    fat_spot_hu: float = -45.0  # HU change of a fatty spot (it stays above -29 HU: still muscle)
    external_fraction: float = 0.35  # share of patients scanned at site B (the external set)
    internal_fraction: float = 0.3  # share of site A patients held out as the internal test set
    survival: CohortTruth = field(default_factory=lambda: CohortTruth(os_hr_per_step=0.55, pfs_hr_per_step=0.7))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["survival"] = self.survival.to_dict()
        data["sites"] = {name: asdict(s) for name, s in SITES.items()}
        data["model"] = ("Weibull PH: log h = log h0 + beta_index*(smi-center) + log(hr_age)*(age-60) + log(hr_male)*male "
                         "+ log(texture_hr_per_sd)*t, t ~ N(0,1) the latent myosteatosis score")
        return data


def add_texture(image: np.ndarray, labels: np.ndarray, latent: float, spacing_xy: float, rng: np.random.Generator,
                truth: TextureTruth) -> None:
    """Paint the latent score into the labelled muscle of a canonical (z, y, x) slice, in place."""
    muscle = (labels >= RECTUS) & (labels <= ERECTOR)
    sigma = max(truth.grain_mm / spacing_xy, 0.5)
    amplitude = truth.heterogeneity_hu * np.exp(truth.heterogeneity_log_slope * latent)
    field_hu = smooth_field(rng, image.shape[1:], sigma, amplitude)[None]
    spots = smooth_field(rng, image.shape[1:], 0.7)[None]
    fraction = float(np.clip(truth.fat_spot_fraction * np.exp(0.8 * latent), 0.002, 0.25))
    threshold = float(np.quantile(spots[muscle], 1.0 - fraction)) if muscle.any() else np.inf
    change = field_hu + truth.attenuation_shift_hu_per_sd * latent + np.where(spots > threshold, truth.fat_spot_hu, 0.0)
    image[muscle] = image[muscle] + change[muscle]


def _split_of(site: str, rng: np.random.Generator, truth: TextureTruth) -> str:
    if site != "A":
        return "external"
    return "internal" if rng.random() < truth.internal_fraction else "train"


def _measure(case, patient_id: str) -> dict[str, Any]:
    """The L3 measurements a user would get from ``musclequant quantify`` on the reference labels."""
    from ..quantify.engine import QuantifyOptions, quantify_images
    from ..quantify.patient import make_patient

    subject = case.metadata["subject"]
    patient = make_patient(age=subject["age"], sex=subject["sex"], height=subject["height_m"],
                           weight=subject["weight_kg"])
    options = QuantifyOptions(preset="l3", patient_id=patient_id, metadata=case.metadata)
    return quantify_images(case.image, case.labels, options, patient).row


def generate_texture_cohort(n: int, seed: int, out: str | Path, truth: TextureTruth = TextureTruth(),
                            resolution: str = "standard", progress: Progress = NULL_PROGRESS) -> dict[str, Any]:
    """Write images, reference labels, metadata, clinical.csv (with site and split), measurements.csv and the truth."""
    out = Path(out)
    entries, subjects, smi, latents, sites, splits, rows = [], [], [], [], [], [], []
    n_external = int(round(n * truth.external_fraction))
    for i in range(n):
        progress.update("phantom", i / n, f"texture cohort case {i + 1} of {n}")
        rng = np.random.default_rng(np.random.SeedSequence([seed, 7731, i]))
        subject = sample_subject(rng)
        latent = float(rng.standard_normal())
        site = "B" if i >= n - n_external else "A"
        raw, _ = generate_l3_slice(rng, subject, resolution)
        add_texture(raw.image, raw.labels, latent, raw.spacing[0], rng, truth)
        raw.truth["texture_latent"] = latent
        case_id = f"tex_s{seed}_{i:04d}"
        case = finalize(raw, case_id, "l3", subject, rng, ct_scanner=SITES[site])
        case.metadata.update(seed=seed, index=i, site=site)
        entries.append(write_case(case, out))
        rows.append(_measure(case, case_id))
        subjects.append(subject)
        smi.append(raw.truth["index"]["value"])
        latents.append(latent)
        sites.append(site)
        splits.append(_split_of(site, rng, truth))
    progress.update("phantom", 1.0, f"wrote {n} L3 slices")
    ids = [e["case_id"] for e in entries]
    survival_rng = np.random.default_rng(np.random.SeedSequence([seed, 7732]))
    extra_lp = np.log(truth.texture_hr_per_sd) * np.asarray(latents)
    clinical = clinical_table(ids, subjects, np.asarray(smi), survival_rng, truth.survival, extra_lp)
    clinical.insert(1, "site", sites)
    clinical.insert(2, "split", splits)
    measurements = pd.DataFrame(rows)
    write_json(out / "dataset.json", {"anatomy": "l3", "seed": seed, "kind": "texture_cohort", "cases": entries})
    write_atomic(out / "clinical.csv", lambda p: clinical.to_csv(p, index=False))
    write_atomic(out / "measurements.csv", lambda p: measurements.to_csv(p, index=False))
    write_json(out / "cohort_truth.json", {**truth.to_dict(), "n": n, "seed": seed, "anatomy": "l3",
                                            "latent": dict(zip(ids, latents, strict=True))})
    return {"out": str(out), "cases": n, "clinical": str(out / "clinical.csv"),
            "measurements": str(out / "measurements.csv"), "truth": str(out / "cohort_truth.json"),
            "sets": {s: splits.count(s) for s in SPLITS}}
