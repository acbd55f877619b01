"""Everything the MuscleQuant widget does that is not Qt: build engine runs, import their results,
measure and approve. The widget's Run button and the pytest tests call the very same functions.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
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

    model: Path | None
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
        state = ("starter, synthetic data only: a draft for annotation" if row.get("source") == "starter"
                 else "ready" if row.get("path") else "download")
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
    max_epochs: int | None = None  # a cap on top of the time budget (tests, quick trials)

    def version(self) -> str:
        return self.stamp or datetime.now().strftime("%Y%m%d.%H%M%S")


def approved_training_commands(job: ApprovedTraining, python: str | None = None) -> tuple[list[str], list[str], Path]:
    """(train command, import command, run folder) for training ``job.preset`` on the approved cases."""
    version = job.version()
    run = Path(job.runs_folder) / f"{job.preset}-approved-{version}"
    train = musclequant_command("train", "--preset", job.preset, "--data", job.store, "--out", run,
                                "--max-minutes", f"{job.minutes:g}", "--device", job.device, "--model-id",
                                f"{job.preset}-approved", "--version", version,
                                *(["--profile", job.profile] if job.profile else []),
                                *(["--max-epochs", str(job.max_epochs)] if job.max_epochs else []), python=python)
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
    check_model(run.model)
    work = Path(work_dir or tempfile.mkdtemp(prefix="musclequant-"))
    image = mrml.write_volume_for_engine(volume_node, work / "input.nrrd")
    process = EngineProcess(segment_command(image, work / "out", run, python), **process_kwargs)
    return process.start(), work


def finish_segmentation(process: EngineProcess, volume_node: Any, segmentation_node: Any = None) -> Any:
    """The finished run's result as a segmentation node (raises EngineError with the engine's message)."""
    summary = process.outcome()
    return mrml.import_engine_result(summary["files"]["labels"], summary, volume_node, segmentation_node)


def import_result(process: Any, volume_node: Any, selected: Any, confirm: Callable[[str], bool]) -> Any:
    """The finished run as a segmentation node: into the selected one when it belongs to the volume and
    ``confirm`` agrees to replace its segments (unapproved corrections), else into a new node."""
    target = segmentation_for(volume_node, selected)
    if target is not None and target.GetSegmentation().GetNumberOfSegments() and not confirm(
            f"Replace the segments of '{target.GetName()}'? Corrections not approved yet are lost "
            "(Cancel keeps them and puts the result in a new segmentation)."):
        target = None
    return finish_segmentation(process, volume_node, target)


def model_panel(rows: list[dict[str, Any]], preset: str | None, preset_title: str, local_folder: str,
                store: str | Path) -> tuple[list[dict[str, Any]], str]:
    """(model choices for the combo box, the no-model message or "" when a model is available)."""
    choices = model_choices(rows, preset)
    if choices or local_folder:
        return choices, ""
    return choices, no_model_message(preset_title, len(CaseStore(store).cases()) if str(store) else 0)


def approved_training_job(store: str | Path, preset: str, minutes: float, device: str,
                          stored: Any = None) -> ApprovedTraining:
    """The job of "Train on approved cases", its version stamp fixed now (train and import must agree);
    ``stored`` (QSettings) may hold an advanced profile and epoch cap (:mod:`.settings`)."""
    from . import settings

    profile = settings.value(stored, settings.TRAIN_PROFILE) if stored is not None else None
    max_epochs = settings.value(stored, settings.TRAIN_MAX_EPOCHS, 0) if stored is not None else 0
    job = ApprovedTraining(store=Path(store), preset=preset, minutes=minutes, device=device,
                           profile=profile or None, max_epochs=max_epochs or None)
    return dataclasses.replace(job, stamp=job.version())


def outline_segmentation(volume_node: Any, selected: Any, preset: str) -> Any:
    """For drawing by hand: the selected segmentation if it belongs to the volume, else a new one; either
    way holding an empty segment for each of the preset's labels (names the quantifier knows)."""
    import slicer

    node = segmentation_for(volume_node, selected)
    if node is None:
        node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", f"{volume_node.GetName()} outline")
        node.CreateDefaultDisplayNodes()
    mrml.add_empty_segments(node, volume_node, preset_labels(preset))
    return node


def apply_hu_choice(segmentation_node: Any, choice: str, preset: str | None) -> tuple[Any, int]:
    """"Apply HU range" on the volume the segmentation was made on, to its muscle segments only;
    returns (window, voxels removed). No window for MR."""
    summary = mrml.engine_summary(segmentation_node)
    window = hu_window(choice, summary, preset)
    names = muscle_names((summary or {}).get("preset") or preset)
    removed = mrml.apply_hu_range(segmentation_node, mrml.source_volume(segmentation_node), window, names)
    return window, sum(removed.values())


