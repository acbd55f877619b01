"""Speed benchmark for issue 16 (not a test): the engine at the issue's start and now, side by side.

    .venv/bin/python Testing/benchmarks/bench_speed.py [--quick] [--cache /tmp/mq-bench-speed]

For each preset's held-out phantom, plus clinical-resolution volumes (the thigh resampled to
0.98×0.98×1.5 mm, about 58 Mvoxel; L3 to 0.75×0.75×1.5 mm, about 40 Mvoxel), it prints:
- cold: wall seconds and peak RSS of a fresh ``musclequant segment`` process (interpreter start included);
- warm (a batch: one process, each command repeated, the best repeat after the first): segment (2D presets
  run their level finder inside it), find-level alone, quantify, and the whole case = segment + quantify
  (two commands, each reading the image); "batch case" = the batch path's whole case in that process
  (``batch.case.run_case_task``: read once → find level → segment → plausibility → quantify → case folder;
  the old code has no batch module); peak RSS of that process;
for the code at ``--base-ref`` (a git worktree, default 4c31cdd, the issue's start) and the working tree,
then the ratio base/now, and whether both wrote the same label map (argmax equality). Both versions run
the same models and images in one run, so the ratio holds on a busy machine where absolute seconds do not.

Models are the presets' ``cpu`` profiles trained here with fixed seeds and epoch counts (no time budget),
cached in ``--cache`` with the ONNX exports (made before timing); their accuracy is irrelevant, their
networks are the ones users run. A 2D case whose briefly trained finder misses the phantom's level by more
than two slices is segmented at the true slice instead (the header says which). The cohort timings (1,000
and 10,000 patients) are ``bench_cohort_speed.py``'s; ``--cohort`` runs it after the engine table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
REPO = HERE.parents[2]
PRESETS = ("temporalis", "c3", "l3", "thigh")
FINDERS = {"c3": "c3_level", "l3": "l3_level", "temporalis": "orbit_level"}
CLINICAL = {"thigh_clinical": ("thigh", (0.98, 0.98, 1.5)), "l3_clinical": ("l3", (0.75, 0.75, 1.5))}
TRAIN_SEED, TEST_SEED = 100, 200
ITERATIONS = 20  # training iterations per epoch, at most (the benchmark times inference, not accuracy)


EXTRA_PATH: list[str] = []  # --extra-path: packages for the working tree only (e.g. onnxruntime before install)


def _env(tree: Path | None) -> dict[str, str]:
    """Environment that runs the engine from ``tree`` (None: the working tree)."""
    env = dict(os.environ)
    root = tree if tree is not None else REPO
    paths = [str(root / "MuscleQuant"), str(root / "MuscleQuantSurvival")] + (EXTRA_PATH if tree is None else [])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["MUSCLEQUANT_HOME"] = str(CACHE_HOME[0]) if CACHE_HOME else env.get("MUSCLEQUANT_HOME", "")
    if not env["MUSCLEQUANT_HOME"]:
        del env["MUSCLEQUANT_HOME"]
    return env


CACHE_HOME: list[Path] = []


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """(wall seconds, the child's own peak RSS in MB from ``wait4``, exit code, output tail)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out_chunks = []
    for stream in (proc.stdout, proc.stderr):
        out_chunks.append(stream.read())  # small outputs: --progress none
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode, b"".join(out_chunks).decode(errors="replace")[-800:]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "MuscleQuantLib.cli", "--progress", "none", *args]


