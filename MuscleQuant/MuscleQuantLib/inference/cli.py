"""``musclequant segment``: segment an image with a trained model (CLI users and Slicer alike)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..command import Command
from ..errors import InputError
from ..progress import Progress

FORMATS = {"nifti": ".nii.gz", "nrrd": ".nrrd", "mha": ".mha"}


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="image file or DICOM series folder")
    parser.add_argument("--model", required=True, type=Path, help="model folder (model.json + weights)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--preset", help="expected preset (checked against the model card)")
    parser.add_argument("--slice", type=int, dest="slice_index",
                        help="stored slice index to segment (2D presets); overrides the level finder")
    parser.add_argument("--level-model", type=Path,
                        help="level finder's slab model (default: the newest installed one for the preset)")
    parser.add_argument("--protocol", help="finder level to measure at (temporalis: superior_orbital_quarter, "
                        "the default, or mid_orbit)")
    parser.add_argument("--hu-range", help="CT muscle window: alberta (−29…150, default), kreher (−20…200), "
                        "'lo,hi', or none")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    parser.add_argument("--format", choices=sorted(FORMATS), default="nifti", help="label map format")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def _run(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    if not args.model.is_dir():
        raise InputError("model folder not found", path=args.model)
    from .segment import SegmentRequest, segment  # torch/MONAI load only when segmenting

    request = SegmentRequest(image=args.image, model=args.model, out=args.out, preset=args.preset,
                             slice_index=args.slice_index, level_model=args.level_model, protocol=args.protocol,
                             hu_range=args.hu_range, device=args.device,
                             output_format=FORMATS[args.format], overwrite=args.overwrite)
    result = segment(request, progress)
    progress.update("segment", 1.0, f"wrote {result['files']['labels']}")
    return result


COMMAND = Command("segment", "segment an image with a trained model; label map on the input grid + JSON summary",
                  _add_arguments, _run)
