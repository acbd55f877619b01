"""Find training pairs in a folder, check them, and prepare network-space samples.

Accepted layouts: a phantom folder (``dataset.json``), pairs ``<id>_image.<ext>`` with
``<id>_labels.<ext>`` (or ``<id>.seg.nrrd`` / ``<id>_labels.seg.nrrd`` from Slicer), optionally with
``<id>.json`` metadata giving the target level, or a case store of approvals (``approved``). Nothing is skipped silently: every case left out is
listed with its reason in the training summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..imageio import IMAGE_SUFFIXES, image_from_array, image_suffix, read_image, require_same_grid
from ..pipeline.geometry import canonical_slice_index, to_canonical
from ..pipeline.postprocess import merge_sides
from ..pipeline.prepare import PreparedSlice, PreparedVolume, prepare_slice, prepare_volume
from ..presets.base import Preset, Profile

LEVEL_SOURCES = ("slab:", "zones:", "ladder")  # label sources built from metadata, not from a label file


@dataclass
class TrainingCase:
    case_id: str
    image_path: Path
    labels_path: Path
    metadata: dict[str, Any] | None = None
    problem: str | None = None  # known before loading why the case cannot be used (listed as left out)
    # Randomised synthetic images (SynthSeg-style: a random value per tissue, air included) are not in HU by
    # design, so the HU check that guards users' scans would refuse some of them; NaN/inf are never written.
    synthetic_intensities: bool = False


@dataclass
class PreparedCase:
    case_id: str
    samples: list[PreparedSlice] | list[PreparedVolume]
    target: PreparedSlice | PreparedVolume  # what validation scores


@dataclass
class DatasetSummary:
    folder: str
    cases_found: int = 0
    cases_used: int = 0
    samples: int = 0
    left_out: list[dict[str, str]] = field(default_factory=list)


def discover_cases(folder: str | Path, label_source: str = "labels") -> list[TrainingCase]:
    """All image/label pairs in ``folder`` (see module docstring for the layouts).

    ``label_source`` "extra:<name>" trains on a phantom's extra label map instead of its muscle labels;
    "slab:…"/"zones:…" build a level finder's labels from the case metadata (see :func:`slab_labels`);
    "ladder" relabels the phantom's "vertebrae" map (see :func:`ladder_labels`).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("training data folder not found", path=folder)
    dataset_file = folder / "dataset.json"
    from .approved import approved_cases, is_case_store

    if not dataset_file.exists() and label_source == "labels" and is_case_store(folder):
        return approved_cases(folder)
    if dataset_file.exists():
        from ..datasetfile import inside, read_dataset, read_json_object

        entries = read_dataset(folder)
        synthetic = read_json_object(dataset_file, "dataset").get("kind") == "synthetic_training"
        key = ("vertebrae" if label_source == "ladder" else "image" if label_source.startswith(LEVEL_SOURCES)
               else label_source.removeprefix("extra:"))
        missing = [e["case_id"] for e in entries if key not in e]
        if missing:
            raise InputError(f"cases {missing[:3]} have no '{key}' label map (needed for label source "
                             f"{label_source!r})", path=dataset_file)
        return [TrainingCase(e["case_id"], folder / e["image"], inside(folder, e[key], dataset_file, key),
                             read_json_object(folder / e["metadata"], "case metadata") if e.get("metadata") else None,
                             synthetic_intensities=synthetic)
                for e in entries]
    cases = []
    for image_path in sorted(folder.iterdir()):
        suffix = image_suffix(image_path)
        if not suffix or not image_path.name.endswith(f"_image{suffix}"):
            continue
        case_id = image_path.name[: -len(f"_image{suffix}")]
        candidates = [folder / f"{case_id}_labels{s}" for s in IMAGE_SUFFIXES]
        candidates += [folder / f"{case_id}.seg.nrrd", folder / f"{case_id}_labels.seg.nrrd"]
        labels_path = next((c for c in candidates if c.exists()), None)
        metadata_path = folder / f"{case_id}.json"
        from ..datasetfile import read_json_object

        metadata = read_json_object(metadata_path, "case metadata") if metadata_path.exists() else None
        if labels_path is None:
            raise InputError(f"image has no label file (expected {case_id}_labels{suffix} or {case_id}.seg.nrrd)",
                             path=image_path)
        cases.append(TrainingCase(case_id, image_path, labels_path, metadata))
    if label_source != "labels":
        raise InputError(f"label source {label_source!r} needs a phantom folder with dataset.json", path=folder)
    if not cases:
        raise InputError("no training pairs found (expected dataset.json, or <id>_image.nii.gz with "
                         "<id>_labels.nii.gz / <id>.seg.nrrd)", path=folder)
    return cases