# ----------------------------------------------------------------------------------------------- preparation
def prepare(cache: Path, presets: list[str], epochs: int) -> dict[str, dict[str, object]]:
    """Phantoms, clinical-resolution copies and models (made once per cache folder, with the working tree)."""
    env = _env(None)
    cases: dict[str, dict[str, object]] = {}
    for preset in presets:
        train = cache / "train" / preset
        if not (train / "dataset.json").exists():
            _check(_timed(_cli("phantom", "--anatomy", preset, "--n", "4", "--seed", str(TRAIN_SEED),
                               "--in-view", "always", "--out", str(train)), env), f"phantoms {preset}")
        test = cache / "test" / preset
        if not (test / "dataset.json").exists():
            _check(_timed(_cli("phantom", "--anatomy", preset, "--n", "1", "--seed", str(TEST_SEED),
                               "--in-view", "always", "--orientation", "RAS" if preset != "thigh" else "LPS",
                               "--out", str(test)), env), f"test phantom {preset}")
        for name in [preset] + ([FINDERS[preset]] if preset in FINDERS else []):
            run = cache / "models" / name
            if not (run / "model" / "model.json").exists():
                print(f"training {name} ({epochs} epochs of at most {ITERATIONS} iterations, seed 0) ...", flush=True)
                _check(_timed([sys.executable, str(HERE), "--train", name, str(train), str(run), str(epochs)], env),
                       f"training {name}")
        meta_path = next(p for p in sorted(test.glob("*.json")) if p.name != "dataset.json")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        image = test / meta["files"]["image"]
        cases[preset] = {"preset": preset, "image": str(image), "slice": _true_slice(meta),
                         "model": str(cache / "models" / preset / "model"),
                         "level_model": str(cache / "models" / FINDERS[preset] / "model") if preset in FINDERS else None}
    models = sorted({c["model"] for c in cases.values()} | {c["level_model"] for c in cases.values() if c["level_model"]})
    prime = ("import sys\ntry:\n    from MuscleQuantLib.inference.runtime import load_inference_model\nexcept ImportError:\n"
             "    sys.exit(0)\nfor m in sys.argv[1:]:\n    load_inference_model(m, 'cpu')")
    _check(_timed([sys.executable, "-c", prime, *models], env), "exporting the models for ONNX Runtime (not timed)")
    for name, (preset, spacing) in CLINICAL.items():
        if preset not in cases:
            continue
        target = cache / "test" / name / f"{name}_image.nii.gz"
        source = cases[preset]
        if not target.exists():
            _check(_timed([sys.executable, str(HERE), "--resample", source["image"], str(target),
                           ",".join(map(str, spacing))], env), f"resampling {name}")
        factor = _slice_factor(Path(source["image"]), target)
        cases[name] = {**source, "image": str(target),
                       "slice": None if source["slice"] is None else int(round(source["slice"] * factor))}
    for case in cases.values():
        case["finder_ok"] = bool(case["level_model"]) and _finder_finds(case, env)
    return cases


