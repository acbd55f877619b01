"""Which prediction goes with which reference, and how one pair becomes a :class:`CaseResult`.

Everything a pair needs is checked here before anything is measured or written: readable integer
label maps on one grid, a known preset for ``--merge-sides``, a slice inside the image. Errors name
the file or field and say what to fix.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..fileio import names_existing_path
from ..imageio import image_suffix, read_image, require_same_grid
from .cohort import CaseResult
from .metrics import ALL_LABELS_NAME, array_spacing, evaluate_label_maps, present_labels

LABEL_MAP_TAILS = ("_labels", "_label", "_segmentation", "_seg", "_mask")
PAIR_COLUMNS = ("case_id", "prediction", "reference")
OPTIONAL_PAIR_COLUMNS = ("image", "slice", "summary")


@dataclass(frozen=True)
class PairSpec:
    """One prediction/reference pair and what is known about it."""

    case_id: str
    prediction: Path
    reference: Path
    image: Path | None = None  # only to check that both maps lie on the image's grid
    slice_index: int | None = None
    summary: Path | None = None  # the engine's <stem>_segmentation.json (auto-detected when None)


@dataclass(frozen=True)
class EvaluationOptions:
    label_names: dict[int, str] | None = None  # explicit names; they also select the labels evaluated
    labels: tuple[int, ...] | None = None  # explicit label values to evaluate
    merge_sides: str | None = None  # None, "prediction" or "both"
    preset: str | None = None  # for --merge-sides; default: the prediction summary's preset
    slice_index: int | None = None  # compare this stored slice only (2D presets)


def case_id_from_name(path: Path) -> str:
    """``case7_image_labels.nii.gz`` (engine) and ``case7_labels.nii.gz`` (phantom) both give ``case7``."""
    name = Path(path).name
    suffix = image_suffix(name)
    stem = name[: len(name) - len(suffix)] if suffix else name
    for tail in LABEL_MAP_TAILS:
        if stem.endswith(tail) and len(stem) > len(tail):
            stem = stem[: -len(tail)]
            break
    if stem.endswith("_image") and len(stem) > len("_image"):
        stem = stem[: -len("_image")]
    return stem


def find_summary(prediction: Path) -> Path | None:
    """The engine's summary beside its label map (``X_labels.nii.gz`` → ``X_segmentation.json``)."""
    name = prediction.name
    suffix = image_suffix(name)
    stem = name[: len(name) - len(suffix)] if suffix else name
    stem = stem[: -len("_labels")] if stem.endswith("_labels") else stem
    candidate = prediction.with_name(f"{stem}_segmentation.json")
    return candidate if candidate.is_file() else None


def parse_label_names(text: str) -> dict[int, str]:
    """Names from inline ``'1=a,2=b'`` or a JSON file: ``{value: name}``, ``{"label_names": {...}}``,
    or the engine's ``{"labels": [{value, name}, ...]}`` (the same forms as ``quantify``, plus the
    engine's)."""
    path = Path(text)
    if path.suffix.lower() == ".json" or names_existing_path(path):
        data: Any = _read_json(path, "label names")
        data = data.get("label_names", data) if isinstance(data, dict) else data
        if isinstance(data, dict) and isinstance(data.get("labels"), list):
            data = data["labels"]
        if isinstance(data, list):
            data = {item.get("value"): item.get("name") for item in data if isinstance(item, dict)}
        if not isinstance(data, dict):
            raise InputError("label names JSON must map values to names", path=path)
    else:
        pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
        if not pairs or any(len(p) != 2 or not p[1].strip() for p in pairs):
            raise InputError("use a JSON file or 'value=name,value=name'", field="--label-names")
        data = {k.strip(): v.strip() for k, v in pairs}
    try:
        names = {int(k): str(v) for k, v in data.items() if v is not None}
    except (TypeError, ValueError):
        raise InputError("label values must be integers", field="--label-names") from None
    if not names or any(value <= 0 for value in names):
        raise InputError("needs at least one label, values > 0 (0 is background)", field="--label-names")
    return names


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a readable {what} JSON ({' '.join(str(exc).split())})", path=path) from None