def load_pair(case: TrainingCase, preset: Preset) -> tuple[sitk.Image, sitk.Image]:
    """Image and training-class label map, refusing labels on another grid or with unknown values."""
    image = read_image(case.image_path, allow_single_slice=True,  # NaN/non-HU refused, except synthetic data
                       modality=None if case.synthetic_intensities else preset.modality)
    if preset.label_source == "ladder":
        vertebrae = read_image(case.labels_path, allow_single_slice=True)
        require_same_grid(image, vertebrae, case.labels_path)
        labels = ladder_labels(vertebrae, case.metadata, preset)
    elif preset.label_source.startswith(("slab:", "zones:")):
        labels = slab_labels(image, case.metadata, preset)
        for overlay in preset.label_source.split("|")[1:]:
            labels = _overlay_structure(labels, case, overlay, preset)
    elif case.labels_path.name.endswith(".seg.nrrd"):
        labels = _labels_from_segmentation(case.labels_path, image, preset)
    else:
        labels = read_image(case.labels_path, allow_single_slice=True)
        require_same_grid(image, labels, case.labels_path)
    values = set(np.unique(sitk.GetArrayViewFromImage(labels)).tolist()) - {0}
    known = {label.value for label in preset.labels}
    if not values <= known:
        raise InputError(f"label values {sorted(values - known)} are not classes of preset {preset.name!r} "
                         f"({', '.join(f'{lb.value}={lb.name}' for lb in preset.labels)})", path=case.labels_path)
    return image, sitk.Cast(labels, sitk.sitkUInt16)


def slab_labels(image: sitk.Image, metadata: dict[str, Any] | None, preset: Preset) -> sitk.Image:
    """A level finder's training labels, built from metadata × body mask (``preset.label_source``).

    ``slab:<lower>:<upper>``: 1 on the body from the first slice of ``lower`` to the last of ``upper``
    (a level contributes its first/last slice, a landmark its slice). ``zones:<lower>:<upper>[:<side>]``
    adds 2 on the body cranial of the slab and 3 caudal of it, so every voxel says where the level is —
    an out-of-view scan becomes all cranial or all caudal (judged from the vertebrae it shows, else
    ``side``) instead of an empty map.
    """
    if metadata is None:
        raise InputError(f"label source {preset.label_source!r} needs the case's metadata (<id>.json)")
    kind, lower, upper, *rest = preset.label_source.split("|")[0].split(":")
    array = sitk.GetArrayViewFromImage(image)
    out = np.zeros(array.shape, dtype=np.uint8)
    body = _body(image, preset)
    bounds = [_metadata_slices(metadata, lower), _metadata_slices(metadata, upper)]
    up = 1 if image.GetDirection()[8] >= 0 else -1  # does the stored slice index run towards the head
    if None not in bounds:
        lo = max(int(round(min(min(b) for b in bounds))), 0)  # type: ignore[arg-type]
        hi = min(int(round(max(max(b) for b in bounds))), array.shape[0] - 1)  # type: ignore[arg-type]
        out[lo:hi + 1][body[lo:hi + 1]] = 1
        if kind == "zones":
            cranial, caudal = (slice(hi + 1, None), slice(0, lo)) if up > 0 else (slice(0, lo), slice(hi + 1, None))
            out[cranial][body[cranial]] = 2
            out[caudal][body[caudal]] = 3
    elif kind == "zones":
        side = _out_of_view_side(metadata, lower) or (rest[0] if rest else None)
        if side is not None:
            out[body] = 2 if side == "cranial" else 3
    return image_from_array(out, image)