def _finder_finds(case: dict, env: dict[str, str]) -> bool:
    """Whether the benchmark's (briefly trained) finder finds the level within two slices of the truth."""
    proc = subprocess.run(_cli("--progress", "json", "find-level", case["image"], "--preset", case["preset"],
                               "--level-model", case["level_model"]), env=env, capture_output=True, text=True)
    done = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{") and '"done"' in ln]
    result = done[-1]["result"] if done else {}
    return bool(result.get("found")) and abs(result["slice_index"] - case["slice"]) <= 2


def _true_slice(meta: dict) -> int | None:
    """The stored slice of the phantom's target level (2D presets)."""
    target = meta.get("target_level")
    for table in ("levels", "landmarks"):
        entry = (meta.get(table) or {}).get(target)
        if entry:
            return int(round(entry.get("center_slice", entry.get("slice"))))
    return None


def _slice_factor(source: Path, target: Path) -> float:
    import SimpleITK as sitk

    a, b = sitk.ImageFileReader(), sitk.ImageFileReader()
    a.SetFileName(str(source))
    b.SetFileName(str(target))
    a.ReadImageInformation()
    b.ReadImageInformation()
    return a.GetSpacing()[2] / b.GetSpacing()[2]


def train_model(name: str, data: str, out: str, epochs: str) -> None:
    """The preset's cpu profile, trained for a fixed number of epochs of at most ``ITERATIONS`` iterations
    (the thigh recipe's 100 iterations of 16 slices per epoch took half an hour on the busy benchmark machine;
    the network, what the benchmark times, is the cpu profile's either way)."""
    from dataclasses import replace

    from MuscleQuantLib.presets import get_preset
    from MuscleQuantLib.progress import NULL_PROGRESS
    from MuscleQuantLib.training.run import TrainRequest, train

    preset = get_preset(name)
    profile = preset.profile("cpu")
    recipe = replace(profile.training, iterations_per_epoch=min(profile.training.iterations_per_epoch, ITERATIONS))
    preset = replace(preset, profiles={**preset.profiles, "cpu": replace(profile, training=recipe)})
    train(TrainRequest(preset=preset, data=Path(data), out=Path(out), profile="cpu", max_epochs=int(epochs), seed=0,
                       device="cpu", overwrite=True), NULL_PROGRESS)


def resample_file(source: str, target: str, spacing: str) -> None:
    """A phantom at a clinical resolution: linear resampling of the same physical extent."""
    import SimpleITK as sitk

    image = sitk.ReadImage(source)
    new_spacing = [float(v) for v in spacing.split(",")]
    size = [int(round(n * s / t)) for n, s, t in zip(image.GetSize(), image.GetSpacing(), new_spacing, strict=True)]
    out = sitk.Resample(image, size, sitk.Transform(), sitk.sitkLinear, image.GetOrigin(), new_spacing,
                        image.GetDirection(), -1024.0, sitk.sitkInt16)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(out, target, True)


def _check(result: tuple[float, float, int, str], what: str) -> None:
    if result[2] != 0:
        sys.exit(f"{what} failed (exit {result[2]}): {result[3]}")


# ----------------------------------------------------------------------------------------------- measurement
def segment_args(case: dict, out: Path) -> list[str]:
    """2D presets find their level with the finder when it finds the phantom's level, else get the true slice."""
    args = ["segment", case["image"], "--model", case["model"], "--out", str(out), "--overwrite"]
    if case.get("finder_ok"):
        args += ["--level-model", case["level_model"]]
    elif case["slice"] is not None:
        args += ["--slice", str(case["slice"])]
    return args


def quantify_args(case: dict, labels: Path, out: Path) -> list[str]:
    args = ["quantify", case["image"], str(labels), "--out", str(out), "--preset", case["preset"]]
    if case["slice"] is not None:
        args += ["--slice", str(case["slice"])]
    return args


def worker(spec_json: str) -> None:
    """Run inside the measured version: each step ``repeat`` times in one process; print JSON seconds."""
    spec = json.loads(spec_json)
    from MuscleQuantLib.cli import main

    case, out, repeat = spec["case"], Path(spec["out"]), spec["repeat"]
    steps = {"segment": segment_args(case, out)}
    if case["level_model"]:
        steps["find-level"] = ["find-level", case["image"], "--preset", case["preset"], "--level-model",
                               case["level_model"]]
    stem = Path(case["image"]).name.replace(".nii.gz", "")
    steps["quantify"] = []
    times: dict[str, list[float]] = {name: [] for name in steps}
    codes: dict[str, int] = {}
    for round_ in range(repeat):
        steps["quantify"] = quantify_args(case, out / f"{stem}_labels.nii.gz", out / f"quantify{round_}") + [
            "--label-names", str(out / "label_names.json")]
        for name, argv in steps.items():
            if name == "quantify" and (out / f"{stem}_segmentation.json").exists():
                # segment writes sided labels (psoas_major_left …): name them for quantify, as a user would
                labels = json.loads((out / f"{stem}_segmentation.json").read_text(encoding="utf-8"))["labels"]
                (out / "label_names.json").write_text(json.dumps({str(e["value"]): e["name"] for e in labels}), encoding="utf-8")
            started = time.perf_counter()
            codes[name] = main(["--progress", "none", *argv])
            times[name].append(time.perf_counter() - started)
    batch = batch_case_times(case, out / "batch", repeat)
    if batch is not None:
        times["batch case"] = batch
    print("RESULT " + json.dumps({"times": times, "codes": codes,
                                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def batch_case_times(case: dict, out: Path, repeat: int) -> list[float] | None:
    """Seconds of the batch path's whole case (``batch.case.run_case_task``: read → find level → segment →
    plausibility → quantify → case folder, the image read once), ``repeat`` times with the models loaded
    on the first; None where the measured version has no batch module (the issue's start)."""
    try:
        from MuscleQuantLib.batch.case import CaseTask, run_case_task
        from MuscleQuantLib.batch.discover import Case, scan_folder_file
        from MuscleQuantLib.batch.select import select_series
        from MuscleQuantLib.batch.settings import BatchSettings
        from MuscleQuantLib.presets import get_preset
    except ImportError:
        return None
    finder = bool(case.get("finder_ok"))
    settings = BatchSettings(preset=case["preset"], out=out, model=Path(case["model"]),
                             level_model=Path(case["level_model"]) if finder else None)
    image = Path(case["image"])
    stem = image.name.replace(".nii.gz", "")
    series, _ = scan_folder_file(image)
    one = Case(case_id=stem, patient_id=stem, study_uid=str(image), series=series,
               slice_index=None if finder else case["slice"])
    choices = select_series(one, get_preset(case["preset"]).modality, settings.selection)
    task = CaseTask(one, choices, settings, {"input_sha256": "bench", "models_sha256": "bench",
                                             "settings_sha256": "bench"})
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        state = run_case_task(task)
        seconds.append(time.perf_counter() - started)
        if state["status"] != "done":
            print(f"batch case {stem}: {state['status']} ({state['reason']})", file=sys.stderr)
            return None
    return seconds


def measure(label: str, tree: Path | None, case: dict, repeat: int, work: Path, warm_too: bool = True
            ) -> dict[str, object]:
    env = _env(tree)
    out = work / label / Path(case["image"]).name.replace(".nii.gz", "")
    cold = _timed(_cli(*segment_args(case, out / ("cold" if warm_too else "warm"))), env)
    if cold[2] != 0:
        print(f"  [{label}] cold segment failed: {cold[3]}", file=sys.stderr)
    if not warm_too:  # one cold run only (the old code took 12 minutes for the clinical thigh)
        nan = float("nan")
        return {"cold_segment_s": cold[0], "cold_rss_mb": cold[1], "cold_ok": cold[2] == 0,
                "warm": {"segment": nan, "quantify": nan}, "warm_case_s": nan, "warm_rss_mb": nan,
                "codes": {"segment": cold[2]}}
    spec = json.dumps({"case": case, "out": str(out / "warm"), "repeat": repeat})
    wall, rss, code, text = _timed([sys.executable, str(HERE), "--worker", spec], env)
    line = next((ln for ln in text.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        proc = subprocess.run([sys.executable, str(HERE), "--worker", spec], env=env, capture_output=True, text=True)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            sys.exit(f"[{label}] worker failed: {proc.stderr[-800:]}")
    result = json.loads(line[len("RESULT "):])
    # warm = the best of the repeats after the first (imports and file caches warm, model loaded as the code does);
    # the whole case is segment (which runs the finder for 2D presets) + quantify; find-level alone is shown too
    warm = {name: min(values[1:]) if len(values) > 1 else values[0] for name, values in result["times"].items()}
    return {"cold_segment_s": cold[0], "cold_rss_mb": cold[1], "cold_ok": cold[2] == 0, "warm": warm,
            "warm_case_s": warm["segment"] + warm["quantify"], "warm_rss_mb": max(rss, result["rss_mb"]), "codes": result["codes"]}


def _same_labels(work: Path, case: dict) -> str:
    """Whether base and now wrote the same label map for ``case`` (voxel for voxel)."""
    import numpy as np
    import SimpleITK as sitk

    stem = Path(case["image"]).name.replace(".nii.gz", "")
    files = [work / label / stem / "warm" / f"{stem}_labels.nii.gz" for label in ("base", "now")]
    if not all(f.exists() for f in files):
        return "n/a (a version wrote no label map)"
    a, b = (sitk.GetArrayFromImage(sitk.ReadImage(str(f))).astype(np.uint16) for f in files)
    if a.shape != b.shape:
        return "no (shapes differ)"
    differ = int((a != b).sum())
    return "yes" if differ == 0 else f"no ({differ} of {a.size} voxels differ)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "mq-bench-speed")
    parser.add_argument("--base-ref", default="4c31cdd")
    parser.add_argument("--base-tree", type=Path, default=Path(tempfile.gettempdir()) / "mq-base")
    parser.add_argument("--quick", action="store_true", help="phantoms only (no clinical volumes), 2 repeats")
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--cases", help="comma-separated case names to measure (default: all prepared)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs of the benchmark models")
    parser.add_argument("--repeat", type=int, default=3, help="calls per step in the warm process")
    parser.add_argument("--no-base", action="store_true", help="measure the working tree only")
    parser.add_argument("--cohort", action="store_true", help="also run bench_cohort_speed.py")
    parser.add_argument("--base-warm-clinical", action="store_true",
                        help="also run the old code's warm batch on clinical volumes (an hour for the thigh)")
    parser.add_argument("--extra-path", help="sys.path entries for the working tree's processes only (packages "
                        "such as onnxruntime not installed in this environment)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--resample", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--train", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)
    if args.resample:
        return resample_file(*args.resample)
    if args.train:
        return train_model(*args.train)
    presets = [p for p in args.presets.split(",") if p]
    EXTRA_PATH.extend(p for p in (args.extra_path or "").split(os.pathsep) if p)
    CACHE_HOME.append(args.cache / "home")  # model cache of both versions: ONNX exports made once, not timed
    if not args.no_base and not (args.base_tree / "MuscleQuant").is_dir():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(args.base_tree), args.base_ref],
                       check=True, capture_output=True)
    cases = prepare(args.cache, presets, args.epochs)
    names = args.cases.split(",") if args.cases else [n for n in cases if not (args.quick and n in CLINICAL)]
    repeat = 2 if args.quick else args.repeat
    work = Path(tempfile.mkdtemp(prefix="mq-speed-"))
    versions = [("now", None)] + ([] if args.no_base else [("base", args.base_tree)])
    print(f"# bench_speed: base = {args.base_ref}, now = working tree; {os.cpu_count()} CPUs; warm = best of "
          f"{repeat - 1 if repeat > 1 else 1} repeat(s) after the first in one process; cpu-profile models "
          f"({args.epochs} epochs)", flush=True)
    for name in names:
        how = "level finder" if cases[name].get("finder_ok") else f"--slice {cases[name]['slice']}"
        print(f"#   {name}: {cases[name]['image']} ({how if cases[name]['slice'] is not None else '3D'})")
    header = (f"{'case':15s} {'version':7s} {'cold seg s':>10s} {'cold MB':>8s} {'warm seg':>9s} {'(finder)':>9s} "
              f"{'quantify':>9s} {'warm case':>9s} {'batch case':>10s} {'warm MB':>8s}")
    print(header)
    rows: dict[str, dict[str, dict]] = {}
    for name in names:
        case = cases[name]
        for label, tree in versions:
            r = measure(label, tree, case, repeat, work,
                        warm_too=label == "now" or name not in CLINICAL or args.base_warm_clinical)
            rows.setdefault(name, {})[label] = r
            w = r["warm"]
            print(f"{name:15s} {label:7s} {r['cold_segment_s']:10.2f} {r['cold_rss_mb']:8.0f} {w['segment']:9.2f} "
                  f"{w.get('find-level', float('nan')):9.2f} {w['quantify']:9.2f} {r['warm_case_s']:9.2f} "
                  f"{w.get('batch case', float('nan')):10.2f} "
                  f"{r['warm_rss_mb']:8.0f}{'' if r['cold_ok'] and not any(r['codes'].values()) else '  (exit ' + json.dumps(r['codes']) + ')'}",
                  flush=True)
        if "base" in rows[name]:
            b, n = rows[name]["base"], rows[name]["now"]
            ratios = {"cold segment": b["cold_segment_s"] / n["cold_segment_s"],
                      "warm segment": b["warm"]["segment"] / n["warm"]["segment"],
                      "warm case": b["warm_case_s"] / n["warm_case_s"]}
            if "find-level" in n["warm"]:
                ratios["find-level"] = b["warm"].get("find-level", float("nan")) / n["warm"]["find-level"]
            if b["warm_case_s"] != b["warm_case_s"]:  # old code run once, cold: compare with the batch figure
                ratios["old cold / new warm segment"] = b["cold_segment_s"] / n["warm"]["segment"]
            same = _same_labels(work, case)
            print(f"{name:15s} ratio   " + ", ".join(f"{k} ×{v:.1f}" for k, v in ratios.items())
                  + f"; label maps identical: {same}", flush=True)
    summary = {name: {label: {k: v for k, v in r.items()} for label, r in by.items()} for name, by in rows.items()}
    (work / "bench_speed.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print(f"# details: {work / 'bench_speed.json'}")
    if args.cohort:
        cohort = HERE.with_name("bench_cohort_speed.py")
        if cohort.exists():
            subprocess.run([sys.executable, str(cohort)] + (["--sizes", "1000"] if args.quick else []), check=False)
        else:
            print("# bench_cohort_speed.py is not there yet (helper E's cohort benchmark)")


if __name__ == "__main__":
    main()
