"""Find a preset's measurement level with its slab model (SPEC 2.1–2.3).

The 3D slab model segments the body between two levels (C3 section, L3 body, mid-orbit to orbital
roof). The slab's z-profile — the share of each slice's body the model labels slab — gives its edges
and centre with sub-voxel precision; protocol levels are fixed fractions of the slab. A profile with
no slab, an implausibly thin or thick one, or one cut by the scan's edge is reported as "not found"
(the level is outside the field of view), never as a guess.

Two refinements share this reading: a ladder model (L3) names every vertebra and the level is counted
along the whole scan first (:mod:`.ladder`); an anchored finder (orbits) also segments a compact
structure whose centroid gives one protocol level and whose absence means "not in view" (:mod:`.anchors`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..pipeline.geometry import slice_position_mm
from ..pipeline.prepare import PreparedVolume, prepare_stored_volume
from ..presets import get_preset
from ..presets.base import Preset, Profile
from .anchors import Anchor, anchored_edges, find_anchor, protocol_levels
from .ladder import fit_ladder, is_ladder, ladder_profiles, slice_probabilities
from .specs import LevelSpec, check_protocol, spec_for

METHOD = "slab-resunet"
LADDER_METHOD = "vertebra-ladder-resunet"


@dataclass
class LevelResult:
    """A finder's answer; ``found`` False means the level is not in the field of view."""

    preset: str  # the level preset (slab model)
    protocol: str  # which level ``slice_index`` is
    found: bool
    confidence: float  # 0…1: slab probability × thickness plausibility × uniqueness (not found: the evidence seen)
    method: str = METHOD
    slice_index: int | None = None  # stored slice index (the input file's own k)
    slice_fraction: float | None = None  # the unrounded stored slice
    position_mm: list[float] | None = None  # physical (LPS) centre of ``slice_index``
    adjacent_slices: list[int] = field(default_factory=list)  # e.g. L3's three adjacent slices
    levels: dict[str, dict[str, Any]] = field(default_factory=dict)  # every protocol level
    slab_thickness_mm: float | None = None
    reason: str | None = None  # why not found
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def message(self) -> str:
        """One line for users."""
        if self.found:
            return (f"{self.protocol} at slice {self.slice_index} (z {self.position_mm[2]:.1f} mm), "
                    f"confidence {self.confidence:.2f}")
        return f"{self.protocol} level not found: {self.reason}"


def default_level_model(spec: LevelSpec) -> Path | None:
    """The newest model for the spec's slab preset in the model cache (trained, imported or fetched)."""
    from ..models.registry import cache_status, cached_models, version_key

    candidates = []
    for folder in cached_models():
        status, _, card = cache_status(folder)
        if status != "corrupt" and card is not None and card.get("preset") == spec.level_preset:
            candidates.append((card.get("created", ""), version_key(card["version"]), folder))
    if not candidates:  # a fresh install: the shipped starter model, if there is one
        from ..models.starter import starter_for

        return starter_for(spec.level_preset)
    return max(candidates)[2]


def load_level_model(spec: LevelSpec, model_dir: str | Path | None, device: Any = "auto") -> Any:
    """The slab model at ``model_dir`` (default: newest installed), checked to be the right preset; ONNX
    Runtime or PyTorch as :func:`..inference.runtime.load_inference_model` chooses (``device``: a --device
    value or a torch device)."""
    from ..inference.runtime import load_inference_model

    if model_dir is None:
        model_dir = default_level_model(spec)
        if model_dir is None:
            raise InputError(f"no {spec.level_preset} level model is installed: train one (musclequant train "
                             f"--preset {spec.level_preset} ...) and pass --level-model DIR, or give the slice "
                             "with --slice K", field="--level-model")
    model = load_inference_model(model_dir, str(device))
    if model.card.get("preset") != spec.level_preset:
        raise InputError(f"model is for preset {model.card.get('preset')!r}, the finder needs {spec.level_preset!r}",
                         path=model_dir, field="--level-model")
    return model


