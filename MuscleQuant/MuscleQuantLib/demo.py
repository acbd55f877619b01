"""``musclequant demo``: the product end to end, deterministic: the same seed prints the same numbers on
a busy machine as on a quiet one (no wall-clock budgets anywhere; one torch thread).

By default it uses the shipped starter models (trained on synthetic data only): for each preset with a
starter model it generates held-out phantoms, finds the level automatically with the starter level
finder, segments through the same ``segment`` path users take, scores the found level and the outline
against the phantom truth, and quantifies. It then runs the real CT ``example_ct.nii.gz`` (inference
and measurement only: found L3, confidence, muscle areas) and a survival report on a simulated cohort.
``--train P`` also trains preset P from phantoms for a fixed number of epochs (iteration counts).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .command import Command
from .errors import InputError
from .fileio import write_atomic, write_json
from .progress import Progress

DEFAULT_TRAIN_EPOCHS = {"l3": 10, "c3": 10, "temporalis": 10, "thigh": 6}
DEFAULT_TRAIN_CASES = {"l3": 12, "c3": 12, "temporalis": 12, "thigh": 8}
REAL_CT = "example_ct.nii.gz"


@dataclass(frozen=True)
class DemoRequest:
    out: Path
    presets: tuple[str, ...] | None = None  # starter presets to run (default: every shipped muscle starter)
    train: tuple[str, ...] = ()  # presets to train from phantoms by iteration counts
    epochs: dict[str, int] = field(default_factory=dict)
    train_cases: dict[str, int] = field(default_factory=dict)
    test_cases: int = 3
    seed: int = 0
    profile: str = "cpu"
    real_ct: Path | None = None
    cohort_patients: int = 300
    true_level: bool = False  # measure on the phantom's true slice instead of the found one (segmentation benchmark)


def _write_phantoms(anatomy: str, folder: Path, seed: int, count: int) -> list[dict[str, Any]]:
    from .phantoms.registry import PhantomOptions, generate_case, write_case

    entries = [write_case(generate_case(anatomy, seed, i, PhantomOptions(in_view=True)), folder) for i in range(count)]
    write_json(folder / "dataset.json", {"anatomy": anatomy, "seed": seed, "cases": entries})
    return entries


def starter_presets() -> tuple[str, ...]:
    """Muscle presets with a shipped starter model."""
    from .models.starter import starter_models
    from .presets import get_preset

    return tuple(card["preset"] for _, card in starter_models() if get_preset(card["preset"]).role == "muscle")


def _level_model(preset_name: str) -> Path | None:
    """The starter level finder of a 2D preset (None: the demo falls back to the phantom's true slice)."""
    from .levels.specs import LEVEL_SPECS
    from .models.starter import starter_for

    spec = next((s for s in LEVEL_SPECS.values() if preset_name in s.muscle_presets), None)
    return starter_for(spec.level_preset) if spec is not None else None


def evaluate_held_out(name: str, model: Path, root: Path, request: DemoRequest, progress: Progress) -> dict[str, Any]:
    """Held-out phantoms → automatic level → segment → Dice and level error against the truth → quantify."""
    from .cli import main as cli_main
    from .evaluation.metrics import evaluate_label_maps
    from .imageio import read_image
    from .inference.segment import SegmentRequest, segment
    from .levels.find import find_level
    from .pipeline.postprocess import merge_sides
    from .presets import get_preset
    from .training.data import target_stored_slice

    preset = get_preset(name)
    held_out = _write_phantoms(preset.phantom_anatomy, root / "test", request.seed + 1000, request.test_cases)
    level_model = _level_model(name) if preset.spatial_dims == 2 and not request.true_level else None
    cases = []
    for entry in held_out:
        test = root / "test"
        metadata = json.loads((test / entry["metadata"]).read_text(encoding="utf-8"))
        true_slice = target_stored_slice(metadata, preset) if preset.spatial_dims == 2 else None
        forced, chosen_by = (None, None) if true_slice is None else (int(round(true_slice)), "phantom truth")
        if level_model is not None:
            found = find_level(name, read_image(test / entry["image"]), test / entry["image"], model_dir=level_model,
                               device="cpu")
            if not found.found:  # counted and reported, never measured on a guessed slice
                cases.append({"case_id": entry["case_id"], "slice": None, "slice_chosen_by": None,
                              "level_not_found": found.reason, "level_error_mm": None, "dice": {}, "quantified": False})
                continue
            forced, chosen_by = found.slice_index, f"finder (confidence {found.confidence:.2f})"
        result = segment(SegmentRequest(image=test / entry["image"], model=model, out=root / "segmentations",
                                        slice_index=forced, device="cpu", overwrite=True), progress)
        predicted = merge_sides(np.asarray(_array(read_image(result["files"]["labels"], allow_single_slice=True))), preset)
        reference = _array(read_image(test / entry["labels"], allow_single_slice=True))
        spacing = tuple(reversed(metadata["spacing_mm"]))
        level_error = None
        slice_index = result["slice"]["index"] if result.get("slice") else None
        if slice_index is not None:
            level_error = round(abs(slice_index - true_slice) * spacing[0], 2)
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
        with contextlib.redirect_stdout(io.StringIO()):
            quantified = cli_main([str(a) for a in quantify_args]) == 0
        cases.append({"case_id": entry["case_id"], "slice": slice_index, "slice_chosen_by": chosen_by,
                      "level_error_mm": level_error, "dice": dice, "quantified": quantified})
    labels = [label.name for label in preset.labels]
    mean_dice = {n: _mean([c["dice"].get(n) for c in cases]) for n in [*labels, "all_muscle"]}
    errors = [c["level_error_mm"] for c in cases if c["level_error_mm"] is not None]
    not_found = sum(1 for c in cases if c.get("level_not_found"))
    return {"preset": name, "model": str(model), "test_cases": len(cases), "held_out_dice": mean_dice,
            "held_out_mean_label_dice": _mean([mean_dice[n] for n in labels]),
            "level_found_automatically": level_model is not None, "level_not_found": not_found,
            "median_level_error_mm": round(float(np.median(errors)), 2) if errors else None, "cases": cases}


def run_starter(name: str, request: DemoRequest, progress: Progress) -> dict[str, Any]:
    from .models.starter import STARTER_NOTICE, starter_for

    model = starter_for(name)
    if model is None:
        raise InputError(f"no starter model ships for preset {name!r}", field="--presets")
    progress.update("demo", None, f"{name}: starter model, {request.test_cases} held-out phantoms, automatic level")
    result = evaluate_held_out(name, model, request.out / name, request, progress)
    return {**result, "source": "starter", "notice": STARTER_NOTICE}


def run_trained(name: str, request: DemoRequest, progress: Progress) -> dict[str, Any]:
    """Train ``name`` from phantoms for a fixed number of epochs, then score it like a starter."""
    from .presets import get_preset
    from .training.run import TrainRequest, train

    preset = get_preset(name)
    root = request.out / f"{name}_trained"
    epochs = request.epochs.get(name, DEFAULT_TRAIN_EPOCHS.get(name, 10))
    n_train = request.train_cases.get(name, DEFAULT_TRAIN_CASES.get(name, 10))
    progress.update("demo", None, f"{name}: training the {request.profile} profile for {epochs} epochs on {n_train} phantoms")
    _write_phantoms(preset.phantom_anatomy, root / "train", request.seed, n_train)
    started = time.monotonic()
    trained = train(TrainRequest(preset=preset, data=root / "train", out=root / "run", profile=request.profile,
                                 max_epochs=epochs, seed=request.seed, device="cpu", overwrite=True), progress)
    result = evaluate_held_out(name, Path(trained["model"]), root, request, progress)
    return {**result, "source": f"trained {epochs} epochs", "validation_dice": round(trained["mean_best_val_dice"], 4),
            "train_cases": n_train, "epochs": epochs, "train_seconds": round(time.monotonic() - started, 1)}


run_preset = run_trained  # the segmentation benchmark's entry point


def run_real_ct(path: Path, out: Path, progress: Progress) -> dict[str, Any]:
    """The real CT: L3 found by the starter finder, segmented and measured by the starter model (no truth)."""
    from .inference.segment import SegmentRequest, segment
    from .models.starter import STARTER_NOTICE, starter_for

    model, finder = starter_for("l3"), _level_model("l3")
    if model is None or finder is None:
        return {"image": str(path), "skipped": "no L3 starter model or L3 starter finder ships with this version"}
    from .imageio import read_image
    from .levels.find import find_level

    progress.update("demo", None, f"real CT {path.name}: automatic L3, segmentation, areas")
    found = find_level("l3", read_image(path), path, model_dir=finder, device="cpu")
    if not found.found:  # said plainly, never measured on a guessed slice
        return {"image": str(path), "l3_slice": None, "confidence": round(found.confidence, 3),
                "not_found": found.reason, "notice": STARTER_NOTICE}
    result = segment(SegmentRequest(image=path, model=model, out=out, slice_index=found.slice_index, device="cpu",
                                    overwrite=True), progress)
    level = found.to_dict()
    areas = {}
    for entry in result["labels"]:
        group = entry["name"].rsplit("_", 1)[0] if entry["side"] else entry["name"]
        areas[group] = round(areas.get(group, 0.0) + entry["area_mm2"], 1)
    return {"image": str(path), "l3_slice": result["slice"]["index"], "confidence": round(level["confidence"], 3),
            "areas_mm2": areas, "total_muscle_mm2": round(sum(areas.values()), 1), "notice": result.get("notice"),
            "labels": str(result["files"]["labels"])}


def find_real_ct(explicit: Path | None) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise InputError("real CT file not found", path=explicit, field="--real-ct")
        return explicit
    folder = Path(os.environ.get("MUSCLEQUANT_SHARED_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data")
    return folder / REAL_CT if (folder / REAL_CT).is_file() else None


def _array(image) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(image)


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None and np.isfinite(v)]
    return round(float(np.mean(present)), 4) if present else None


def run_demo(request: DemoRequest, progress: Progress) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)  # the same arithmetic on any machine, busy or idle
    started = time.monotonic()
    presets = request.presets if request.presets is not None else starter_presets()
    results = [run_starter(name, request, progress) for name in presets]
    results += [run_trained(name, request, progress) for name in request.train]
    real = find_real_ct(request.real_ct)
    real_ct = run_real_ct(real, request.out / "real_ct", progress) if real else {
        "skipped": f"{REAL_CT} not found: set MUSCLEQUANT_SHARED_DATA or pass --real-ct"}
    cohort = run_cohort(request, progress)
    summary = {"presets": results, "real_ct": real_ct, "cohort": cohort, "seed": request.seed,
               "seconds": round(time.monotonic() - started, 1)}
    write_json(request.out / "demo_summary.json", summary)
    write_atomic(request.out / "demo_report.md", lambda p: p.write_text(render_report(summary), encoding="utf-8"))
    progress.update("demo", 1.0, f"report: {request.out / 'demo_report.md'}")
    return {"report": str(request.out / "demo_report.md"), "summary": str(request.out / "demo_summary.json"),
            "figures": printed_figures(summary), "seconds": summary["seconds"]}


