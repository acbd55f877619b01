"""Batch benchmark (not a test): N phantom DICOM studies (per study a localizer, a thin and a thick axial
series and a secondary capture; every 7th without the L3 level, every 5th with a 12° oblique thin series,
every 4th without height) → ``batch`` with 1 and with 2 local workers → table, gallery, series choices
checked against the expected ones, then ``cohort report`` on the batch table with simulated survival.

    .venv/bin/python Testing/benchmarks/bench_batch.py --studies 200 --work /tmp/bench_batch

Prints seconds per case, throughput, peak RSS (this process and, with 2 workers, each worker process) and
RSS over the run (flat memory). The segmentation model is the l3 preset's tiny network with seeded,
untrained weights and the level model the stand-in of ``Testing/batch_helpers.py`` (the real level finder
reading a dense-L3 slab), so the figures measure the batch machinery (DICOM reading, level finding,
segmentation inference, plausibility checks, quantification, QA figures, case commits), not accuracy;
a cpu/paper-profile network adds its own inference time per case.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import batch_helpers as H  # noqa: E402

from MuscleQuantLib.batch.phantom_studies import write_cohort  # noqa: E402
from MuscleQuantLib.batch.run import run_batch  # noqa: E402
from MuscleQuantLib.batch.settings import BatchSettings  # noqa: E402
from MuscleQuantLib.cli import main as musclequant  # noqa: E402


class RssSampler(threading.Thread):
    """Resident memory of this process and its children every ``every`` seconds."""

    def __init__(self, every: float = 0.5):
        super().__init__(daemon=True)
        self.every, self.samples, self.stop = every, [], threading.Event()

    def run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self.stop.is_set():
            try:
                children = [c.memory_info().rss for c in me.children(recursive=True)]
            except psutil.Error:
                children = []
            self.samples.append((time.monotonic(), me.memory_info().rss, children))
            self.stop.wait(self.every)

    def summary(self) -> dict[str, float]:
        mib = 1024 ** 2
        own = np.array([s[1] for s in self.samples]) / mib
        worker = np.array([max(s[2]) if s[2] else 0 for s in self.samples]) / mib
        quarter = max(1, len(own) // 4)
        return {"main_peak_mib": round(float(own.max()), 1), "worker_peak_mib": round(float(worker.max()), 1),
                "main_first_quarter_mib": round(float(np.median(own[:quarter])), 1),
                "main_last_quarter_mib": round(float(np.median(own[-quarter:])), 1),
                "worker_first_quarter_mib": round(float(np.median(worker[:quarter])), 1),
                "worker_last_quarter_mib": round(float(np.median(worker[-quarter:])), 1)}


def check_selection(out: Path, specs: list) -> dict[str, int]:
    """Chosen and rejected series against what each phantom study was built to be."""
    series = pd.read_csv(out / "series.csv", dtype=str).fillna("")
    status = {r.series_uid: (r.status, r.reason) for r in series.itertuples()}
    table = pd.read_csv(out / "measurements.csv", dtype={"patient_id": str}).set_index("patient_id")
    wrong = 0
    for spec in specs:
        uids = spec.series_uids
        ok = status[uids["localizer"]][1].startswith("localizer") and status[uids["sc"]][1] == "secondary capture"
        if spec.has_level:
            ok &= status[uids["thin"]][0] == "chosen" and status[uids["thick"]][0] == "candidate"
            ok &= table.loc[spec.patient_id, "status"] == "done"
        else:
            ok &= all(status[uids[s]][1].startswith("level not in view") for s in ("thin", "thick"))
            ok &= table.loc[spec.patient_id, "status"] == "excluded"
        wrong += not ok
    return {"studies": len(specs), "selection_as_expected": len(specs) - wrong, "selection_wrong": wrong}


def simulated_clinical(out: Path, rng: np.random.Generator) -> Path:
    """Survival that depends on the measured CSA (higher CSA, lower hazard), censored at 60 months."""
    table = pd.read_csv(out / "measurements.csv", dtype={"patient_id": str})
    done = table[table["status"] == "done"]
    z = (done["csa_total_cm2"] - done["csa_total_cm2"].mean()) / done["csa_total_cm2"].std()
    times = rng.exponential(30.0 * np.exp(0.5 * z.to_numpy()))
    clinical = pd.DataFrame({"patient_id": done["patient_id"], "os_months": np.minimum(times, 60.0).round(2),
                             "os_event": (times < 60.0).astype(int)})
    path = out / "clinical.csv"
    clinical.to_csv(path, index=False)
    return path


def run_once(source: Path, out: Path, model: Path, workers: int) -> dict:
    import os

    shutil.rmtree(out, ignore_errors=True)
    load_before = os.getloadavg()[0]
    settings = BatchSettings(preset="l3", out=out, model=model, level_finder=H.LEVEL_FINDER)
    sampler = RssSampler()
    sampler.start()
    started = time.monotonic()
    summary = run_batch(source, settings, workers=workers)
    seconds = time.monotonic() - started
    sampler.stop.set()
    sampler.join()
    return {"workers": workers, "cases": summary["cases"], "done": summary["done"], "excluded": summary["excluded"],
            "failed": summary["failed"], "wall_s": round(seconds, 1),
            "load_average_1min_before_after": [round(load_before, 1), round(os.getloadavg()[0], 1)],
            "seconds_per_case": round(seconds / summary["cases"], 3),
            "cases_per_minute": round(60 * summary["cases"] / seconds, 1),
            "mean_case_seconds_in_worker": summary["mean_case_seconds"], **sampler.summary(),
            "ru_maxrss_self_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "ru_maxrss_children_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_batch"))
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to run")
    args = parser.parse_args()
    H.ensure_importable()
    args.work.mkdir(parents=True, exist_ok=True)
    source = args.work / f"studies_{args.studies}"
    started = time.monotonic()
    shutil.rmtree(source, ignore_errors=True)
    specs = write_cohort(source, args.studies, seed=7)
    write_s = time.monotonic() - started
    files = sum(1 for p in source.rglob("*.dcm"))
    model = H.tiny_l3_model(args.work / "model") if not (args.work / "model" / "model").exists() \
        else args.work / "model" / "model"
    results = {"studies": args.studies, "dicom_files": files, "write_seconds": round(write_s, 1), "runs": []}
    for workers in (int(w) for w in args.workers.split(",")):
        out = args.work / f"out_w{workers}"
        results["runs"].append(run_once(source, out, model, workers))
        print(json.dumps(results["runs"][-1]), flush=True)
    first = args.work / f"out_w{args.workers.split(',')[0]}"
    results["selection"] = check_selection(first, specs)
    tables = [pd.read_csv(args.work / f"out_w{w}" / "measurements.csv") for w in args.workers.split(",")]
    results["tables_identical_across_worker_counts"] = all(t.equals(tables[0]) for t in tables[1:])
    clinical = simulated_clinical(first, np.random.default_rng(7))
    report_started = time.monotonic()
    code = musclequant(["--progress", "none", "cohort", "report", str(clinical), "--measurements",
                        str(first / "measurements.csv"), "--measure", "csa_total_cm2", "--out",
                        str(args.work / "report"), "--bootstrap", "50"])
    results["cohort_report"] = {"exit_code": code, "seconds": round(time.monotonic() - report_started, 1),
                                "html": str(args.work / "report" / "report.html")}
    results["gallery_bytes"] = (first / "gallery.html").stat().st_size
    print(json.dumps(results, indent=2))
    (args.work / "bench_batch.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0 if code == 0 and results["selection"]["selection_wrong"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
