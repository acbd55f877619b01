"""Everything the MuscleQuant widget does that is not Qt: build engine runs, import their results,
measure and approve. The widget's Run button and the pytest tests call the very same functions.
"""

from __future__ import annotations

import dataclasses
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import InputError
from . import mrml
from .casestore import Approval, CaseStore, safe_case_id
from .process import EngineProcess, musclequant_command

DEVICES = ("auto", "cpu", "cuda")
HU_CHOICES = ("preset default", "alberta", "kreher", "none")


@dataclasses.dataclass(frozen=True)
class SegmentRun:
    """What the user chose in the widget."""

    model: Path
    preset: str | None = None
    slice_index: int | None = None  # None: the level finder chooses (2D presets)
    hu_range: str | None = None  # None: the preset's default
    device: str = "auto"


def preset_choices() -> list[tuple[str, str]]:
    """(name, title) of every preset a user segments with (level-finder presets are internal)."""
    from ..presets import all_presets

    return [(p.name, p.title) for p in all_presets().values() if p.role == "muscle"]


def hu_argument(choice: str) -> str | None:
    """Combo text → ``--hu-range`` value (None keeps the preset default)."""
    return None if choice in ("", HU_CHOICES[0]) else choice


def model_choices(rows: list[dict[str, Any]], preset: str | None) -> list[dict[str, Any]]:
    """Rows of ``musclequant models list`` usable for ``preset`` (unknown preset = usable), newest last."""
    usable = [r for r in rows if r.get("status") != "corrupt" and (preset is None or r.get("preset") in (None, preset))]
    for row in usable:
        state = "ready" if row.get("path") else "download"
        row["label"] = f"{row.get('name') or row['id']} {row['version']} ({state})"
    return usable


def list_models_command(python: str | None = None) -> list[str]:
    return musclequant_command("models", "list", python=python)


def fetch_model_command(model_id: str, version: str | None, python: str | None = None) -> list[str]:
    args = ["models", "fetch", model_id] + (["--version", version] if version else [])
    return musclequant_command(*args, python=python)


@dataclasses.dataclass(frozen=True)
class ApprovedTraining:
    """A model trained on the case store's approvals: the ``train`` run, then ``models import`` so the new
    model appears in the model list like any other."""

    store: Path
    preset: str
    minutes: float
    device: str = "auto"
    profile: str | None = None  # None: the preset's default (cpu)
    runs_folder: Path = Path.home() / "MuscleQuantModels"
    stamp: str = ""  # version and folder suffix; default: the time the run starts

    def version(self) -> str:
        return self.stamp or datetime.now().strftime("%Y%m%d.%H%M%S")


def approved_training_commands(job: ApprovedTraining, python: str | None = None) -> tuple[list[str], list[str], Path]:
    """(train command, import command, run folder) for training ``job.preset`` on the approved cases."""
    version = job.version()
    run = Path(job.runs_folder) / f"{job.preset}-approved-{version}"
    train = musclequant_command("train", "--preset", job.preset, "--data", job.store, "--out", run,
                                "--max-minutes", f"{job.minutes:g}", "--device", job.device, "--model-id",
                                f"{job.preset}-approved", "--version", version,
                                *(["--profile", job.profile] if job.profile else []), python=python)
    return train, musclequant_command("models", "import", run / "model", python=python), run


def segment_command(image: Path, out: Path, run: SegmentRun, python: str | None = None) -> list[str]:
    """The ``musclequant segment`` command line for one run (JSON progress, overwrite in the temp folder)."""
    args: list[str | Path] = ["segment", image, "--model", run.model, "--out", out, "--device", run.device,
                              "--overwrite"]
    if run.preset:
        args += ["--preset", run.preset]
    if run.slice_index is not None:
        args += ["--slice", str(run.slice_index)]
    if run.hu_range:
        args += ["--hu-range", run.hu_range]
    return musclequant_command(*args, python=python)


def start_segmentation(volume_node: Any, run: SegmentRun, work_dir: str | Path | None = None,
                       python: str | None = None, **process_kwargs: Any) -> tuple[EngineProcess, Path]:
    """Write the volume with Slicer's writer and start the engine in the background; returns the process
    and its work folder. The caller polls the process and then calls :func:`finish_segmentation`."""
    if not run.model or not Path(run.model).is_dir():
        raise InputError("choose a model folder (model.json + weights)", path=run.model)
    work = Path(work_dir or tempfile.mkdtemp(prefix="musclequant-"))
    image = mrml.write_volume_for_engine(volume_node, work / "input.nrrd")
    process = EngineProcess(segment_command(image, work / "out", run, python), **process_kwargs)
    return process.start(), work


