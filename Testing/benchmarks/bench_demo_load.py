"""Does the README's main job print the same numbers on a busy machine as on a quiet one (issue 14 item 5)?

Runs ``musclequant demo`` twice with the same seed into fresh folders and a fresh ``MUSCLEQUANT_HOME``:
once as the machine is, once with ``--busy N`` extra processes spinning on the CPU (default: one per
core, so both cores of a 2-core machine are taken). Prints each run's wall time, peak memory and load
average, whether the printed lines are identical, and the lines themselves; exits 1 if they differ.

    .venv/bin/python Testing/benchmarks/bench_demo_load.py
    .venv/bin/python Testing/benchmarks/bench_demo_load.py --busy 4 -- --presets l3
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _spin(stop: multiprocessing.synchronize.Event) -> None:
    """Burn one core until told to stop: the 'both cores busy' condition."""
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF


def run_demo(out: Path, extra: list[str]) -> tuple[str, float, float, float]:
    """(stdout, wall s, peak RSS MB of the demo process tree, 1-min load at the end)."""
    env = dict(os.environ, MUSCLEQUANT_HOME=str(out / "home"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "MuscleQuantLib", "demo", "--out",
                           str(out / "demo"), *extra], env=env, capture_output=True, text=True, encoding="utf-8")
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"demo failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    if not done.stdout.strip():
        raise SystemExit("demo printed nothing on stdout: nothing to compare")
    peak = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
    return done.stdout, wall, peak, os.getloadavg()[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2, help="spinning processes in the busy run")
    parser.add_argument("extra", nargs="*", help="arguments passed on to `musclequant demo` (after --)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="mq-demo-load-") as tmp:
        quiet = run_demo(Path(tmp) / "as-is", args.extra)
        rows.append(("as the machine is", 0, quiet))
        stop = multiprocessing.Event()
        spinners = [multiprocessing.Process(target=_spin, args=(stop,), daemon=True) for _ in range(args.busy)]
        for proc in spinners:
            proc.start()
        try:
            busy = run_demo(Path(tmp) / "busy", args.extra)
        finally:
            stop.set()
            for proc in spinners:
                proc.join(timeout=5)
        rows.append((f"with {args.busy} cores kept busy", args.busy, busy))
    print(f"{'run':<28} {'wall s':>7} {'peak MB':>8} {'load':>5}")
    for name, _, (_, wall, peak, load) in rows:
        print(f"{name:<28} {wall:7.1f} {peak:8.0f} {load:5.1f}")
    same = quiet[0] == busy[0]
    print(f"printed lines identical: {same}")
    print(quiet[0].rstrip())
    if not same:
        print("--- busy run printed:\n" + busy[0].rstrip())
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