def run_cohort(request: DemoRequest, progress: Progress) -> dict[str, Any]:
    """The researchers' step: a simulated cohort with a known hazard ratio through ``cohort report``."""
    from .cli import main as cli_main
    from .phantoms.cohort import CohortTruth, simulate_cohort_table

    patients = request.cohort_patients
    progress.update("demo", None, f"cohort: survival report for {patients} simulated patients")
    folder = request.out / "cohort"
    folder.mkdir(parents=True, exist_ok=True)
    clinical, measurements = simulate_cohort_table(patients, request.seed)
    write_atomic(folder / "clinical.csv", lambda p: clinical.to_csv(p, index=False))
    write_atomic(folder / "measurements.csv", lambda p: measurements.to_csv(p, index=False))
    with contextlib.redirect_stdout(io.StringIO()):  # the demo prints its own figures, not the report's paths
        code = cli_main(["cohort", "report", str(folder / "clinical.csv"), "--measurements",
                         str(folder / "measurements.csv"), "--out", str(folder / "report"), "--progress", "none",
                         "--seed", str(request.seed)])
    return {"patients": patients, "report": str(folder / "report"), "exit_code": code,
            "true_os_hr_per_10_units": CohortTruth().os_hr_per_step}


def printed_figures(summary: dict[str, Any]) -> list[str]:
    """The lines the demo prints: every number in them is a pure function of the seed."""
    lines = []
    for r in summary["presets"]:
        lines.append(f"{r['preset']} ({r['source']}): held-out mean label Dice {_fmt(r['held_out_mean_label_dice'])}, "
                     f"all-muscle {_fmt(r['held_out_dice'].get('all_muscle'))}, level "
                     + ("found automatically" if r["level_found_automatically"] else "given")
                     + (f", median level error {r['median_level_error_mm']} mm" if r["median_level_error_mm"] is not None
                        else "")
                     + (f", level not found in {r['level_not_found']} of {r['test_cases']}" if r["level_not_found"]
                        else ""))
    real = summary["real_ct"]
    if "skipped" in real:
        lines.append(f"real CT: skipped ({real['skipped']})")
    elif real.get("not_found"):
        lines.append(f"real CT {Path(real['image']).name}: L3 not found ({real['not_found']}); nothing measured")
    else:
        lines.append(f"real CT {Path(real['image']).name}: L3 at stored slice {real['l3_slice']} (confidence "
                     f"{real['confidence']}), total muscle {real['total_muscle_mm2']} mm² "
                     + ", ".join(f"{k} {v}" for k, v in real["areas_mm2"].items()))
    cohort = summary["cohort"]
    lines.append(f"cohort: {cohort['patients']} simulated patients, report exit code {cohort['exit_code']}")
    if any(r.get("notice") for r in summary["presets"]):
        lines.append(f"note: {summary['presets'][0].get('notice') or ''}".rstrip())
    return lines