def find_level(preset: Preset | str, image: sitk.Image, image_path: str | Path | None = None, *,
               model_dir: str | Path | None = None, model: Any = None,
               protocol: str | None = None, device: str = "auto") -> LevelResult:
    """Locate ``preset``'s level in ``image`` (any orientation); see the module docstring."""
    spec = spec_for(preset)
    protocol = check_protocol(spec, protocol)
    if model is None:
        model = load_level_model(spec, model_dir, device)
    torch_device = _torch_device(model, device)
    level_preset = get_preset(spec.level_preset)
    card = getattr(model, "card", {}) or {}
    level_preset, profile = _card_settings(level_preset, card)
    model_name = str(model_dir) if model_dir is not None else card.get("model_id")
    if image.GetDimension() != 3 or image.GetSize()[2] < 2:
        return LevelResult(spec.level_preset, protocol, False, 0.0, reason="the image is a single slice; "
                           "finding a level needs a volume", model=model_name)
    # the coarse finder grid straight from the stored voxels: reorienting a 40-Mvoxel CT cost more than the network
    prepared = prepare_stored_volume(image, level_preset, profile.spacing)
    voted, probabilities = slab_maps(model, prepared, profile.roi, torch_device)
    body = body_mask(prepared.image, level_preset.modality)
    names = [label["name"] for label in card.get("labels", [])][1:] or [label.name for label in level_preset.labels]
    if is_ladder(names) and probabilities.shape[0] == len(names) + 1:
        result = read_ladder(spec, protocol, names, probabilities, body, profile.spacing[2])
    else:
        vote, slab, cranial, caudal = slab_profiles(voted, probabilities, body)
        result = read_profile(spec, protocol, vote, slab, profile.spacing[2], cranial, caudal)
        anchor = find_anchor(spec, names, probabilities, profile.spacing)
        if anchor is not None:
            result = apply_anchor(spec, protocol, result, anchor, profile.spacing[2])
    result.model = model_name
    if result.found and not _axial(image):
        # A stored slice of a coronal or sagittal acquisition is not a level: its index would name the wrong plane
        # and 2D presets refuse such images, so say where the level is and what to do instead.
        z = _stored_converter(image, prepared, physical=True)(result.levels[protocol]["network_z"])
        return LevelResult(spec.level_preset, protocol, False, result.confidence, model=model_name,
                           reason=f"{protocol} is at z {z:.1f} mm (head-foot), but this image's slices are not axial: "
                                  "reformat it to axial slices to find and measure the level on a slice")
    if result.found:
        to_stored = _stored_converter(image, prepared)
        for name, net_z in result.levels.items():
            stored = to_stored(net_z["network_z"])
            k = int(np.clip(round(stored), 0, image.GetSize()[2] - 1))
            result.levels[name] = {"slice_index": k, "slice_fraction": round(stored, 3),
                                   "position_mm": slice_position_mm(image, k)}
        primary = result.levels[protocol]
        result.slice_index, result.slice_fraction = primary["slice_index"], primary["slice_fraction"]
        result.position_mm = primary["position_mm"]
        nz = image.GetSize()[2]
        result.adjacent_slices = [k for k in range(result.slice_index - spec.adjacent, result.slice_index + spec.adjacent + 1)
                                  if 0 <= k < nz]
    return result


def _torch_device(model: Any, device: str) -> Any:
    """The torch device a PyTorch model runs on (None for an ONNX Runtime model: no torch import)."""
    from ..pipeline.predict import is_onnx, select_device

    return None if is_onnx(model) else select_device(device)


def slab_maps(model: Any, prepared: PreparedVolume, roi: tuple[int, ...], device: Any
              ) -> tuple[np.ndarray, np.ndarray]:
    """(voted slab mask, member-mean class probabilities (C, Z, Y, X)) on the prepared grid; fold
    ensembles vote. Class 1 is the slab; zone models add 2 cranial and 3 caudal."""
    from ..pipeline.predict import decide, is_onnx, stitched

    ensemble, stacked = stitched(model, prepared.image, roi, device, "softmax", 2, sw_batch_size=2)
    voted = decide(ensemble, stacked) == 1
    if is_onnx(ensemble):
        probabilities = ensemble.mean_probabilities(stacked[None])[0]
    else:
        import torch

        probabilities = ensemble.mean_probabilities(torch.from_numpy(stacked[None]))[0].numpy()
    return voted, probabilities


def body_mask(image: np.ndarray, modality: str) -> np.ndarray:
    """Body voxels of a prepared (normalised) volume: above −225 HU for CT, Otsu foreground for MR."""
    if modality == "CT":
        return image > -0.9  # the slab models' CT window is −250…250 HU scaled to −1…1
    otsu = sitk.OtsuThreshold(sitk.GetImageFromArray(image.astype(np.float32)), 0, 1)
    return sitk.GetArrayFromImage(otsu) > 0