def enabled_widgets(busy: bool, segmentation_node: Any, preset: str | None) -> dict[str, bool]:
    """Which widgets are usable: nothing that starts work while a task runs (a second run would orphan
    the first); correction and "Use current slice" only with a segmentation whose volume still exists; no
    HU range for MR."""
    made_on = mrml.source_volume(segmentation_node)
    summary = mrml.engine_summary(segmentation_node) if segmentation_node is not None else None
    mr = is_mr((summary or {}).get("preset") or preset)
    idle = not busy
    return {"runButton": idle, "trainApprovedButton": idle, "refreshModelsButton": idle, "drawOutlineButton": idle,
            "cancelButton": busy, "approveButton": idle and segmentation_node is not None,
            "useCurrentSliceButton": idle and made_on is not None,
            "applyHuRangeButton": idle and made_on is not None and not mr, "huRangeComboBox": not mr}


def segmentation_for(volume_node: Any, selected: Any) -> Any:
    """The selected output segmentation if it may hold ``volume_node``'s result (made on it, or new and
    empty), else None (a new one): one segmentation per volume, another volume's is never overwritten."""
    if selected is None:
        return None
    made_on = mrml.source_volume(selected)
    if made_on is None:
        return selected if selected.GetSegmentation().GetNumberOfSegments() == 0 else None
    return selected if made_on.GetID() == volume_node.GetID() else None


def segment_blocking(volume_node: Any, run: SegmentRun, work_dir: str | Path | None = None,
                     python: str | None = None, timeout: float | None = None) -> Any:
    """Segment and wait (self-tests, scripts): exactly the widget's path without a timer."""
    process, _ = start_segmentation(volume_node, run, work_dir, python)
    process.wait(timeout=timeout)
    return finish_segmentation(process, volume_node)


def check_model(model: str | Path | None) -> Path:
    """The model folder, or InputError: nothing chosen (``Path("")`` is ``.``, an existing folder, so a plain
    ``is_dir`` check lets an empty choice through) or a folder without ``model.json``."""
    if model is None or str(model).strip() in ("", "."):
        raise InputError("no model is chosen: pick one in the model list or a local model folder", field="model")
    if not (Path(model) / "model.json").is_file():
        raise InputError("not a model folder (model.json is missing)", path=model)
    return Path(model)


def suggested_case_id(volume_node: Any) -> str:
    """A case id that puts no identifier on disk: for DICOM a pseudonym from the series UID's SHA-256
    (the same series always gets the same id; PatientID is never used), else the volume's name (a file
    the user named)."""
    import hashlib

    uids = mrml.dicom_uids(volume_node)
    if uids.get("series_instance_uid"):
        return "case-" + hashlib.sha256(uids["series_instance_uid"].encode()).hexdigest()[:12]
    return safe_case_id(volume_node.GetName() or "case")


