"""Benchmark (not a test): does DeepSurv on radiomic features find a texture signal — and only when
there is one?

Generates a texture-signal cohort (``--texture-hr``, default 2.0 per SD of the latent myosteatosis
score) and the no-signal control (texture HR 1, same seed: same images, different survival), runs
``musclequant radiomics`` and ``musclequant cohort deepsurv`` on both, and prints the C-index per set
of DeepSurv and of each traditional sarcopenia definition, for each DeepSurv seed.

    .venv/bin/python Testing/benchmarks/bench_deepsurv.py --work /tmp/bench_ds --n 400 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from MuscleQuantLib.cli import main as musclequant


def run(*args: object) -> None:
    code = musclequant([str(a) for a in args])
    if code != 0:
        raise SystemExit(f"musclequant {' '.join(map(str, args))} failed with exit {code}")


def cohort(work: Path, name: str, n: int, seed: int, texture_hr: float, features: str) -> tuple[Path, float]:
    folder = work / name
    if not (folder / "clinical.csv").exists():
        run("phantom", "--texture-cohort", n, "--seed", seed, "--texture-hr", texture_hr, "--out", folder,
            "--progress", "none")
    start = time.perf_counter()
    table = folder / f"features_{features}.csv"
    if not table.exists():
        run("radiomics", "--dataset", folder, "--out", table, "--features", features, "--progress", "none")
    return folder, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1, help="cohort seed")
    parser.add_argument("--seeds", default="0,1,2", help="DeepSurv seeds")
    parser.add_argument("--texture-hr", type=float, default=2.0)
    parser.add_argument("--features", default="paper")
    args = parser.parse_args()
    rows = []
    for name, hr in (("texture", args.texture_hr), ("no_texture", 1.0)):
        folder, seconds = cohort(args.work, name, args.n, args.seed, hr, args.features)
        print(f"{name}: {args.n} patients, features in {seconds:.0f} s")
        for seed in (int(s) for s in args.seeds.split(",")):
            out = args.work / f"{name}_deepsurv_seed{seed}"
            start = time.perf_counter()
            run("cohort", "deepsurv", folder / "clinical.csv", "--measurements", folder / "measurements.csv",
                "--features", folder / f"features_{args.features}.csv", "--out", out, "--seed", seed,
                "--bootstrap", "200", "--overwrite", "--progress", "none")
            summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))["sets"]
            metrics = pd.read_csv(out / "metrics.csv")
            for set_name, verdict in summary.items():
                rows.append({"cohort": name, "seed": seed, "set": set_name,
                             "deepsurv_c": round(verdict["deepsurv_c_index"], 3),
                             "best_definition": verdict["best_definition"],
                             "best_definition_c": round(verdict["best_definition_c_index"], 3),
                             "deepsurv_beats_all": verdict["deepsurv_beats_every_definition"],
                             "fit_s": round(time.perf_counter() - start, 1)})
            external = metrics[metrics["set"] == "external"][["score", "c_index", "c_index_ci_low", "c_index_ci_high",
                                                              "auc_24m"]]
            print(f"\n{name}, DeepSurv seed {seed}, external set:\n{external.round(3).to_string(index=False)}")
    table = pd.DataFrame(rows)
    print("\nSummary (DeepSurv vs the best single definition, per set):")
    print(table.to_string(index=False))
    table.to_csv(args.work / "bench_deepsurv.csv", index=False)


if __name__ == "__main__":
    main()
