"""One case, in whatever process runs it: read the chosen series (falling back to the next candidate when
it is unreadable or the level is not in view) → find the level → segment → plausibility flags →
quantify → case folder (label map, JSON, QA image, thumbnail, optional DICOM SEG/SR), committed at once."""

from __future__ import annotations

import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from .. import __version__
from ..errors import MuscleQuantError
from .discover import Case
from .select import CHOSEN, SeriesChoice, no_series_reason
from .settings import BatchSettings
from .store import CaseStore

STATUS_DONE, STATUS_EXCLUDED, STATUS_FAILED = "done", "excluded", "failed"


@dataclass
class CaseTask:
    """Everything a worker needs for one case (picklable: it travels to Dask workers)."""

    case: Case
    choices: list[SeriesChoice]
    settings: BatchSettings
    fingerprint: dict[str, str]  # input_sha256, models_sha256, settings_sha256


def run_case_task(task: CaseTask) -> dict[str, Any]:
    """Run and commit one case; returns its state (small: the table row and where the files are)."""
    store = CaseStore(task.settings.out)
    temp = store.new_temp(task.case.case_id)
    started = time.monotonic()
    try:
        state = _measure(task, temp)
    except MuscleQuantError as exc:
        state = _state(task, STATUS_EXCLUDED, " ".join(str(exc).split()))
    except Exception as exc:  # noqa: BLE001 - one case never stops the batch; the next run retries it
        state = _state(task, STATUS_FAILED, f"internal error ({type(exc).__name__}: {' '.join(str(exc).split())})")
        state["traceback"] = traceback.format_exc(limit=8)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    state["seconds"] = round(time.monotonic() - started, 3)
    try:
        state["committed"] = store.commit(temp, task.case.case_id, state)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return state


def _state(task: CaseTask, status: str, reason: str = "", **extra: Any) -> dict[str, Any]:
    case = task.case
    row = {"case_id": case.case_id, "patient_id": case.patient_id, "status": status, "reason": reason,
           "study_uid": case.study_uid}
    row.update(extra.pop("row", {}))
    return {"schema": "musclequant.batch.case/1", "case_id": case.case_id, "status": status, "reason": reason,
            **task.fingerprint, "software": __version__, "row": row, "outputs": extra.pop("outputs", {}),
            "series": extra.pop("series", _series_rows(task.choices, {})), **extra}