def measure(volume_node: Any, labels: Any, names: dict[int, str], summary: dict[str, Any] | None,
            case_id: str, patient: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Quantify the approved label map (None when the preset is not one quantify knows)."""
    return measure_image(mrml.volume_to_sitk(volume_node), labels, names, summary, case_id, patient)


def measure_image(image: Any, labels: Any, names: dict[int, str], summary: dict[str, Any] | None,
                  case_id: str, patient: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """:func:`measure` on a SimpleITK image (no MRML: runs in a worker thread)."""
    import SimpleITK as sitk

    from ..quantify import QuantifyOptions, make_patient, quantify_images
    from ..quantify.presets import PRESETS

    preset = (summary or {}).get("preset")
    if preset not in PRESETS or not names:
        return None
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
            patient: dict[str, Any] | None = None, note: str = "", preset: str | None = None) -> Path:
    """Store the current segmentation as a new approved version with measurements and provenance.
    A segmentation drawn by hand (no engine summary) is measured with ``preset``'s labels."""
    return approval_task(store, case_id, approver, segmentation_node, volume_node, patient, note, preset)()


def approval_task(store: CaseStore, case_id: str, approver: str, segmentation_node: Any, volume_node: Any,
                  patient: dict[str, Any] | None = None, note: str = "",
                  preset: str | None = None) -> Callable[[], Path]:
    """Split an approval into the MRML part, done now on the calling (GUI) thread — the label map, the
    ``.seg.nrrd`` written with Slicer's writer to a staging file, the voxel arrays — and the returned
    function, which touches no MRML (SHA-256 of voxels and file, quantification, the versioned store) and
    so can run in a worker thread (:class:`.background.ThreadTask`)."""
    import shutil

    import SimpleITK as sitk

    summary = mrml.engine_summary(segmentation_node)
    if summary is None and preset:
        summary = hand_drawn_summary(preset)
    value_by_name = {label["name"]: int(label["value"]) for label in (summary or {}).get("labels", [])}
    approved, names = mrml.segmentation_to_labelmap(segmentation_node, volume_node, value_by_name)
    ai = None
    ai_path = segmentation_node.GetAttribute(mrml.AI_LABELS_ATTRIBUTE)
    if ai_path and Path(ai_path).is_file():
        ai = sitk.GetArrayFromImage(sitk.ReadImage(ai_path))
    for value, name in ((int(v), n) for n, v in value_by_name.items()):
        names.setdefault(value, name)  # labels the user emptied still get a Dice
    patient = {k: v for k, v in (patient or {}).items() if v not in (0, 0.0, "", None)} or None
    staging = Path(tempfile.mkdtemp(prefix="musclequant-approval-"))
    written = mrml.write_segmentation(segmentation_node, staging / "segmentation.seg.nrrd")
    image = mrml.volume_to_sitk(volume_node)  # a copy: the worker never reads MRML
    storage = volume_node.GetStorageNode()
    source_file = storage.GetFileName() if storage is not None and storage.GetFileName() else None
    identity_base = {"name": volume_node.GetName(), **mrml.dicom_uids(volume_node)}
    geometry = mrml.volume_geometry(volume_node)

    def finish() -> Path:
        try:
            identity = mrml.input_identity_from(image, geometry, identity_base, source_file)
            measured = {v: n for v, n in names.items() if (approved == v).any()}
            approval = Approval(
                case_id=case_id, approver=approver,
                write_segmentation=lambda path: shutil.copyfile(written, path),
                approved_labels=approved, ai_labels=ai, label_names=names, engine_summary=summary,
                input_identity=identity,
                measurements=measure_image(image, approved, measured, summary, case_id, patient), note=note)
            return store.approve(approval)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    return finish


def hand_drawn_summary(preset: str) -> dict[str, Any]:
    """What an outline drawn by hand stands for: the preset and its labels (values as the engine numbers
    them), no model — so it is measured and approved like an engine result."""
    return {"preset": preset, "model": None, "slice": None, "hu_range": None, "labels": preset_labels(preset),
            "source": "drawn by hand"}


def preset_labels(preset_name: str) -> list[dict[str, Any]]:
    """The engine's output labels of a preset (name, value, colour, side) for empty segments to paint."""
    from ..presets import get_preset
    from ..presets.terminology import terminology_for

    return [{"name": out.name, "value": out.value, "side": out.side, "color": list(terminology_for(out.name).color)}
            for out in get_preset(preset_name).output_labels()]


def muscle_names(preset_name: str | None) -> set[str] | None:
    """Names of the preset's output labels that are muscle (the HU window applies to them only)."""
    from ..presets import get_preset

    if not preset_name:
        return None
    preset = get_preset(preset_name)
    muscles = set(preset.muscle_values())
    return {out.name for out in preset.output_labels() if out.source_value in muscles}


def is_mr(preset_name: str | None) -> bool:
    from ..presets import get_preset

    return bool(preset_name) and get_preset(preset_name).modality == "MR"


def hu_window(choice: str, summary: dict[str, Any] | None, preset_name: str | None) -> tuple[float, float] | None:
    """The HU window "Apply HU range" uses: none for MR; "preset default" is the window the engine applied
    (from the summary), else the preset's own; any other choice is resolved like ``--hu-range``."""
    from ..pipeline.postprocess import resolve_hu_range
    from ..presets import get_preset

    preset_name = (summary or {}).get("preset") or preset_name
    if is_mr(preset_name):
        return None
    if choice in ("", HU_CHOICES[0]):
        applied = (summary or {}).get("hu_range") or {}
        if "window" in applied:
            return tuple(applied["window"]) if applied["window"] else None
        return resolve_hu_range(get_preset(preset_name).hu_range) if preset_name else None
    return resolve_hu_range(choice)


def plausibility_lines(summary: dict[str, Any] | None) -> list[str]:
    """One line per plausibility flag of the engine summary (``plausibility.flags``), for the highlighted
    result panel; empty when the summary has none."""
    block = (summary or {}).get("plausibility")
    flags = block.get("flags", []) if isinstance(block, dict) else (block or [])
    lines = []
    for flag in flags:
        where = f" {flag['label']}" if flag.get("label") else ""
        severity = flag.get("severity", "warning")
        lines.append(f"{severity}: {flag.get('check')}{where} = {flag.get('value')} (expected {flag.get('expected')}): "
                     f"{flag.get('reason', '')}".rstrip(": "))
    return lines


def no_model_message(preset_title: str, store_cases: int) -> str:
    """What a first-time user reads when no model for the preset is installed, and what they can do."""
    train = (f"train one on the {store_cases} approved case{'s' if store_cases != 1 else ''} in the case store "
             "(Train on approved cases)" if store_cases else
             "approve cases first, then train one on them (Train on approved cases)")
    return (f"No {preset_title} model is installed. You can: draw the outline by hand (Draw outline by hand, "
            f"then Approve); {train}; or choose a model folder.")


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
