"""A batch run from input to table: discover and select (here), run the cases that are not already
current in the state store (locally or on Dask), then rebuild the table, the series list and the gallery.
Re-running the same command skips finished cases, retries failed ones, and re-runs only the cases whose
input, models or settings changed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..fileio import write_json
from ..progress import NULL_PROGRESS, Progress
from .case import STATUS_DONE, STATUS_EXCLUDED, STATUS_FAILED, CaseTask
from .discover import discover
from .select import select_series
from .settings import BatchSettings
from .store import CaseStore
from .table import case_rows, write_measurements, write_series
from .worker import models_sha256

TABLE_EVERY = 10  # rewrite the table every this many committed cases, so a killed run leaves a recent one


def run_batch(source: Path, settings: BatchSettings, *, workers: int = 1, scheduler: str | None = None,
              cluster: str | None = None, cluster_options: dict[str, str] | None = None, cluster_jobs: int = 1,
              progress: Progress = NULL_PROGRESS) -> dict[str, Any]:
    """Run the batch; returns the summary (also written to ``OUT/summary.json``)."""
    from ..presets import get_preset

    started = time.monotonic()
    if not settings.model.is_dir():
        raise InputError("model folder not found", path=settings.model, field="--model")
    models = models_sha256(settings)
    preset = get_preset(settings.preset)
    progress.update("batch", 0.0, f"looking for studies in {source}")
    cases, problems = discover(source)
    if not cases:
        raise InputError("no DICOM series or image files found", path=source)
    out = settings.out
    out.mkdir(parents=True, exist_ok=True)
    store = CaseStore(out)
    recovered = store.recover()
    write_json(out / "run.json", {"input": str(source), "settings": settings.to_dict(), "models_sha256": models})
    tasks, static, skipped = [], {}, 0
    for case in cases:
        choices = select_series(case, preset.modality, settings.selection)
        static[case.case_id] = [{**c.series.row(), "status": c.status, "reason": c.reason} for c in choices]
        fingerprint = {"input_sha256": case.input_sha256(), "models_sha256": models,
                       "settings_sha256": settings.fingerprint()}
        if store.is_current(store.read(case.case_id), fingerprint):
            skipped += 1
            continue
        tasks.append(CaseTask(case, choices, settings, fingerprint))
    case_ids = [c.case_id for c in cases]
    progress.update("batch", 0.0, f"{len(cases)} cases: {skipped} already done, {len(tasks)} to run"
                    + (f" (cleaned {recovered['removed']} interrupted, restored {recovered['restored']})"
                       if any(recovered.values()) else ""))
    counter = {"n": 0}

    def on_done(state: dict[str, Any]) -> None:
        counter["n"] += 1
        progress.update("batch", counter["n"] / max(len(tasks), 1),
                        f"{state['case_id']}: {state['status']}{' - ' + state['reason'] if state['reason'] else ''}",
                        case=state["case_id"], status=state["status"])
        if counter["n"] % TABLE_EVERY == 0:
            write_measurements(out, case_rows(store, case_ids))

    if tasks:
        if scheduler or cluster:
            from .dask_executor import run_dask

            run_dask(tasks, on_done, scheduler=scheduler, cluster=cluster, cluster_options=cluster_options or {},
                     jobs=cluster_jobs)
        else:
            from .local import run_local

            run_local(tasks, workers, on_done)
    store.recover()  # temporary folders of attempts that died (a killed worker's case ran again elsewhere)
    rows = case_rows(store, case_ids)
    write_measurements(out, rows)
    write_series(out, store, case_ids, static, problems)
    if settings.radiomics:
        from .radiomics import write_cohort_radiomics

        write_cohort_radiomics(out, store, case_ids)
    summary = _summary(rows, store, case_ids, len(tasks), skipped, time.monotonic() - started, workers, scheduler)
    from .gallery import build_gallery

    build_gallery(out, rows, summary)
    write_json(out / "summary.json", summary)
    summary["files"] = {k: str(out / v) for k, v in (("measurements", "measurements.csv"), ("series", "series.csv"),
                                                     ("gallery", "gallery.html"), ("cases", "cases"))}
    progress.update("batch", 1.0, f"{summary['done']} done, {summary['excluded']} excluded, {summary['failed']} "
                    f"failed, {summary['flagged']} flagged; {summary['seconds_per_case']} s per case")
    return summary


def _summary(rows: list[dict[str, Any]], store: CaseStore, case_ids: list[str], ran: int, skipped: int,
             seconds: float, workers: int, scheduler: str | None) -> dict[str, Any]:
    count = lambda status: sum(r.get("status") == status for r in rows)  # noqa: E731
    case_seconds = [s.get("seconds", 0.0) for s in (store.read(c) for c in case_ids) if s]
    return {"cases": len(rows), "done": count(STATUS_DONE), "excluded": count(STATUS_EXCLUDED),
            "failed": count(STATUS_FAILED), "flagged": sum(r.get("plausibility_status") == "needs_review" for r in rows),
            "ran": ran, "skipped_current": skipped, "wall_seconds": round(seconds, 2),
            "seconds_per_case": round(seconds / ran, 3) if ran else None,
            "mean_case_seconds": round(sum(case_seconds) / len(case_seconds), 3) if case_seconds else None,
            "executor": f"dask {scheduler}" if scheduler else f"local, {workers} worker(s)"}