def ladder_labels(vertebrae: sitk.Image, metadata: dict[str, Any] | None, preset: Preset) -> sitk.Image:
    """A vertebra-ladder finder's training labels (label source ``ladder``): the phantom's "vertebrae"
    map with each vertebra relabelled to the preset's class of that name. Vertebrae beyond the ladder's
    ends take its end class, so the top class means "this vertebra or above"; discs stay background,
    which gives the finder crisp body edges, and the order along the scan gives the count.
    """
    from ..phantoms.vertebrae import VERTEBRA_LABEL_NAMES, VERTEBRA_LABELS

    names = (metadata or {}).get("extra_label_maps", {}).get("vertebrae") or {str(k): v for k, v in
                                                                             VERTEBRA_LABEL_NAMES.items()}
    classes = {label.name: label.value for label in preset.labels}
    ladder = sorted((name for name in classes if name in VERTEBRA_LABELS), key=VERTEBRA_LABELS.get)
    source = sitk.GetArrayViewFromImage(vertebrae)
    lookup = np.zeros(int(source.max(initial=0)) + 1, dtype=np.uint8)
    for value, name in names.items():
        if int(value) < len(lookup) and name in VERTEBRA_LABELS and ladder:
            order = VERTEBRA_LABELS[name]
            end = name if name in classes else ladder[0] if order < VERTEBRA_LABELS[ladder[0]] else ladder[-1]
            lookup[int(value)] = classes[end]
    return image_from_array(lookup[np.asarray(source, dtype=np.int64)], vertebrae)


def _overlay_structure(labels: sitk.Image, case: TrainingCase, overlay: str, preset: Preset) -> sitk.Image:
    """Paint one structure of a phantom's extra label map over the slab labels (``|<map>=<structure>``
    after a slab/zones source, e.g. ``|head_structures=globe``): the class named like the structure
    then marks it, so the finder sees the anatomy itself (the globes) and not only the slab around it."""
    map_name, structure = overlay.split("=")
    metadata = case.metadata or {}
    names = {v: int(k) for k, v in metadata.get("extra_label_maps", {}).get(map_name, {}).items()}
    file = metadata.get("files", {}).get(map_name)
    if file is None or structure not in names:
        raise InputError(f"case {case.case_id} has no {map_name!r} map with {structure!r} (needed for label source "
                         f"{preset.label_source!r})", path=case.image_path)
    extra = read_image(case.image_path.parent / file, allow_single_slice=True)
    require_same_grid(labels, extra, case.image_path.parent / file)
    out = sitk.GetArrayFromImage(labels)
    out[sitk.GetArrayViewFromImage(extra) == names[structure]] = preset.label_by_name()[structure].value
    return image_from_array(out, labels)


def _body(image: sitk.Image, preset: Preset) -> np.ndarray:
    from scipy import ndimage

    from ..pipeline.intensity import body_mask_ct, foreground_mask

    if preset.modality == "CT":
        return body_mask_ct(sitk.GetArrayViewFromImage(image).astype(np.float32))
    head = sitk.GetArrayFromImage(foreground_mask(sitk.Cast(image, sitk.sitkFloat32))) > 0
    return np.stack([ndimage.binary_fill_holes(s) for s in head])


def _out_of_view_side(metadata: dict[str, Any], target: str) -> str | None:
    """'cranial' when every vertebra in view lies above ``target``'s vertebra, 'caudal' when below."""
    from ..phantoms.vertebrae import VERTEBRA_LABELS

    order = VERTEBRA_LABELS.get(target.split("_")[0])
    seen = [VERTEBRA_LABELS[name] for name in metadata.get("levels", {}) if name in VERTEBRA_LABELS]
    if order is None or not seen:
        return None
    if max(seen) < order:
        return "cranial"
    return "caudal" if min(seen) > order else None


