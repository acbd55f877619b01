"""``musclequant demo``: the whole product on phantoms, end to end, on a CPU in about ten minutes.

For each preset: generate phantoms, train the CPU profile within a time budget, segment held-out
phantoms through the same ``segment`` path users take, evaluate against the phantom truth, quantify,
and write a short report. The benchmark script runs the same steps with larger budgets.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .command import Command
from .errors import InputError
from .fileio import write_atomic, write_json
from .progress import Progress

DEFAULT_PRESETS = ("l3", "c3", "temporalis", "thigh")
# Minutes of training per preset in the default demo: 9 minutes in all on a 2-core CPU.
DEFAULT_MINUTES = {"l3": 2.0, "c3": 2.0, "temporalis": 2.0, "thigh": 3.0}
DEFAULT_TRAIN_CASES = {"l3": 12, "c3": 12, "temporalis": 12, "thigh": 8}


@dataclass(frozen=True)
class DemoRequest:
    out: Path
    presets: tuple[str, ...] = DEFAULT_PRESETS
    minutes: dict[str, float] | None = None
    train_cases: dict[str, int] | None = None
    test_cases: int = 3
    seed: int = 0
    profile: str = "cpu"
    folds: int = 1


def _write_phantoms(anatomy: str, folder: Path, seed: int, count: int) -> list[dict[str, Any]]:
    from .phantoms.registry import PhantomOptions, generate_case, write_case

    entries = [write_case(generate_case(anatomy, seed, i, PhantomOptions(in_view=True)), folder) for i in range(count)]
    write_json(folder / "dataset.json", {"anatomy": anatomy, "seed": seed, "cases": entries})
    return entries


def run_preset(name: str, request: DemoRequest, progress: Progress) -> dict[str, Any]:
    """Phantoms → training → segmentation → evaluation → quantification for one preset."""
    from .cli import main as cli_main
    from .evaluation.metrics import evaluate_label_maps
    from .imageio import read_image
    from .inference.segment import SegmentRequest, segment
    from .pipeline.postprocess import merge_sides
    from .presets import get_preset
    from .training.run import TrainRequest, train

    preset = get_preset(name)
    root = request.out / name
    minutes = (request.minutes or DEFAULT_MINUTES).get(name, 2.0)
    n_train = (request.train_cases or DEFAULT_TRAIN_CASES).get(name, 10)
    progress.update("demo", None, f"{name}: generating {n_train} training and {request.test_cases} held-out phantoms")
    _write_phantoms(preset.phantom_anatomy, root / "train", request.seed, n_train)
    held_out = _write_phantoms(preset.phantom_anatomy, root / "test", request.seed + 1000, request.test_cases)
    progress.update("demo", None, f"{name}: training the {request.profile} profile for up to {minutes:g} min")
    started = time.monotonic()
    trained = train(TrainRequest(preset=preset, data=root / "train", out=root / "run", profile=request.profile,
                                 folds=request.folds, max_minutes=minutes, seed=request.seed, overwrite=True), progress)
    train_seconds = time.monotonic() - started
    model = Path(trained["model"])
    cases = []
    for entry in held_out:
        test = root / "test"
        metadata = json.loads((test / entry["metadata"]).read_text(encoding="utf-8"))
        slice_index = _true_level_slice(metadata, preset) if preset.spatial_dims == 2 else None
        result = segment(SegmentRequest(image=test / entry["image"], model=model, out=root / "segmentations",
                                        slice_index=slice_index, overwrite=True), progress)
        predicted = merge_sides(np.asarray(_array(read_image(result["files"]["labels"], allow_single_slice=True))), preset)
        reference = _array(read_image(test / entry["labels"], allow_single_slice=True))
        spacing = tuple(reversed(metadata["spacing_mm"]))
        if slice_index is not None:
            predicted, reference, spacing = predicted[slice_index], reference[slice_index], spacing[1:]
        rows = evaluate_label_maps(predicted, reference, spacing, labels=[label.value for label in preset.labels],
                                   union_of=preset.muscle_values())
        dice = {("all_muscle" if value is None else preset.labels[value - 1].name): metrics.dice
                for value, metrics in rows}
        quantify_args = ["quantify", test / entry["image"], result["files"]["labels"], "--out", root / "measurements",
                         "--preset", name, "--patient-id", entry["case_id"], "--progress", "none", "--label-names",
                         ",".join(f"{o.value}={o.name}" for o in preset.output_labels()),
                         "--age", metadata["subject"]["age"], "--sex", metadata["subject"]["sex"],
                         "--height", metadata["subject"]["height_m"], "--weight", metadata["subject"]["weight_kg"]]
        if slice_index is not None:
            quantify_args += ["--slice", slice_index]
        quantified = cli_main([str(a) for a in quantify_args]) == 0
        cases.append({"case_id": entry["case_id"], "slice": slice_index, "dice": dice, "quantified": quantified,
                      "segment_seconds": result["seconds"]})
    labels = [label.name for label in preset.labels]
    mean_dice = {name_: _mean([c["dice"].get(name_) for c in cases]) for name_ in [*labels, "all_muscle"]}
    return {"preset": name, "profile": request.profile, "train_cases": n_train, "test_cases": len(cases),
            "train_seconds": round(train_seconds, 1), "train_budget_minutes": minutes,
            "validation_dice": trained["mean_best_val_dice"], "held_out_dice": mean_dice,
            "held_out_mean_label_dice": _mean([mean_dice[n] for n in labels]), "cases": cases, "model": str(model)}


def _true_level_slice(metadata: dict[str, Any], preset) -> int:
    """The phantom's true measurement slice (stored index): the demo measures segmentation, not level finding."""
    from .training.data import target_stored_slice

    stored = target_stored_slice(metadata, preset)
    if stored is None:
        raise InputError(f"phantom {metadata['case_id']} has no {preset.target_level} level", field="metadata")
    return int(round(stored))