def render_report(summary: dict[str, Any]) -> str:
    lines = ["# MuscleQuant demo", "",
             f"Seed {summary['seed']}; {summary['seconds'] / 60:.1f} min on this machine (the numbers below do not "
             "depend on it). Held-out phantoms: level found by the starter level finder, segmented through "
             "`musclequant segment`, scored against the phantom truth, quantified with `musclequant quantify`.", "",
             *[f"    {line}" for line in printed_figures(summary)], "",
             "| preset | model | held-out mean label Dice | all-muscle Dice | median level error (mm) |",
             "|---|---|---|---|---|"]
    for r in summary["presets"]:
        lines.append(f"| {r['preset']} | {r['source']} | {_fmt(r['held_out_mean_label_dice'])} | "
                     f"{_fmt(r['held_out_dice'].get('all_muscle'))} | {r['median_level_error_mm']} |")
    for r in summary["presets"]:
        lines += ["", f"## {r['preset']}", "", "| label | held-out Dice |", "|---|---|"]
        lines += [f"| {name} | {_fmt(value)} |" for name, value in r["held_out_dice"].items()]
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="output folder (phantoms, models, results, report)")
    parser.add_argument("--presets", help="comma-separated presets run with their starter models (default: all "
                        "shipped); 'none' for none")
    parser.add_argument("--train", default="", help="comma-separated presets to train from phantoms by iteration "
                        "counts (default: none)")
    parser.add_argument("--epochs", type=int, help="training epochs per --train preset (default: 10, thigh 6)")
    parser.add_argument("--train-cases", type=int, help="training phantoms per --train preset (default 12, thigh 8)")
    parser.add_argument("--test-cases", type=int, default=3, help="held-out phantoms per preset (default 3)")
    parser.add_argument("--profile", default="cpu", help="profile for --train presets (default cpu; 'tiny' for a smoke test)")
    parser.add_argument("--real-ct", type=Path, help=f"the real CT to measure (default: {REAL_CT} in "
                        "$MUSCLEQUANT_SHARED_DATA or ../shared/data)")
    parser.add_argument("--cohort-patients", type=int, default=300, help="simulated cohort size (default 300)")
    parser.add_argument("--seed", type=int, default=0)