def _series_rows(choices: list[SeriesChoice], attempts: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    rows = []
    for choice in choices:
        status, reason = attempts.get(choice.series.key, (choice.status, choice.reason))
        if status == CHOSEN and choice.series.key not in attempts and attempts:
            status, reason = "candidate", "not tried"
        rows.append({**choice.series.row(), "status": status, "reason": reason})
    return rows


def _measure(task: CaseTask, temp: Path) -> dict[str, Any]:
    from .reader import SeriesError, read_series
    from .worker import loaded

    settings, case = task.settings, task.case
    candidates = [c for c in task.choices if c.status in (CHOSEN, "candidate")]
    if not candidates:
        problems = "; ".join(f"{Path(f).name}: {r}" for f, r in case.problems)
        reason = no_series_reason(task.choices) + (f"; {problems}" if problems else "")
        return _state(task, STATUS_EXCLUDED, reason)
    models = loaded(settings)
    attempts: dict[str, tuple[str, str]] = {}
    measured = None
    for choice in candidates:
        info = choice.series
        try:
            volume = read_series(info)
        except SeriesError as exc:
            attempts[info.key] = ("rejected", " ".join(str(exc).split()))
            continue
        level = _level(case, volume.image, info.files[0], models, settings)
        if isinstance(level, str):
            attempts[info.key] = ("rejected", level)
            continue
        attempts[info.key] = (CHOSEN, "")
        measured = (info, volume, level)
        break
    if measured is None:
        reasons = [r for _, r in attempts.values()]
        return _state(task, STATUS_EXCLUDED, reasons[0] if len(set(reasons)) == 1 else "; ".join(reasons),
                      series=_series_rows(task.choices, attempts))
    info, volume, (slice_index, chosen_by, level_info) = measured
    return _segment_and_quantify(task, temp, models, info, volume, slice_index, chosen_by, level_info,
                                 _series_rows(task.choices, attempts))


def _level(case: Case, image: sitk.Image, path: str, models: Any, settings: BatchSettings
           ) -> tuple[int | None, str, dict[str, Any] | None] | str:
    """(stored slice, how chosen, finder result) or the reason the level is not usable in this series."""
    from ..levels.find import find_level
    from ..presets import get_preset

    preset = get_preset(models.model.card["preset"])
    if preset.spatial_dims != 2:
        return None, "volume", None
    if case.slice_index is not None:
        if not 0 <= case.slice_index < image.GetSize()[2]:
            return f"manifest slice {case.slice_index} is outside the series (0..{image.GetSize()[2] - 1})"
        return case.slice_index, "manifest", None
    if models.level_model is None:
        return f"no level finder ({models.level_error}); give the slice in a manifest 'slice' column"
    found = find_level(preset, image, path, model=models.level_model, device=settings.device)
    if not found.found:
        return f"level not in view ({found.reason})"
    return found.slice_index, f"finder ({found.method}, confidence {found.confidence:.2f})", found.to_dict()


def _patient(case: Case):
    from ..quantify.patient import make_patient

    data = case.patient
    return make_patient(age=data.get("age"), sex=data.get("sex"), height=data.get("height_m"),
                        weight=data.get("weight_kg"), strict=False)


def _segment_and_quantify(task: CaseTask, temp: Path, models: Any, info: Any, volume: Any, slice_index: int | None,
                          chosen_by: str, level_info: dict[str, Any] | None, series_rows: list[dict[str, Any]]
                          ) -> dict[str, Any]:
    from ..fileio import synced_together, write_json
    from ..imageio import write_labelmap
    from ..quantify.engine import QuantifyOptions, quantify_images
    from ..quantify.qa import write_qa_png
    from ..quantify.report import write_case_json
    from .flags import plausibility
    from .gallery import write_thumbnail
    from .segmenter import segment_loaded

    settings, case = task.settings, task.case
    image = volume.image
    labels, summary = segment_loaded(models.model, image, info.files[0], model_dir=settings.model,
                                     slice_index=slice_index, chosen_by=chosen_by, level=level_info,
                                     hu_range=settings.hu_range, device=settings.device)
    block = plausibility(image, labels, models.model.card["preset"], summary, slice_index)
    summary["plausibility"] = block
    card = models.model.card
    options = QuantifyOptions(preset=card["preset"], slice_index=slice_index, patient_id=case.patient_id,
                              model={"id": card["model_id"], "sha256": card["card_sha256"]},
                              model_notice=summary.get("notice"),  # a starter model's draft notice, in every row
                              label_names={e["value"]: e["name"] for e in summary["labels"]},
                              plausibility=block)  # checked once: the JSON and the table row carry the same block
    result = quantify_images(image, labels, options, _patient(case))
    outputs = {"labels": "labels.nii.gz", "segmentation": "segmentation.json", "measurements": "measurements.json",
               "thumbnail": "thumbnail.png", **({"qa": "qa.png"} if settings.qa_png else {})}
    with synced_together():  # the case folder counts only once committed: its files are fsynced together
        write_labelmap(labels, image, temp / outputs["labels"])
        write_json(temp / outputs["segmentation"], summary)
        write_case_json(temp / outputs["measurements"], result.record, result.row)
        if settings.qa_png:
            write_qa_png(result, temp / outputs["qa"])
        write_thumbnail(image, labels, result.row.get("slice_index"), temp / outputs["thumbnail"])
    notes = []
    if settings.radiomics:
        from .radiomics import CASE_FILE, case_radiomics

        why = case_radiomics(image, labels, settings.radiomics, card["preset"], case.patient_id, slice_index,
                             options.label_names, temp / CASE_FILE)
        if why:
            notes.append(why)
        else:
            outputs["radiomics"] = CASE_FILE
    if settings.dicom_seg or settings.dicom_sr:
        if info.kind != "dicom":
            notes.append("DICOM SEG/SR need a DICOM source series; this case is an image file")
        else:
            seg = None
            if settings.dicom_seg:
                from .dicom_seg import write_seg

                path, seg = write_seg(temp, volume, labels, summary, card)
                outputs["dicom_seg"] = path.name
            if settings.dicom_sr:
                from .dicom_sr import write_sr

                outputs["dicom_sr"] = write_sr(temp, volume, summary, result.row, card["preset"], seg).name
    from .flags import row_columns

    row = {"series_uid": info.key if info.kind == "dicom" else "", "series_description": info.description,
           "source": info.files[0] if info.kind == "file" else str(Path(info.files[0]).parent),
           "slice_chosen_by": chosen_by.split(" (")[0],
           "level_confidence": round(level_info["confidence"], 4) if level_info else None,
           **row_columns(block),
           "patient_data_source": ";".join(f"{k}={v}" for k, v in sorted(case.patient_source.items())),
           **{k: v for k, v in result.row.items() if k != "patient_id"}}
    source = {"key": info.key, "kind": info.kind, "files": info.files, "thickness_mm": info.thickness_mm}
    return _state(task, STATUS_DONE, "; ".join(notes), row=row, outputs=outputs, series=series_rows,
                  reasons_not_available=result.reasons, source_series=source)