def slab_profiles(voted: np.ndarray, probabilities: np.ndarray, body: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Per network slice, over the body: share voted slab, mean slab / cranial / caudal probability
    (the last two None for a slab-only model). Slices with almost no body count as no slab."""
    area = body.reshape(body.shape[0], -1).sum(axis=1).astype(np.float64)
    enough = area >= max(4.0, 0.05 * area.max(initial=0.0))
    safe = np.maximum(area, 1.0)

    def mean(values: np.ndarray) -> np.ndarray:
        return np.where(enough, (values * body).reshape(len(area), -1).sum(axis=1) / safe, 0.0)

    zones = probabilities.shape[0] >= 4
    return (mean(voted), mean(probabilities[1]), mean(probabilities[2]) if zones else None,
            mean(probabilities[3]) if zones else None)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (start, end) of each run of True."""
    runs, start = [], None
    for i, value in enumerate(list(mask) + [False]):
        if value and start is None:
            start = i
        elif not value and start is not None:
            runs.append((start, i - 1))
            start = None
    return runs


def fit_slab(slab: np.ndarray, caudal: np.ndarray, cranial: np.ndarray) -> tuple[float, float]:
    """Edges (in slice-centre coordinates) of the caudal | slab | cranial step that agrees best with the
    profiles, refined by the partial-volume share of the two boundary slices."""
    n = len(slab)
    cs, cb, ca = (np.concatenate([[0.0], np.cumsum(p)]) for p in (slab, caudal, cranial))
    lower, upper = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")  # slab = slices [L, U)
    score = cb[lower] + cs[upper] - cs[lower] + ca[n] - ca[upper]
    score[upper <= lower] = -np.inf
    lo, hi = np.unravel_index(int(np.argmax(score)), score.shape)
    low_edge = lo - 0.5 + (1.0 - slab[lo]) - (slab[lo - 1] if lo > 0 else 0.0)
    high_edge = hi - 0.5 - (1.0 - slab[hi - 1]) + (slab[hi] if hi < n else 0.0)
    return float(low_edge), float(max(high_edge, low_edge + 0.5))


def read_ladder(spec: LevelSpec, protocol: str, names: list[str], probabilities: np.ndarray, body: np.ndarray,
                slice_mm: float) -> LevelResult:
    """A ladder model's answer: fit the vertebra order to the scan, then read the target's body as a slab
    whose confidence also carries how well the ladder agrees with the network."""
    per_slice, enough = slice_probabilities(probabilities, body)
    ladder = fit_ladder(spec, names, per_slice, enough, slice_mm)
    profiles = ladder_profiles(ladder, protocol, names, per_slice)
    if profiles is None:
        return LevelResult(spec.level_preset, protocol, False, round(ladder.agreement * float(
            per_slice[:, names.index(protocol)].max(initial=0.0)), 3), method=LADDER_METHOD,
            reason=f"{protocol} not in the field of view (the scan shows {ladder.span()})")
    vote, slab, cranial, caudal = profiles
    result = read_profile(spec, protocol, vote, slab, slice_mm, cranial, caudal, evidence=ladder.agreement)
    result.method = LADDER_METHOD
    if not result.found:
        result.reason = f"{result.reason} (the scan shows {ladder.span()})"
    return result


def read_profile(spec: LevelSpec, protocol: str, vote: np.ndarray, prob: np.ndarray, slice_mm: float,
                 cranial: np.ndarray | None = None, caudal: np.ndarray | None = None,
                 evidence: float = 1.0) -> LevelResult:
    """Slab edges, plausibility and confidence from the z-profiles (network slices of ``slice_mm``).

    The strongest run of slab slices is located first; its edges are then fitted, within two nominal
    slab thicknesses around it, as a caudal | slab | cranial step (zone models), or slab | not slab."""
    name = spec.level_preset
    runs = _runs(vote > 0.5)
    if not runs:
        return LevelResult(name, protocol, False, round(float(prob.max(initial=0.0)), 3),
                           reason="no slab in the field of view")
    masses = [float(prob[a:b + 1].sum()) for a, b in runs]
    best = int(np.argmax(masses))
    a, b = runs[best]
    t_min, t_nominal, t_max = spec.thickness_mm
    margin = int(np.ceil(2 * t_nominal / slice_mm))
    lo, hi = max(0, a - margin), min(len(prob), b + 1 + margin)
    below = caudal if caudal is not None else 1.0 - prob
    above = cranial if cranial is not None else 1.0 - prob
    low_edge, high_edge = fit_slab(prob[lo:hi], below[lo:hi], above[lo:hi])
    low_edge, high_edge = low_edge + lo, high_edge + lo
    thickness = (high_edge - low_edge) * slice_mm
    inside = prob[int(np.ceil(low_edge)):int(np.floor(high_edge)) + 1]
    strength = float(inside.mean()) if inside.size else 0.0
    plausibility = float(np.exp(-0.5 * ((thickness - t_nominal) / (0.35 * t_nominal)) ** 2))
    uniqueness = masses[best] / sum(masses)
    confidence = round(strength * plausibility * uniqueness * evidence, 3)
    base = {"slab_thickness_mm": round(thickness, 2), "confidence": confidence}
    touches_edge = low_edge < 0.5 or high_edge > len(vote) - 1.5
    if thickness < t_min or thickness > t_max:
        reason = f"slab {thickness:.0f} mm thick, expected {t_min:.0f}–{t_max:.0f} mm"
        if touches_edge:
            reason += " (cut by the edge of the scan)"
        return LevelResult(name, protocol, False, reason=reason, **base)
    if touches_edge and thickness < 0.8 * t_nominal:
        return LevelResult(name, protocol, False, reason="slab cut by the edge of the scan", **base)
    if confidence < spec.min_confidence:
        return LevelResult(name, protocol, False, reason=f"confidence {confidence:.2f} below "
                           f"{spec.min_confidence:.2f}", **base)
    return LevelResult(name, protocol, True, levels=protocol_levels(spec, low_edge, high_edge), **base)


def apply_anchor(spec: LevelSpec, protocol: str, slab: LevelResult, anchor: Anchor, slice_mm: float) -> LevelResult:
    """An anchored finder's answer: without the structure in view the level is not found, however
    slab-like the profile; with it, every protocol level comes from the structure (see :mod:`.anchors`)
    and the slab reading is kept only as the evidence reported when nothing is found."""
    name = spec.level_preset
    if not anchor.present:
        return LevelResult(name, protocol, False, round(slab.confidence * 0.5, 3), slab_thickness_mm=slab.slab_thickness_mm,
                           reason=f"no pair of {anchor.structure}s in the field of view ({anchor.volume_mm3 / 1000:.1f} "
                           f"cm³ marked, {spec.anchor_min_mm3 / 1000:.1f} needed as two{_pieces(spec, anchor)})")
    low, high = anchored_edges(spec, anchor, slice_mm)
    thickness = round((high - low) * slice_mm, 2)
    if anchor.confidence < spec.min_confidence:
        return LevelResult(name, protocol, False, anchor.confidence, slab_thickness_mm=thickness,
                           reason=f"confidence {anchor.confidence:.2f} below {spec.min_confidence:.2f}")
    return LevelResult(name, protocol, True, anchor.confidence, levels=protocol_levels(spec, low, high),
                       slab_thickness_mm=thickness, method=f"{METHOD}+{anchor.structure}-anchor")


def _pieces(spec: LevelSpec, anchor: Anchor) -> str:
    """The largest marked pieces against what one must be: a field of view that cuts the globes leaves
    pieces too small to anchor, and the user should see that rather than only a total."""
    if not anchor.pieces_mm3:
        return ""
    low, high = spec.anchor_component_mm3
    sizes = " and ".join(f"{v / 1000:.1f}" for v in anchor.pieces_mm3)
    return (f"; largest pieces {sizes} cm³, each of a pair must be {low / 1000:.1f}–{high / 1000:.0f} cm³ "
            f"(globes cut by the edge of the scan or outside it)")


def _card_settings(preset: Preset, card: dict[str, Any]) -> tuple[Preset, Profile]:
    """Preset and profile as the model was trained (spacing, patch, intensity from its card), so an
    older model keeps working after a preset changes."""
    from dataclasses import replace

    from ..presets.base import Intensity

    prep = card.get("preprocessing", {})
    profile = preset.profile(prep.get("profile"))
    if "spacing_mm" in prep and "roi" in prep:
        profile = replace(profile, spacing=tuple(prep["spacing_mm"]), roi=tuple(prep["roi"]))
    if "intensity" in prep:
        preset = replace(preset, intensity=Intensity(**{k: tuple(v) if isinstance(v, list) else v
                                                        for k, v in prep["intensity"].items()}))
    return preset, profile


def _axial(image: sitk.Image) -> bool:
    """Whether the stored slice axis runs head-foot (the slices are axial, possibly tilted)."""
    slice_axis = np.abs(np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)[:, 2])
    return int(np.argmax(slice_axis)) == 2


def _stored_converter(original: sitk.Image, prepared: PreparedVolume, physical: bool = False):
    """Map a fractional z of the cropped network grid to the original's stored slice (via physical space), or
    with ``physical`` to its head-foot position in mm."""
    grid = prepared.grid
    probe = sitk.Image([1, 1, 1], sitk.sitkUInt8)
    probe.SetOrigin(grid.origin)
    probe.SetSpacing(grid.spacing)
    probe.SetDirection(grid.direction)
    cy = (prepared.crop[1].start + prepared.crop[1].stop - 1) / 2
    cx = (prepared.crop[2].start + prepared.crop[2].stop - 1) / 2
    z0 = prepared.crop[0].start

    def convert(network_z: float) -> float:
        point = probe.TransformContinuousIndexToPhysicalPoint((cx, cy, z0 + float(network_z)))
        return float(point[2]) if physical else float(original.TransformPhysicalPointToContinuousIndex(point)[2])

    return convert