def finish_segmentation(process: EngineProcess, volume_node: Any, segmentation_node: Any = None) -> Any:
    """The finished run's result as a segmentation node (raises EngineError with the engine's message)."""
    summary = process.outcome()
    return mrml.import_engine_result(summary["files"]["labels"], summary, volume_node, segmentation_node)


def segment_blocking(volume_node: Any, run: SegmentRun, work_dir: str | Path | None = None,
                     python: str | None = None, timeout: float | None = None) -> Any:
    """Segment and wait (self-tests, scripts): exactly the widget's path without a timer."""
    process, _ = start_segmentation(volume_node, run, work_dir, python)
    process.wait(timeout=timeout)
    return finish_segmentation(process, volume_node)


def suggested_case_id(volume_node: Any) -> str:
    """DICOM patient id + series UID tail when known, else the volume's name."""
    uids = mrml.dicom_uids(volume_node)
    if uids.get("patient_id"):
        return safe_case_id(f"{uids['patient_id']}_{uids.get('series_instance_uid', '')[-8:]}")
    return safe_case_id(volume_node.GetName() or "case")


def measure(volume_node: Any, labels: Any, names: dict[int, str], summary: dict[str, Any] | None,
            case_id: str, patient: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Quantify the approved label map (None when the preset is not one quantify knows)."""
    import SimpleITK as sitk

    from ..quantify import QuantifyOptions, make_patient, quantify_images
    from ..quantify.presets import PRESETS

    preset = (summary or {}).get("preset")
    if preset not in PRESETS:
        return None
    image = mrml.volume_to_sitk(volume_node)
    labels_image = sitk.GetImageFromArray(labels)
    labels_image.CopyInformation(image)
    model = (summary or {}).get("model") or {}
    slice_info = (summary or {}).get("slice") or {}
    options = QuantifyOptions(preset=preset, slice_index=slice_info.get("index"), label_names=names,
                              patient_id=case_id, model={"id": model.get("model_id"), "sha256": model.get("card_sha256")}
                              if model else None)
    from ..quantify.report import values_with_units

    result = quantify_images(image, labels_image, options, make_patient(**(patient or {})))
    return {"record": {**result.record, "values": values_with_units(result.row)}, "row": result.row}


def approve(store: CaseStore, case_id: str, approver: str, segmentation_node: Any, volume_node: Any,
            patient: dict[str, Any] | None = None, note: str = "") -> Path:
    """Store the current segmentation as a new approved version with measurements and provenance."""
    import SimpleITK as sitk

    summary = mrml.engine_summary(segmentation_node)
    value_by_name = {label["name"]: int(label["value"]) for label in (summary or {}).get("labels", [])}
    approved, names = mrml.segmentation_to_labelmap(segmentation_node, volume_node, value_by_name)
    ai = None
    ai_path = segmentation_node.GetAttribute(mrml.AI_LABELS_ATTRIBUTE)
    if ai_path and Path(ai_path).is_file():
        ai = sitk.GetArrayFromImage(sitk.ReadImage(ai_path))
    for value, name in ((int(v), n) for n, v in value_by_name.items()):
        names.setdefault(value, name)  # labels the user emptied still get a Dice
    approval = Approval(
        case_id=case_id, approver=approver,
        write_segmentation=lambda path: mrml.write_segmentation(segmentation_node, path),
        approved_labels=approved, ai_labels=ai, label_names=names, engine_summary=summary,
        input_identity=mrml.input_identity(volume_node),
        measurements=measure(volume_node, approved, {v: n for v, n in names.items() if (approved == v).any()},
                             summary, case_id, patient),
        note=note)
    return store.approve(approval)


def measurement_rows(version_dir: Path) -> list[dict[str, Any]]:
    """The approved measurements as (column, value, unit) rows for the results table."""
    import json

    path = Path(version_dir) / "measurements.json"
    if not path.is_file():
        return []
    document = json.loads(path.read_text(encoding="utf-8"))
    values = document.get("values") or {}
    if values:
        return [{"measure": k, "value": v.get("value") if isinstance(v, dict) else v,
                 "unit": v.get("unit", "") if isinstance(v, dict) else ""} for k, v in values.items()]
    return [{"measure": k, "value": v, "unit": ""} for k, v in (document.get("row") or {}).items()]
