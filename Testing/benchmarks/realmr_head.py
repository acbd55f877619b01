"""Run the orbit level finder and the temporalis model on the real ITK T1 head MRI (validation only,
never training data): Debian's ``insighttoolkit5-examples`` ``KmeansTest_T1UCharRaw.nii.gz``, 2 x 2 x 3 mm,
whose field of view cuts the front of the globes.

The file is stored coronally (its slice axis runs front to back). 2D presets measure axial slices and
refuse it as stored (checked and printed); the benchmark therefore reorients it losslessly to axial
storage (``sitk.DICOMOrient``, a permutation of axes, no resampling), as a user reslices it in Slicer.

Figures printed: the finder's levels with confidence or its "not found" reason, whether every level
lies inside the orbits (reference below), the temporalis area per side on the chosen slice, whether
each side lies lateral to the temporal bone (under the scalp, on its own side), and the plausibility
flags. ``--qa PNG`` writes a QA picture.

Orbit reference, read by eye on the axially stored volume (z = 2 mm x slice, LPS): globes (their
posterior halves, the front is cut) on slices 53-57, orbital fat 50-58, orbital roof at about slice 60.
A found level must lie within ``ORBIT_Z_MM`` (globe bottom to orbital roof, one slice of margin).

    .venv/bin/python Testing/benchmarks/realmr_head.py [--slice K] [--qa /work/coord/head/realmr_head_qa.png]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

ITK_RELATIVE = Path("usr/share/doc/insighttoolkit5-examples/examples/Data/KmeansTest_T1UCharRaw.nii.gz")
CANDIDATE_ROOTS = (Path("/work/coord/itk"), Path.home() / ".cache" / "musclequant" / "itk-examples")
ORBIT_Z_MM = (96.0, 124.0)  # slices 48-62 of the axial volume: orbit floor/globe bottom to orbital roof, ±1 slice
USER_SLICE = 57  # the superior orbital quarter read by eye (between the globe centre ~55 and the roof ~60)
SCALP_DEPTH_MM = 25.0  # temporalis lies under the scalp (<= 8 mm) and is <= 15 mm thick: 90 % of it this shallow


def find_file() -> Path | None:
    """The real T1 head: ``MUSCLEQUANT_ITK_T1`` (the file), else the extracted Debian package."""
    env = os.environ.get("MUSCLEQUANT_ITK_T1")
    if env:
        return Path(env) if Path(env).is_file() else None
    return next((root / ITK_RELATIVE for root in CANDIDATE_ROOTS if (root / ITK_RELATIVE).is_file()), None)


def axial(image: sitk.Image) -> sitk.Image:
    """The same voxels stored with axial slices (LPS order): a permutation, no interpolation."""
    return sitk.DICOMOrient(image, "LPS")


def find_levels(image: sitk.Image, model: Path | None = None) -> dict[str, Any]:
    """The orbit finder's answer with every protocol level's slice and z (mm), and the orbit check."""
    from MuscleQuantLib.levels.find import find_level

    result = find_level("temporalis", image, model_dir=model, device="cpu")
    out: dict[str, Any] = {"found": result.found, "confidence": round(result.confidence, 3), "reason": result.reason,
                           "model": result.model, "method": result.method, "levels": {}}
    for name, level in result.levels.items():
        if "position_mm" in level:
            z = float(level["position_mm"][2])
            out["levels"][name] = {"slice": level["slice_index"], "z_mm": round(z, 1),
                                   "inside_orbits": bool(ORBIT_Z_MM[0] <= z <= ORBIT_Z_MM[1])}
    out["all_levels_inside_orbits"] = all(v["inside_orbits"] for v in out["levels"].values())
    return out


def head_outline(slice_array: np.ndarray) -> np.ndarray:
    """The head on one axial slice: above a low threshold, holes filled, largest piece."""
    mask = slice_array > max(0.15 * float(np.percentile(slice_array, 99)), 1.0)
    mask = ndimage.binary_fill_holes(ndimage.binary_closing(mask, iterations=2))
    pieces, n = ndimage.label(mask)
    if n == 0:
        return mask
    return pieces == (1 + int(np.argmax(ndimage.sum(mask, pieces, range(1, n + 1)))))


def side_checks(image: sitk.Image, labels: np.ndarray, names: dict[int, str], k: int) -> dict[str, Any]:
    """Per side: area, centroid distance from the midline, depth under the head outline (mm)."""
    sx, sy = image.GetSpacing()[:2]
    array = sitk.GetArrayViewFromImage(image)[k].astype(np.float32)
    head = head_outline(array)
    depth = ndimage.distance_transform_edt(head, sampling=(sy, sx))
    cols = np.nonzero(head.any(axis=0))[0]
    mid, half_width = (cols[0] + cols[-1]) / 2.0, (cols[-1] - cols[0]) * sx / 2.0
    out: dict[str, Any] = {"head_half_width_mm": round(half_width, 1)}
    for value, name in names.items():
        mask = labels[k] == value
        side = "left" if name.endswith("left") else "right"
        entry: dict[str, Any] = {"area_mm2": round(float(mask.sum()) * sx * sy, 1)}
        if mask.any():
            rows, columns = np.nonzero(mask)
            offset = (columns.mean() - mid) * sx  # LPS: +x is the patient's left
            entry.update({"lateral_offset_mm": round(float(offset), 1),
                          "depth_p90_mm": round(float(np.percentile(depth[mask], 90)), 1),
                          "pieces": int(ndimage.label(mask)[1])})
            on_side = offset > 0 if side == "left" else offset < 0
            entry["lateral_to_bone"] = bool(on_side and abs(offset) > 0.6 * half_width
                                            and entry["depth_p90_mm"] <= SCALP_DEPTH_MM)
        else:
            entry["lateral_to_bone"] = False
        out[side] = entry
    return out


def segment_temporalis(path: Path, k: int, model: Path | None = None) -> tuple[dict[str, Any], np.ndarray]:
    """``musclequant segment`` on stored slice ``k`` (default model: newest installed, else the starter)."""
    from MuscleQuantLib.inference.segment import SegmentRequest, segment
    from MuscleQuantLib.models.starter import default_model

    model = model or default_model("temporalis")
    if model is None:
        raise SystemExit("no temporalis model installed or shipped")
    with tempfile.TemporaryDirectory() as tmp:
        summary = segment(SegmentRequest(image=path, model=model, out=Path(tmp), preset="temporalis", slice_index=k,
                                         device="cpu"))
        labels = sitk.GetArrayFromImage(sitk.ReadImage(summary["files"]["labels"]))
    return summary, labels


def evaluate(path: Path, k: int = USER_SLICE, qa: Path | None = None, model: Path | None = None,
             level_model: Path | None = None) -> dict[str, Any]:
    stored = sitk.ReadImage(str(path))
    report: dict[str, Any] = {"image": str(path), "stored_direction": [round(v, 3) for v in stored.GetDirection()]}
    from MuscleQuantLib.errors import InputError
    from MuscleQuantLib.pipeline.geometry import canonical_slice_index, to_canonical

    try:
        canonical_slice_index(stored, to_canonical(stored), 0)
        report["stored_as_is"] = "axial"
    except InputError as error:
        report["stored_as_is"] = f"refused by 2D presets: {error}"
    image = axial(stored)
    report["levels"] = find_levels(image, level_model)
    with tempfile.TemporaryDirectory() as tmp:
        axial_path = Path(tmp) / "KmeansTest_T1_axial.nii.gz"
        sitk.WriteImage(image, str(axial_path))
        summary, labels = segment_temporalis(axial_path, k, model)
    names = {entry["value"]: entry["name"] for entry in summary["labels"]}
    report["temporalis"] = {"slice": k, "z_mm": round(image.TransformIndexToPhysicalPoint((0, 0, k))[2], 1),
                            "model": summary["model"]["model_id"], **side_checks(image, labels, names, k)}
    report["temporalis"]["bilateral_lateral_to_bone"] = all(report["temporalis"][s]["lateral_to_bone"]
                                                            for s in ("left", "right"))
    block = summary.get("plausibility", {})
    report["plausibility"] = {"status": block.get("status"),
                              "flags": [{key: f.get(key) for key in ("check", "label", "value", "expected", "reason")}
                                        for f in block.get("flags", [])]}
    if qa is not None:
        write_qa(image, labels, names, k, report, qa)
        report["qa_png"] = str(qa)
    return report


def write_qa(image: sitk.Image, labels: np.ndarray, names: dict[int, str], k: int, report: dict[str, Any],
             out: Path) -> None:
    """Axial slice with the outline per side, and a sagittal view through one orbit with the levels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    array = sitk.GetArrayViewFromImage(image)
    sx, sy, sz = image.GetSpacing()
    fig, axes = plt.subplots(1, 3, figsize=(18, 6.5))
    for ax, zoom in ((axes[0], False), (axes[1], True)):
        ax.imshow(array[k], cmap="gray", aspect=sy / sx)
        for value, name in names.items():
            colour = "yellow" if name.endswith("left") else "red"
            if (labels[k] == value).any():
                ax.contour(labels[k] == value, [0.5], colors=colour, linewidths=1.0)
        if zoom:
            ax.set_xlim(0, array.shape[2] // 3)
            ax.set_ylim(array.shape[1] * 0.6, 0)
        ax.set_title(f"axial slice {k} (z {k * sz:.0f} mm)" + (", zoom on the patient's right" if zoom else ""),
                     fontsize=9)
    columns = np.nonzero(array[k].max(axis=0) > 0)[0]
    x = int(columns[0] + 0.3 * (columns[-1] - columns[0]))  # through the right orbit
    axes[2].imshow(array[:, :, x], cmap="gray", origin="lower", aspect=sz / sy)
    for name, level in report["levels"]["levels"].items():
        axes[2].axhline(level["slice"], color="lime" if level["inside_orbits"] else "red", linewidth=1)
        axes[2].text(1, level["slice"] + 0.5, f"{name} ({report['levels']['confidence']:.2f})", color="lime", fontsize=8)
    for z in ORBIT_Z_MM:
        axes[2].axhline(z / sz, color="cyan", linestyle="--", linewidth=0.8)
    axes[2].axhline(k, color="red", linestyle=":", linewidth=0.8)
    found = report["levels"]
    verdict = "found" if found["found"] else "not found: " + str(found["reason"])
    axes[2].set_title(f"sagittal x={x}: orbit reference (cyan), measured slice (red dots)\nlevels {verdict}"[:160],
                      fontsize=8)
    t = report["temporalis"]
    fig.suptitle(f"ITK T1 head (real, validation only): temporalis right {t['right']['area_mm2']} mm² (red), "
                 f"left {t['left']['area_mm2']} mm² (yellow, patient's left = image right); plausibility {report['plausibility']['status']}",
                 fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slice", type=int, default=USER_SLICE, help="axial slice (of the reoriented volume)")
    parser.add_argument("--qa", type=Path)
    parser.add_argument("--model", type=Path, help="temporalis model (default: newest installed, else starter)")
    parser.add_argument("--level-model", type=Path, help="orbit finder (default: newest installed, else starter)")
    args = parser.parse_args(argv)
    path = find_file()
    if path is None:
        print("real T1 head not found: set MUSCLEQUANT_ITK_T1 or extract insighttoolkit5-examples into "
              f"{CANDIDATE_ROOTS[-1]}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)
    print(json.dumps(evaluate(path, args.slice, args.qa, args.model, args.level_model), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
