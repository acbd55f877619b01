"""Train the starter models from randomised synthetic data only, with fixed seeds and iteration
counts (``MuscleQuantLib/training/starter.py``), and optionally install them as package data
(``MuscleQuantLib/models/starter/<id>/``). Re-running this script reproduces them; the command, the
generator version and the data recipe are recorded in each model card.

    .venv/bin/python Testing/benchmarks/train_starter_models.py --preset l3 --work /tmp/starter --install
    # fine-tune stage only, from the model its base stage made before (the l3 recipe's base):
    .venv/bin/python Testing/benchmarks/train_starter_models.py --preset l3 --work /tmp/ft \
        --base-model /tmp/previous/l3-starter --evaluate
    # ablation (one randomisation element off, shorter run, stated in the report):
    .venv/bin/python Testing/benchmarks/train_starter_models.py --preset l3 --work /tmp/abl --recipe no_organs \
        --samples 300 --epochs 20 --evaluate

With ``--evaluate`` the L3 model is scored on the real CT crop (``realct_l3.py``; validation only).
One torch thread, so that figures do not depend on how many cores are free.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import shutil
import sys
import time
from pathlib import Path

import torch

from MuscleQuantLib.progress import Progress
from MuscleQuantLib.training.starter import STARTERS, SYNTH_GENERATORS, _generator, train_starter

PACKAGE_STARTERS = Path(__file__).resolve().parents[2] / "MuscleQuant" / "MuscleQuantLib" / "models" / "starter"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(STARTERS), default="l3")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--recipe", help="a named data recipe of the generator (an ablation, or an addition such as "
                        "organ_contact; default: the one STARTERS names, else the full recipe)")
    parser.add_argument("--samples", type=int, help="override the spec's number of synthetic images")
    parser.add_argument("--epochs", type=int, help="override the spec's epochs (iterations = epochs × 20 for l3)")
    parser.add_argument("--folds", type=int, help="override the spec's folds (K > 1: the model is the K folds' "
                        "majority vote)")
    parser.add_argument("--train-seed", type=int, help="override the spec's training seed (how much a seed alone moves "
                        "the figures)")
    parser.add_argument("--base-model", type=Path, help="a recipe with a base stage fine-tunes the model that stage "
                        "made: this one (checked against the base recipe by its card, e.g. the previously shipped "
                        "starter) instead of training the base first")
    parser.add_argument("--install", action="store_true", help="copy the model into the package's starter folder")
    parser.add_argument("--evaluate", action="store_true", help="score on the real CT (l3 and l3_level only)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    spec = STARTERS[args.preset]
    # Each generator names its own recipes (L3: no_organs, organ_contact, ...; head: no_face_cut, ...).
    generator = _generator(spec.data) if spec.data in SYNTH_GENERATORS else None
    ablations = getattr(generator, "RECIPES", getattr(generator, "ABLATIONS", {}))
    if args.recipe is not None and args.recipe not in ablations:
        parser.error(f"--recipe: {args.recipe!r} is not a recipe of the {spec.data} data of {args.preset} "
                     f"(choose from {sorted(ablations) or 'none'})")
    if args.folds is not None and args.folds < 1:
        parser.error(f"--folds: {args.folds} is not a number of folds (1 or more)")
    if args.evaluate and args.preset not in ("l3", "l3_level"):
        parser.error("--evaluate: only l3 and l3_level have a real-CT evaluation here (head: realmr_head.py)")
    spec = dataclasses.replace(spec, samples=args.samples or spec.samples, max_epochs=args.epochs or spec.max_epochs,
                               train_seed=spec.train_seed if args.train_seed is None else args.train_seed,
                               folds=spec.folds if args.folds is None else args.folds)
    command = "python Testing/benchmarks/train_starter_models.py " + " ".join(argv if argv is not None else sys.argv[1:])
    started, cpu0 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF).ru_utime
    if args.base_model is not None and spec.base is None:
        parser.error(f"--base-model: the {args.preset} recipe has no base stage")
    summary = train_starter(spec, args.work, command, ablations[args.recipe] if args.recipe else None,
                            Progress("text"), base_model=args.base_model)
    model = Path(summary["model"])
    report = {"preset": args.preset, "recipe": args.recipe or spec.recipe or "full", "samples": spec.samples,
              "epochs": spec.max_epochs, "train_seed": spec.train_seed, "folds": spec.folds,
              "synthetic_val_dice": round(summary["mean_best_val_dice"], 3),
              "best_epoch": [f["best_epoch"] for f in summary["folds"]], "stopped": [f["stopped"] for f in summary["folds"]],
              "wall_s": round(time.monotonic() - started), "cpu_s": round(resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu0)}
    if args.evaluate:
        sys.path.insert(0, str(Path(__file__).parent))
        from realct_l3 import evaluate, evaluate_finder

        report["real_ct"] = evaluate(model) if args.preset == "l3" else evaluate_finder(model)
    if args.install:
        target = PACKAGE_STARTERS / json.loads((model / "model.json").read_text(encoding="utf-8"))["model_id"]
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in ("model.json", "weights.safetensors"):
            shutil.copyfile(model / name, target / name)
        report["installed"] = str(target)
    (args.work / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