def _array(image) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(image)


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None and np.isfinite(v)]
    return round(float(np.mean(present)), 4) if present else None


def run_demo(request: DemoRequest, progress: Progress) -> dict[str, Any]:
    started = time.monotonic()
    results = []
    for i, name in enumerate(request.presets):
        progress.update("demo", i / len(request.presets), f"preset {name} ({i + 1} of {len(request.presets)})")
        results.append(run_preset(name, request, progress))
    cohort = run_cohort(request, progress)
    summary = {"presets": results, "cohort": cohort, "seconds": round(time.monotonic() - started, 1),
               "seed": request.seed}
    write_json(request.out / "demo_summary.json", summary)
    write_atomic(request.out / "demo_report.md", lambda p: p.write_text(render_report(summary), encoding="utf-8"))
    progress.update("demo", 1.0, f"report: {request.out / 'demo_report.md'}")
    return {"report": str(request.out / "demo_report.md"), "summary": str(request.out / "demo_summary.json"),
            "held_out_mean_label_dice": {r["preset"]: r["held_out_mean_label_dice"] for r in results},
            "seconds": summary["seconds"]}


def run_cohort(request: DemoRequest, progress: Progress, patients: int = 300) -> dict[str, Any]:
    """The researchers' step: a simulated cohort with a known hazard ratio through ``cohort report``."""
    from .cli import main as cli_main
    from .phantoms.cohort import CohortTruth, simulate_cohort_table

    progress.update("demo", None, f"cohort: survival report for {patients} simulated patients")
    folder = request.out / "cohort"
    folder.mkdir(parents=True, exist_ok=True)
    clinical, measurements = simulate_cohort_table(patients, request.seed)
    write_atomic(folder / "clinical.csv", lambda p: clinical.to_csv(p, index=False))
    write_atomic(folder / "measurements.csv", lambda p: measurements.to_csv(p, index=False))
    code = cli_main(["cohort", "report", str(folder / "clinical.csv"), "--measurements", str(folder / "measurements.csv"),
                     "--out", str(folder / "report"), "--progress", "none", "--seed", str(request.seed)])
    truth = CohortTruth()
    return {"patients": patients, "report": str(folder / "report"), "exit_code": code,
            "true_os_hr_per_10_units": truth.os_hr_per_step}


def render_report(summary: dict[str, Any]) -> str:
    lines = ["# MuscleQuant demo on phantoms", "",
             f"Total time {summary['seconds'] / 60:.1f} min, seed {summary['seed']}. Held-out phantoms were segmented "
             "through `musclequant segment` on the true level slice (2D presets), evaluated against the phantom "
             "labels, and quantified with `musclequant quantify`.", "",
             "| preset | training (s) | validation Dice | held-out mean label Dice | held-out all-muscle Dice |",
             "|---|---|---|---|---|"]
    for r in summary["presets"]:
        lines.append(f"| {r['preset']} | {r['train_seconds']} | {r['validation_dice']:.3f} | "
                     f"{_fmt(r['held_out_mean_label_dice'])} | {_fmt(r['held_out_dice'].get('all_muscle'))} |")
    cohort = summary.get("cohort")
    if cohort:
        lines += ["", f"Cohort: {cohort['patients']} simulated patients (true OS hazard ratio "
                  f"{cohort['true_os_hr_per_10_units']} per 10 cm²/m² of SMI) → `musclequant cohort report` in "
                  f"`{cohort['report']}` (exit code {cohort['exit_code']})."]
    for r in summary["presets"]:
        lines += ["", f"## {r['preset']}", "", "| label | held-out Dice |", "|---|---|"]
        lines += [f"| {name} | {_fmt(value)} |" for name, value in r["held_out_dice"].items()]
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="output folder (phantoms, models, results, report)")
    parser.add_argument("--presets", default=",".join(DEFAULT_PRESETS), help="comma-separated presets (default: all four)")
    parser.add_argument("--minutes", type=float, help="training minutes per preset (default: 2, thigh 3)")
    parser.add_argument("--train-cases", type=int, help="training phantoms per preset (default 12, thigh 8)")
    parser.add_argument("--test-cases", type=int, default=3, help="held-out phantoms per preset (default 3)")
    parser.add_argument("--profile", default="cpu", help="preset profile to train (default cpu; 'tiny' for a smoke test)")
    parser.add_argument("--seed", type=int, default=0)


def _run(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    from .presets import all_presets

    presets = tuple(p.strip() for p in args.presets.split(",") if p.strip())
    unknown = [p for p in presets if p not in all_presets()]
    if unknown:
        raise InputError(f"unknown preset(s) {', '.join(unknown)}; choose from {', '.join(all_presets())}", field="--presets")
    if args.test_cases < 1:
        raise InputError("must be at least 1", field="--test-cases")
    minutes = {p: args.minutes for p in presets} if args.minutes else None
    train_cases = {p: args.train_cases for p in presets} if args.train_cases else None
    return run_demo(DemoRequest(out=args.out, presets=presets, minutes=minutes, train_cases=train_cases,
                                test_cases=args.test_cases, seed=args.seed, profile=args.profile), progress)


COMMAND = Command("demo", "end-to-end demo on phantoms: train, segment, evaluate, quantify, report", _add_arguments, _run)
