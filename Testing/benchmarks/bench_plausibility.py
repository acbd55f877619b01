"""False-positive rate of the plausibility flags on held-out, in-distribution phantoms (issue 14 item 3).

For each preset: N phantoms (target level in view) from a seed no training run uses, judged with their
TRUE label maps (the flags must stay quiet on real anatomy drawn right), and optionally with the output
of a model trained here on 10 phantoms for a fixed number of epochs (``--model-epochs``). Prints,
per preset, the share of cases with at least one flag and which checks fired.

    .venv/bin/python Testing/benchmarks/bench_plausibility.py --cases 30
    .venv/bin/python Testing/benchmarks/bench_plausibility.py --cases 20 --presets l3 --model-epochs 6 --profile cpu
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

import SimpleITK as sitk

from MuscleQuantLib.phantoms.registry import PhantomOptions, generate_case, write_case
from MuscleQuantLib.plausibility import run_checks
from MuscleQuantLib.presets import get_preset
from MuscleQuantLib.training.data import target_stored_slice

PRESETS = ("l3", "c3", "temporalis", "thigh")
HELD_OUT_SEED = 9100  # no test, demo or benchmark trains on this seed


def truth_case(preset: str, index: int):
    """A held-out phantom, its true label names and the stored slice the preset measures."""
    spec = get_preset(preset)
    case = generate_case(spec.phantom_anatomy, HELD_OUT_SEED, index,
                         PhantomOptions(in_view=True, resolution="low" if spec.spatial_dims == 3 else "standard"))
    names = {int(k): v for k, v in case.metadata["label_names"].items()}
    level = target_stored_slice(case.metadata, spec) if spec.spatial_dims == 2 else None
    return case, names, None if level is None else int(round(level))


def judge_truth(preset: str, n: int) -> tuple[int, collections.Counter]:
    flagged, fired = 0, collections.Counter()
    for index in range(n):
        case, names, k = truth_case(preset, index)
        flags = run_checks(case.image, case.labels, preset, slice_index=k, label_names=names).flags
        flagged += bool(flags)
        fired.update(f"{f.check}:{f.label}" for f in flags)
    return flagged, fired


def judge_model(preset: str, n: int, epochs: int, profile: str) -> tuple[int, collections.Counter]:
    """Train on 10 phantoms for a fixed number of epochs (seed 0), segment the held-out phantoms, judge."""
    from MuscleQuantLib.inference.segment import SegmentRequest, segment
    from MuscleQuantLib.progress import NULL_PROGRESS
    from MuscleQuantLib.training.run import TrainRequest, train

    spec = get_preset(preset)
    flagged, fired = 0, collections.Counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for index in range(10):
            write_case(generate_case(spec.phantom_anatomy, 5, index, PhantomOptions(in_view=True)), root / "train")
        trained = train(TrainRequest(preset=spec, data=root / "train", out=root / "run", profile=profile,
                                     max_epochs=epochs, seed=0, overwrite=True), NULL_PROGRESS)
        for index in range(n):
            case, _, k = truth_case(preset, index)
            entry = write_case(case, root / "test")
            summary = segment(SegmentRequest(image=root / "test" / entry["image"], model=Path(trained["model"]),
                                             out=root / "seg", slice_index=k, overwrite=True))
            flags = summary["plausibility"]["flags"]
            flagged += bool(flags)
            fired.update(f"{f['check']}:{f['label']}" for f in flags)
    return flagged, fired


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=30)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    parser.add_argument("--model-epochs", type=int, default=0, help="also judge model output (0: truth only)")
    parser.add_argument("--profile", default="tiny")
    args = parser.parse_args(argv)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    print(f"held-out phantoms: seed {HELD_OUT_SEED}, {args.cases} per preset, target level in view")
    for preset in args.presets:
        started = time.monotonic()
        flagged, fired = judge_truth(preset, args.cases)
        print(f"{preset:11s} truth: {flagged}/{args.cases} flagged, false-positive rate {flagged / args.cases:.1%} "
              f"({time.monotonic() - started:.0f} s); fired: {dict(fired.most_common(6)) or 'none'}")
        if args.model_epochs:
            started = time.monotonic()
            flagged, fired = judge_model(preset, args.cases, args.model_epochs, args.profile)
            print(f"{preset:11s} model ({args.profile}, {args.model_epochs} epochs): {flagged}/{args.cases} flagged, "
                  f"rate {flagged / args.cases:.1%} ({time.monotonic() - started:.0f} s); "
                  f"fired: {dict(fired.most_common(6)) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
