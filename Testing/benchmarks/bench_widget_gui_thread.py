"""How long the MuscleQuant widget holds Slicer's GUI thread (issue 13, defect 15), on slicer-core.

1. Importing an engine label map of 29 labels (thigh-like) into a segmentation node: the old path made
   one full-size temporary labelmap per label (``updateSegmentBinaryLabelmapFromArray`` ×29), the new one
   imports once (``mrml.import_engine_result`` → ``ImportLabelmapToSegmentationNode`` with segment IDs).
2. Cancel: the old ``EngineProcess.cancel()`` waited for the process tree (SIGTERM grace, then SIGKILL);
   the widget's ``cancel(wait=False)`` returns at once and the timer reports the end.
3. First-use install: the old click handler ran ``install.ensure`` (pip blocking the GUI thread for as long
   as pip runs); ``dependencies.ensure_then`` returns once pip is started in the background. pip is replaced
   by a process that sleeps 3 s, and the plan by a fake environment (nothing is installed).

Run: ``.venv/bin/python Testing/benchmarks/bench_widget_gui_thread.py`` (prints seconds; synthetic data).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import slicer_wiring  # noqa: E402


def label_import(shape: tuple[int, int, int] = (120, 256, 256), labels: int = 29) -> None:
    from MuscleQuantLib.slicer_bridge import mrml

    slicer = slicer_wiring.wire()
    array = np.zeros(shape, np.uint16)
    for v in range(1, labels + 1):
        array[(v * 4) % shape[0]:(v * 4) % shape[0] + 3, 10 + v * 5:20 + v * 5, 10:200] = v
    volume = slicer.util.addVolumeFromArray(array.astype(np.int16), name="ct")
    image = mrml.volume_to_sitk(volume)
    with tempfile.TemporaryDirectory() as folder:
        labels_path = Path(folder) / "labels.nii.gz"
        written = sitk.GetImageFromArray(array)
        written.CopyInformation(image)
        sitk.WriteImage(written, str(labels_path))
        summary = {"labels": [{"name": f"muscle_{v}", "value": v, "color": [200, 100, 50]} for v in range(1, labels + 1)]}
        start = time.perf_counter()
        new = mrml.import_engine_result(labels_path, summary, volume)
        new_s = time.perf_counter() - start
    old = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    old.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    start = time.perf_counter()
    for label in summary["labels"]:
        segment = slicer.vtkSegment()
        segment.SetName(label["name"])
        old.GetSegmentation().AddSegment(segment, label["name"])
        slicer.util.updateSegmentBinaryLabelmapFromArray((array == label["value"]).astype(np.uint8), old,
                                                          label["name"], volume)
    old_s = time.perf_counter() - start
    same = all(np.array_equal(slicer.util.arrayFromSegmentBinaryLabelmap(new, f"muscle_{v}", volume),
                              slicer.util.arrayFromSegmentBinaryLabelmap(old, f"muscle_{v}", volume))
               for v in range(1, labels + 1))
    print(json.dumps({"label_import": {"shape": shape, "labels": labels, "per_label_s": round(old_s, 3),
                                       "one_import_s": round(new_s, 3), "identical": same,
                                       "layers_per_label": old.GetSegmentation().GetNumberOfLayers(),
                                       "layers_one_import": new.GetSegmentation().GetNumberOfLayers()}}))


def cancel() -> None:
    from MuscleQuantLib.slicer_bridge.process import EngineProcess

    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    result = {}
    for mode in ("blocking", "non_blocking"):
        process = EngineProcess([sys.executable, "-c", script]).start()
        while "ready" not in process.log:
            process.poll()
            time.sleep(0.01)
        start = time.perf_counter()
        process.cancel(grace_s=3.0, wait=mode == "blocking")
        result[f"{mode}_returns_after_s"] = round(time.perf_counter() - start, 3)
        while not process.finished():
            time.sleep(0.05)
    print(json.dumps({"cancel_process_ignoring_sigterm_grace_3s": result}))


def first_use_install(pip_seconds: float = 3.0) -> None:
    from importlib import metadata

    from MuscleQuantLib.slicer_bridge import dependencies, install

    installed = {"numpy": "2.4.6", "scipy": "1.17.1", "SimpleITK": "2.5.5", "torch": "2.9.0"}
    for requirements, _ in install.PURPOSES.values():
        installed.update({name: spec.split(",")[0].lstrip(">=") for name, spec in requirements.items()})
    del installed["lifelines"]
    pending = dict(installed)

    def version_of(name: str) -> str:
        if name not in pending:
            raise metadata.PackageNotFoundError(name)
        return pending[name]

    def pip(requirements: list[str], constraints: Path) -> None:  # the old path: pip on the calling thread
        time.sleep(pip_seconds)

    install.pip_command = lambda python, requirements, constraints: [sys.executable, "-c",
                                                                     f"import time; time.sleep({pip_seconds})"]
    installer = install.Installer(pip=pip, torch=None, confirm=lambda text: True, version_of=version_of)
    start = time.perf_counter()
    install.ensure("cohort", installer, ask=False)
    blocking_s = time.perf_counter() - start
    tasks = []
    start = time.perf_counter()
    dependencies.ensure_then("cohort", installer, lambda *task: tasks.append(task[0]()) or True, lambda: None,
                             print, ask=False, python=sys.executable)
    background_s = time.perf_counter() - start
    tasks[0].wait(timeout=60)
    print(json.dumps({"first_use_install_pip_3s": {"click_blocked_old_s": round(blocking_s, 3),
                                                    "click_blocked_new_s": round(background_s, 3)}}))


if __name__ == "__main__":
    label_import()
    cancel()
    first_use_install()
