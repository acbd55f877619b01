"""Score an L3 model on the real CT crop (validation only, never training data): segment stored slices
0-9 of ``example_ct_sm.nii.gz`` (vertebra L2) one by one through ``musclequant segment`` and compare with
TotalSegmentator's labels in ``example_seg.nii.gz`` (autochthon 86/87 = erector spinae, iliopsoas
88/89 = psoas). Dice is pooled over the ten slices; the organ figure is the share of predicted muscle
voxels inside liver, kidneys, spleen, stomach, gallbladder, pancreas, small bowel, duodenum or colon.

    .venv/bin/python Testing/benchmarks/realct_l3.py MODEL_DIR
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

DATA = Path(os.environ.get("MUSCLEQUANT_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
SLICES = range(0, 10)
ORGANS = (1, 2, 3, 4, 5, 6, 7, 18, 19, 20)  # spleen, kidneys, gallbladder, liver, stomach, pancreas, bowel
REFERENCE = {"erector_spinae": (86, 87), "psoas_major": (88, 89)}


def evaluate(model: Path, slices: range = SLICES) -> dict:
    from MuscleQuantLib.inference.segment import SegmentRequest, segment

    image_path = DATA / "example_ct_sm.nii.gz"
    seg = sitk.GetArrayFromImage(sitk.ReadImage(str(DATA / "example_seg.nii.gz")))
    predicted = np.zeros(seg.shape, dtype=np.uint16)
    names: dict[int, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k in slices:
            summary = segment(SegmentRequest(image=image_path, model=model, out=Path(tmp) / str(k), preset="l3",
                                             slice_index=k, device="cpu"))
            names = {entry["value"]: entry["name"] for entry in summary["labels"]}
            labels = sitk.GetArrayFromImage(sitk.ReadImage(summary["files"]["labels"]))
            predicted[k] = labels[k]
    ks = list(slices)
    pred, ref = predicted[ks], seg[ks]
    out = {"image": str(image_path), "slices": f"stored z {ks[0]}-{ks[-1]}", "model": str(model)}
    for group, ref_values in REFERENCE.items():
        values = [v for v, n in names.items() if n.startswith(group)]
        p, r = np.isin(pred, values), np.isin(ref, ref_values)
        out[f"dice_{group}"] = round(float(2 * (p & r).sum() / max(p.sum() + r.sum(), 1)), 3)
        out[f"area_mm2_{group}_pred_per_slice"] = round(float(p.sum()) * 9.0 / len(ks), 1)
        out[f"area_mm2_{group}_ref_per_slice"] = round(float(r.sum()) * 9.0 / len(ks), 1)
    muscle = pred > 0
    out["organ_fraction"] = round(float((muscle & np.isin(ref, ORGANS)).sum() / max(muscle.sum(), 1)), 4)
    out["predicted_muscle_mm2_per_slice"] = round(float(muscle.sum()) * 9.0 / len(ks), 1)
    for group in ("rectus_abdominis", "abdominal_wall", "quadratus_lumborum"):
        values = [v for v, n in names.items() if n.startswith(group)]
        out[f"area_mm2_{group}_pred_per_slice"] = round(float(np.isin(pred, values).sum()) * 9.0 / len(ks), 1)
    return out


if __name__ == "__main__":
    print(json.dumps(evaluate(Path(sys.argv[1])), indent=1))


# example_ct_sm is slices 82-111 of example_ct and L2 spans its z 0-9, so L2's lowest slice is stored
# slice 82 of the full scan and L3 lies just below it. Taking L3 as tall as L2 (10 slices, 30 mm), its
# slices are 72-81 with centre 76.5; "within one vertebral body" is then |error| <= 30 mm.
L3_TOP_EXCLUSIVE, L2_SLICES, SLICE_MM = 82, 10, 3.0


def evaluate_finder(model: Path | None) -> dict:
    from MuscleQuantLib.imageio import read_image
    from MuscleQuantLib.levels.find import find_level

    path = DATA / "example_ct.nii.gz"
    result = find_level("l3", read_image(path), path, model_dir=model, device="cpu")
    centre = L3_TOP_EXCLUSIVE - (L2_SLICES + 1) / 2
    out = {"image": str(path), "found": result.found, "confidence": round(result.confidence, 3),
           "reason": result.reason, "estimated_true_l3_centre_slice": centre}
    if result.found:
        error_mm = (result.slice_fraction - centre) * SLICE_MM
        out.update(slice_index=result.slice_index, slice_fraction=result.slice_fraction,
                   error_mm=round(error_mm, 1), within_one_vertebral_body=abs(error_mm) <= L2_SLICES * SLICE_MM)
    return out