def _metadata_slices(metadata: dict[str, Any], name: str) -> tuple[float, float] | None:
    """(first, last) stored slice of a level, or (slice, slice) of a landmark; None when absent."""
    level = metadata.get("levels", {}).get(name)
    if level is not None:
        return float(level["first_slice"]), float(level["last_slice"])
    landmark = metadata.get("landmarks", {}).get(name)
    return (float(landmark["slice"]),) * 2 if landmark is not None else None


def _labels_from_segmentation(path: Path, image: sitk.Image, preset: Preset) -> sitk.Image:
    """A Slicer .seg.nrrd → training classes, matching segment names to preset labels (sided names too)."""
    from ..segnrrd import read_seg_nrrd

    segmentation = read_seg_nrrd(path, reference=image)
    by_name = preset.label_by_name()
    sided = {out.name: out.value for out in preset.output_labels()}
    sided_array = np.zeros(tuple(reversed(image.GetSize())), dtype=np.uint16)
    for value, name in segmentation.names.items():
        key = name.strip().lower().replace(" ", "_")
        mask = segmentation.labels == value
        if key in by_name:
            sided_array[mask] = 1000 + by_name[key].value  # unsided: mark directly as a class
        elif key in sided:
            sided_array[mask] = sided[key]
        else:
            raise InputError(f"segment {name!r} is not a label of preset {preset.name!r}", path=path)
    classes = merge_sides(np.where(sided_array >= 1000, 0, sided_array), preset)
    classes[sided_array >= 1000] = sided_array[sided_array >= 1000] - 1000
    return image_from_array(classes, image)


def target_stored_slice(metadata: dict[str, Any] | None, preset: Preset) -> float | None:
    """The stored slice of the preset's target level from phantom/approval metadata, if given."""
    if not metadata or not preset.target_level:
        return None
    level = metadata.get("levels", {}).get(preset.target_level)
    if level is not None:
        return float(level["center_slice"])
    landmark = metadata.get("landmarks", {}).get(preset.target_level) or metadata.get("landmarks", {}).get(
        f"{preset.target_level}_reference")
    return float(landmark["slice"]) if landmark is not None else None


def prepare_case(case: TrainingCase, preset: Preset, profile: Profile) -> PreparedCase | str:
    """Network-space samples of one case, or the reason it cannot be used."""
    image, labels = load_pair(case, preset)
    canonical, canonical_labels = to_canonical(image), to_canonical(labels)
    if preset.spatial_dims == 3:
        volume = prepare_volume(canonical, preset, profile.spacing, canonical_labels)
        negative = preset.role == "level" and case.metadata is not None and case.metadata.get("target_in_view") is False
        if not volume.labels.any() and not negative:  # a level finder learns from out-of-view scans too
            return "no labelled voxels"
        return PreparedCase(case.case_id, [volume], volume)
    label_array = sitk.GetArrayViewFromImage(canonical_labels)
    labelled = [k for k in range(label_array.shape[0]) if label_array[k].any()]
    if not labelled:
        return "no labelled slices"
    if case.metadata is not None and case.metadata.get("target_in_view") is False:
        return f"target level {preset.target_level} not in the field of view"
    stored_target = target_stored_slice(case.metadata, preset)
    if stored_target is not None:
        target = canonical_slice_index(image, canonical, int(round(stored_target)), str(case.image_path))
        half = int(round(profile.training.train_slab_mm / canonical.GetSpacing()[2]))
        chosen = [k for k in labelled if abs(k - target) <= half] or [min(labelled, key=lambda k: abs(k - target))]
    else:
        target = labelled[len(labelled) // 2]
        chosen = labelled
    samples = [prepare_slice(canonical, preset, profile.spacing, k, canonical_labels) for k in chosen]
    target_sample = next(s for s in samples if s.canonical_slice == min(chosen, key=lambda k: abs(k - target)))
    return PreparedCase(case.case_id, samples, target_sample)