def pairs_from_csv(path: Path) -> list[PairSpec]:
    """Pairs from a CSV with case_id, prediction, reference[, image, slice, summary]; relative paths
    are taken from the CSV's folder so the table can travel with its data."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"not a readable CSV ({exc})", path=path) from None
    if not rows:
        raise InputError("no rows (expected a header case_id,prediction,reference and one row per case)", path=path)
    missing = [c for c in PAIR_COLUMNS if c not in rows[0]]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)} (found: {', '.join(rows[0])})", path=path)

    def resolve(text: str) -> Path:
        candidate = Path(text.strip())
        return candidate if candidate.is_absolute() else path.parent / candidate

    pairs = []
    for line, row in enumerate(rows, start=2):
        values = {k: (row.get(k) or "").strip() for k in (*PAIR_COLUMNS, *OPTIONAL_PAIR_COLUMNS)}
        for column in PAIR_COLUMNS:
            if not values[column]:
                raise InputError(f"line {line}: empty {column}", path=path, field=column)
        slice_index = None
        if values["slice"]:
            try:
                slice_index = int(values["slice"])
            except ValueError:
                raise InputError(f"line {line}: slice {values['slice']!r} is not an integer",
                                 path=path, field="slice") from None
        pairs.append(PairSpec(values["case_id"], resolve(values["prediction"]), resolve(values["reference"]),
                              resolve(values["image"]) if values["image"] else None, slice_index,
                              resolve(values["summary"]) if values["summary"] else None))
    _refuse_duplicates([p.case_id for p in pairs], str(path))
    return pairs


def pairs_from_dirs(pred_dir: Path, ref_dir: Path, pred_glob: str, ref_glob: str) -> list[PairSpec]:
    """Pair the label maps of two folders by case id; any prediction or reference without a partner
    is refused, so a missing case cannot silently drop out of the cohort statistics."""
    found: dict[str, dict[str, Path]] = {}
    for role, folder, pattern in (("prediction", pred_dir, pred_glob), ("reference", ref_dir, ref_glob)):
        if not folder.is_dir():
            raise InputError("not a folder", path=folder)
        files = sorted(p for p in folder.glob(pattern) if p.is_file() and image_suffix(p))
        if not files:
            raise InputError(f"no label maps match {pattern!r}", path=folder)
        ids = [case_id_from_name(p) for p in files]
        _refuse_duplicates(ids, str(folder))
        found[role] = dict(zip(ids, files, strict=True))
    predictions, references = found["prediction"], found["reference"]
    for role, only in (("prediction", predictions.keys() - references.keys()),
                       ("reference", references.keys() - predictions.keys())):
        if only:
            other = "reference" if role == "prediction" else "prediction"
            listed = ", ".join(sorted(only)[:5]) + (" …" if len(only) > 5 else "")
            raise InputError(f"{len(only)} {role}(s) without a {other}: {listed}",
                             path=pred_dir if role == "prediction" else ref_dir)
    return [PairSpec(case_id, predictions[case_id], references[case_id]) for case_id in sorted(predictions)]


def _refuse_duplicates(ids: list[str], where: str) -> None:
    seen: set[str] = set()
    for case_id in ids:
        if case_id in seen:
            raise InputError(f"case id {case_id!r} appears twice", path=where)
        seen.add(case_id)


def read_label_array(path: Path) -> tuple[sitk.Image, np.ndarray]:
    """A label map and its array; refuses non-integer or negative values (an image, not labels)."""
    image = read_image(path, allow_single_slice=True)
    array = sitk.GetArrayFromImage(image)
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.isfinite(array)) or not np.all(np.equal(np.mod(array, 1), 0)):
            raise InputError("holds non-integer values; a label map is required", path=path)
        array = array.astype(np.int32)
    if array.size and array.min() < 0:
        raise InputError(f"holds negative values (min {array.min()}); a label map is required", path=path)
    return image, array


def _merge_sides(array: np.ndarray, preset_name: str, path: Path) -> np.ndarray:
    from ..pipeline.postprocess import merge_sides
    from ..presets import get_preset

    preset = get_preset(preset_name)
    known = {label.value for label in preset.output_labels()}
    unknown = sorted(set(present_labels(array)) - known)
    if unknown:
        raise InputError(f"holds label value(s) {unknown[:8]} that preset {preset_name!r} does not output; "
                         "--merge-sides expects the engine's sided labels", path=path, field="--merge-sides")
    return merge_sides(array, preset)


def _choose_slice(spec: PairSpec, options: EvaluationOptions, summary: dict[str, Any], depth: int) -> int | None:
    """The pair's own slice, else --slice, else the summary's slice, else 0 for a one-slice grid."""
    slice_info = summary.get("slice")
    summary_slice = slice_info.get("index") if isinstance(slice_info, dict) else None
    for value, field in ((spec.slice_index, "slice"), (options.slice_index, "--slice"), (summary_slice, "summary slice")):
        if value is None:
            continue
        if not isinstance(value, int) or not 0 <= value < depth:
            raise InputError(f"slice {value} is outside the label maps (0…{depth - 1})", path=spec.prediction,
                             field=field)
        return value
    return 0 if depth == 1 else None


def evaluate_pair(spec: PairSpec, options: EvaluationOptions) -> CaseResult:
    """Read, check, optionally merge sides and restrict to one slice, then measure every label."""
    reference_image, reference = read_label_array(spec.reference)
    prediction_image, prediction = read_label_array(spec.prediction)
    if spec.image is not None:
        grid = read_image(spec.image, allow_single_slice=True)
        require_same_grid(grid, reference_image, spec.reference)
        require_same_grid(grid, prediction_image, spec.prediction)
    else:
        require_same_grid(reference_image, prediction_image, spec.prediction)
    summary_path = spec.summary or find_summary(spec.prediction)
    summary = _read_json(summary_path, "segmentation summary") if summary_path else {}
    if not isinstance(summary, dict):
        raise InputError("segmentation summary JSON must be an object", path=summary_path)
    info: dict[str, Any] = {"summary": str(summary_path) if summary_path else None, "merge_sides": options.merge_sides}

    names: dict[int, str] = {}
    names_source = "default (label_<value>)"
    if options.merge_sides:
        preset_name = options.preset or summary.get("preset")
        if not preset_name:
            raise InputError("needs --preset (or the prediction's _segmentation.json naming its preset)",
                             field="--merge-sides")
        from ..presets import get_preset

        prediction = _merge_sides(prediction, preset_name, spec.prediction)
        if options.merge_sides == "both":
            reference = _merge_sides(reference, preset_name, spec.reference)
        names = {label.value: label.name for label in get_preset(preset_name).labels}
        names_source = f"preset {preset_name} training classes (sides merged)"
        info["preset"] = preset_name
    elif isinstance(summary.get("labels"), list):
        names = {int(item["value"]): str(item["name"]) for item in summary["labels"]
                 if isinstance(item, dict) and "value" in item and "name" in item}
        names_source = "prediction summary"
    if options.label_names:
        names, names_source = dict(options.label_names), "--label-names"
    info["label_names_source"] = names_source

    slice_index = _choose_slice(spec, options, summary, reference.shape[0])
    spacing = array_spacing(reference_image.GetSpacing(), 3)
    if slice_index is not None:
        prediction, reference, spacing = prediction[slice_index], reference[slice_index], spacing[1:]

    if options.labels is not None:
        values: list[int] = sorted(options.labels)
    elif options.label_names:
        values = sorted(options.label_names)  # explicit names select the labels (others may be organs)
    else:
        values = sorted(set(names) | set(present_labels(prediction, reference)))
    # The all-muscle row leaves out labels named as bone or other tissue (femur, iliac bone, fat).
    from ..quantify.labels import label_infos

    muscles = [info.label_id for info in label_infos(values, names) if info.is_muscle]
    results = evaluate_label_maps(prediction, reference, spacing, values, union_of=muscles)
    labelled = [(value, ALL_LABELS_NAME if value is None else names.get(value, f"label_{value}"), metrics)
                for value, metrics in results]
    return CaseResult(spec.case_id, str(spec.prediction), str(spec.reference),
                      "slice" if slice_index is not None else "volume", slice_index, tuple(spacing), labelled, info)
