"""Cohort statistics speed, the code at the start of issue 16 against the code now, side by side.

For each simulated cohort size it runs ``musclequant cohort cox`` (the issue's model: smi_cm2_m2 per SD,
age, sex; 200 bootstrap resamples; both endpoints) and ``cohort report`` (optionally ``cohort validate``)
with each code base, alternating, so both see the same machine load, and prints wall and CPU seconds (the
process's user + system time, its figure worker included), the ratios, the load average while that row
ran, and whether the two wrote identical tables. On a shared machine the ratios, measured side by side,
are what count; ``--rounds-now 3`` also runs the new code two more times and keeps its fastest wall.

    nice -n 10 .venv/bin/python Testing/benchmarks/bench_cohort_speed.py        # 1,000 and 10,000 patients
    nice -n 10 .venv/bin/python Testing/benchmarks/bench_cohort_speed.py --sizes 10000 --rounds-now 3

The old code is a ``git worktree`` of ``--base-ref`` (default 4c31cdd, the issue's start), run with
PYTHONPATH at its MuscleQuant/ and MuscleQuantSurvival/ folders; the cohorts are simulated once with
``musclequant phantom --anatomy l3 --cohort N --no-images`` and shared.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMMANDS = {
    "validate": ["cohort", "validate", "{c}/clinical.csv", "--measurements", "{c}/measurements.csv"],
    "cox": ["cohort", "cox", "{c}/clinical.csv", "--measurements", "{c}/measurements.csv",
            "--covariates", "smi_cm2_m2,age,sex", "--per-sd", "smi_cm2_m2", "--out", "{out}"],
    "report": ["cohort", "report", "{c}/clinical.csv", "--measurements", "{c}/measurements.csv", "--out", "{out}"],
}


def _run(root: Path, command: list[str], cohort: Path, out: Path) -> tuple[float, float]:
    """(wall, cpu) seconds of one command run with the code under ``root``."""
    env = dict(os.environ, PYTHONPATH=f"{root / 'MuscleQuant'}{os.pathsep}{root / 'MuscleQuantSurvival'}")
    argv = [sys.executable, "-m", "MuscleQuantLib", *(a.format(c=cohort, out=out) for a in command),
            "--progress", "none"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _same_tables(a: Path, b: Path) -> str:
    """'yes' when every CSV the two runs wrote is byte-identical."""
    tables = sorted(p.relative_to(a) for p in a.rglob("*.csv"))
    if not tables:
        return "-"
    same = all((b / t).exists() and filecmp.cmp(a / t, b / t, shallow=False) for t in tables)
    return "yes" if same else "NO"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-ref", default="4c31cdd", help="git ref of the old code (default 4c31cdd)")
    parser.add_argument("--sizes", default="1000,10000", help="cohort sizes (default 1000,10000)")
    parser.add_argument("--commands", default="cox,report", help="which cohort commands (also: validate)")
    parser.add_argument("--rounds", type=int, default=1, help="runs per command and code; the fastest counts")
    parser.add_argument("--rounds-now", type=int, default=0,
                        help="runs of the new code (default: --rounds); the old code still runs --rounds times")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_cohort_"))
    base = work / "base"
    try:
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(base), args.base_ref],
                       check=True, capture_output=True)
        roots = {"start": base, "now": REPO}
        print(f"old code: {args.base_ref} (worktree {base}); new code: {REPO}; {os.cpu_count()} CPUs; "
              f"load average {os.getloadavg()[0]:.1f}")
        rounds = {"start": args.rounds, "now": max(args.rounds, args.rounds_now)}
        print(f"runs per command: old code {rounds['start']}, new code {rounds['now']} (fastest wall and CPU kept)")
        print(f"{'patients':>8} {'command':<9} {'start wall':>10} {'now wall':>9} {'ratio':>6} "
              f"{'start CPU':>9} {'now CPU':>8} {'ratio':>6} {'load':>5}  identical tables")
        for size in (int(s) for s in args.sizes.split(",")):
            cohort = work / f"cohort_{size}"
            subprocess.run([sys.executable, "-m", "MuscleQuantLib", "phantom", "--anatomy", "l3", "--cohort", str(size),
                            "--no-images", "--out", str(cohort), "--progress", "none"], check=True, capture_output=True)
            for name in args.commands.split(","):
                best = {"start": (float("inf"), float("inf")), "now": (float("inf"), float("inf"))}
                loads = []
                for number in range(max(rounds.values())):
                    for code, root in roots.items():
                        if number >= rounds[code]:
                            continue
                        out = work / f"out_{code}_{size}_{name}"
                        shutil.rmtree(out, ignore_errors=True)
                        wall, cpu = _run(root, COMMANDS[name], cohort, out)
                        loads.append(os.getloadavg()[0])
                        best[code] = (min(best[code][0], wall), min(best[code][1], cpu))
                (w0, c0), (w1, c1) = best["start"], best["now"]
                same = _same_tables(work / f"out_start_{size}_{name}", work / f"out_now_{size}_{name}")
                print(f"{size:>8} {name:<9} {w0:>9.1f}s {w1:>8.1f}s {w0 / w1:>5.1f}x {c0:>8.1f}s {c1:>7.1f}s "
                      f"{c0 / c1:>5.1f}x {sum(loads) / len(loads):>5.1f}  {same}", flush=True)
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