def _presets(text: str | None, field_name: str) -> tuple[str, ...] | None:
    from .presets import all_presets

    if text is None:
        return None
    names = tuple(p.strip() for p in text.split(",") if p.strip() and p.strip() != "none")
    unknown = [p for p in names if p not in all_presets()]
    if unknown:
        raise InputError(f"unknown preset(s) {', '.join(unknown)}; choose from {', '.join(all_presets())}",
                         field=field_name)
    return names


def _run(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    presets, train = _presets(args.presets, "--presets"), _presets(args.train, "--train") or ()
    if args.test_cases < 1:
        raise InputError("must be at least 1", field="--test-cases")
    if args.epochs is not None and args.epochs < 1:
        raise InputError("must be at least 1", field="--epochs")
    missing = [p for p in (presets or ()) if p not in starter_presets()]
    if missing:
        raise InputError(f"no starter model ships for {', '.join(missing)}; train it with --train instead",
                         field="--presets")
    request = DemoRequest(out=args.out, presets=presets, train=train,
                          epochs={p: args.epochs for p in train} if args.epochs else {},
                          train_cases={p: args.train_cases for p in train} if args.train_cases else {},
                          test_cases=args.test_cases, seed=args.seed, profile=args.profile,
                          real_ct=args.real_ct, cohort_patients=args.cohort_patients)
    result = run_demo(request, progress)
    if progress.mode == "text":
        print("\n".join(result["figures"]))
    return result


COMMAND = Command("demo", "deterministic end-to-end demo: starter models with automatic level finding on phantoms, "
                  "the real example CT, a survival report (--train P adds training by iteration counts)",
                  _add_arguments, _run)
