"""Level-finder benchmark (not a test): train each slab finder on phantoms within a few CPU minutes and
score it on held-out phantoms — in-view cases for the error in mm, out-of-view cases for the flag rate.

    .venv/bin/python Testing/benchmarks/bench_levels.py --work /tmp/bench_levels --minutes 4
    # score a finder that exists (the shipped starter) on the same held-out phantoms, training nothing:
    .venv/bin/python Testing/benchmarks/bench_levels.py --work /tmp/bench_levels --anatomy temporalis --model starter

L3 is a vertebra ladder (presets/l3_level.py, levels/ladder.py); the orbit finder is anchored on the globes
(levels/anchors.py); C3 reads its slab directly. Phantoms are generated once per work folder, a model once per run folder (low resolution: in-plane spacing doubled, slice thickness
as drawn; the finders work at 5–8 mm in-plane anyway). Numbers depend on the CPU time the run got; the
report states the training seconds and CPU seconds of each finder.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import torch

from MuscleQuantLib.cli import main as musclequant
from MuscleQuantLib.levels.evaluate import evaluate_levels, summarise
from MuscleQuantLib.levels.specs import spec_for

FINDERS = {"c3": "c3_level", "l3": "l3_level", "temporalis": "orbit_level"}
TARGETS = {"median_le_slice": "median error ≤ one slice thickness", "within_5mm": "≥ 95 % within 5 mm",
           "flagged": "≥ 95 % of out-of-view flagged"}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


TRAIN_PARTS = (("train", 24, 100, "random"), ("train_more", 24, 101, "random"), ("train_neg", 12, 102, "never"),
               ("train_extra", 60, 103, "random"))
# L3 and the orbits are harder to tell from their neighbours than C3: they get twice the phantoms.
EXTRA_PARTS = {"l3": (("train_big", 120, 104, "random"),), "temporalis": (("train_big", 120, 104, "random"),)}
TEST_PARTS = (("test_in", 200, "always"), ("test_out", 300, "never"))


def _phantoms(anatomy: str, folder: Path, n: int, seed: int, in_view: str) -> None:
    if (folder / "dataset.json").exists():
        return
    code = musclequant(["--progress", "none", "phantom", "--anatomy", anatomy, "--n", str(n), "--seed", str(seed),
                        "--in-view", in_view, "--resolution", "low", "--out", str(folder)])
    if code != 0:
        sys.exit(f"phantom generation failed for {anatomy} {folder.name}")


def generate(anatomy: str, work: Path, n_test: int, n_out: int) -> dict[str, Path]:
    """120 training phantoms (108 with ~85 % in view + 12 out of view; 240 for L3 and orbits), held-out in-view and out-of-view
    phantoms from other seeds. The training parts are merged into one folder by symlinks."""
    root = work / anatomy
    merged = root / "train_all"
    cases = []
    for name, n, seed, in_view in TRAIN_PARTS + EXTRA_PARTS.get(anatomy, ()):
        _phantoms(anatomy, root / name, n, seed, in_view)
        for entry in json.loads((root / name / "dataset.json").read_text(encoding="utf-8"))["cases"]:
            merged.mkdir(parents=True, exist_ok=True)
            for key, file in entry.items():
                if key != "case_id" and not (merged / file).exists():
                    os.symlink(root / name / file, merged / file)
            cases.append(entry)
    (merged / "dataset.json").write_text(json.dumps({"cases": cases}), encoding="utf-8")
    counts = {"test_in": n_test, "test_out": n_out}
    for name, seed, in_view in TEST_PARTS:
        _phantoms(anatomy, root / name, counts[name], seed, in_view)
    return {"train": merged, "test_in": root / "test_in", "test_out": root / "test_out"}


def run_one(anatomy: str, work: Path, minutes: float, args: argparse.Namespace) -> dict:
    if args.model is not None:
        return score_model(anatomy, work, args)
    folders = generate(anatomy, work, args.n_test, args.n_out)
    preset = FINDERS[anatomy]
    run = work / anatomy / "run"
    cpu0, wall0 = _cpu_seconds(), time.monotonic()
    if not (run / "model").exists():
        code = musclequant(["--progress", "none", "train", "--preset", preset, "--data", str(folders["train"]),
                            "--out", str(run), "--max-minutes", str(minutes), "--overwrite"])
        if code != 0:
            sys.exit(f"training failed for {preset}")
    train_cpu, train_wall = _cpu_seconds() - cpu0, time.monotonic() - wall0
    if args.calibrate:
        print(preset, suggest_threshold(preset, work, anatomy, run / "model"), flush=True)
    cpu1 = _cpu_seconds()
    rows = []
    for key in ("test_in", "test_out"):
        rows += evaluate_levels(preset, folders[key], run / "model", device="cpu")["cases"]
    summary = summarise(spec_for(preset), rows)
    training = json.loads((run / "training_summary.json").read_text(encoding="utf-8"))
    result = {"anatomy": anatomy, "preset": preset, "train_cpu_s": round(train_cpu, 1),
              "train_wall_s": round(train_wall, 1), "train_seconds_recorded": training["seconds"],
              "val_dice": round(training["mean_best_val_dice"], 3), "eval_cpu_s": round(_cpu_seconds() - cpu1, 1),
              "summary": summary, "cases": rows}
    (work / anatomy / "benchmark.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    return result


def score_model(anatomy: str, work: Path, args: argparse.Namespace) -> dict:
    """The held-out figures of an existing finder (``--model DIR``, or ``starter``: the shipped one); trains nothing."""
    from MuscleQuantLib.models.starter import starter_for

    preset = FINDERS[anatomy]
    model = starter_for(preset) if str(args.model) == "starter" else args.model
    root = work / anatomy
    for name, seed, in_view in TEST_PARTS:
        _phantoms(anatomy, root / name, args.n_test if name == "test_in" else args.n_out, seed, in_view)
    cpu1 = _cpu_seconds()
    rows = []
    for name, _, _ in TEST_PARTS:
        rows += evaluate_levels(preset, root / name, model, device="cpu")["cases"]
    return {"anatomy": anatomy, "preset": preset, "model": str(model), "train_cpu_s": 0.0, "train_wall_s": 0.0,
            "train_seconds_recorded": "none (existing model)", "val_dice": None,
            "eval_cpu_s": round(_cpu_seconds() - cpu1, 1), "summary": summarise(spec_for(preset), rows), "cases": rows}


def suggest_threshold(preset: str, work: Path, anatomy: str, model: Path, n: int = 12) -> dict:
    """min_confidence from validation phantoms (seeds 400/401, neither training nor benchmark data):
    midway between the most confident out-of-view and the least confident in-view case when they
    separate, else just below the least confident in-view case (never reject what the model finds)."""
    rows = []
    for name, seed, in_view in (("val_in", 400, "always"), ("val_out", 401, "never")):
        _phantoms(anatomy, work / anatomy / name, n, seed, in_view)
        rows += evaluate_levels(preset, work / anatomy / name, model, device="cpu")["cases"]
    # in-view cases a threshold can decide: found, or refused for confidence alone (not e.g. "no globes")
    inside = [r["confidence"] for r in rows if r["in_view"] and r["slab_thickness_mm"] is not None
              and (r["found"] or (r["reason"] or "").startswith("confidence"))]
    outside = [r["confidence"] for r in rows if not r["in_view"] and r["slab_thickness_mm"] is not None]
    low_in, high_out = min(inside, default=1.0), max(outside, default=0.0)
    value = (low_in + high_out) / 2 if high_out < low_in else low_in - 0.02
    return {"suggested_min_confidence": round(max(0.1, value), 2), "lowest_in_view": low_in,
            "highest_out_of_view": high_out}


def report(result: dict) -> str:
    s = result["summary"]
    lines = [f"== {result['preset']} ({result['anatomy']}): trained {result['train_seconds_recorded']} s "
             f"(CPU {result['train_cpu_s']} s), val Dice {result['val_dice']}; {s['in_view']} in-view, "
             f"{s['out_of_view']} out-of-view held-out cases; median slice {s['median_slice_thickness_mm']} mm",
             f"   detected {s['detection_rate']} of in-view; out-of-view flagged {s['out_of_view_flagged_rate']}"]
    for name, level in s["levels"].items():
        e, c = level["error_mm"], level["chance_error_mm"]
        lines.append(f"   {name:26s} error mm median {e['median']} p95 {e['p95']} max {e['max']} | "
                     f"median {level['error_slices']['median']} slices | within 5 mm {level['within_5mm_rate']} | "
                     f"≤1 slice {level['within_one_slice_rate']} | chance median {c['median']} mm")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_levels"))
    parser.add_argument("--minutes", type=float, default=4.0, help="training budget per finder (wall clock)")
    parser.add_argument("--anatomy", action="append", choices=list(FINDERS), help="default: all three")
    parser.add_argument("--n-test", type=int, default=20)
    parser.add_argument("--n-out", type=int, default=10)
    parser.add_argument("--model", type=Path, help="score this finder (or 'starter': the shipped one), train nothing")
    parser.add_argument("--calibrate", action="store_true",
                        help="first print the min_confidence that validation phantoms suggest (for levels/specs.py)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # on a shared 2-core box, intra-op threads oversubscribe: 1 thread is ~10× faster
    for anatomy in args.anatomy or list(FINDERS):
        print(report(run_one(anatomy, args.work, args.minutes, args)), flush=True)


if __name__ == "__main__":
    main()
