"""``musclequant segment``: segment an image with a trained model (CLI users and Slicer alike)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from ..command import Command
from ..errors import InputError
from ..fileio import check_writable_folder
from ..progress import Progress

FORMATS = {"nifti": ".nii.gz", "nrrd": ".nrrd", "mha": ".mha"}


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="image file or DICOM series folder")
    parser.add_argument("--model", type=Path, help="model folder (model.json + weights); default: the newest "
                        "installed model for --preset, else its shipped starter model")
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


DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_device(text: str) -> str:
    """Refuse a device torch does not know (``tpu``) in one line, before anything is loaded."""
    if not DEVICE_PATTERN.fullmatch(text):
        raise InputError(f"unknown device {text!r}; use auto, cpu, cuda, cuda:N or mps", field="--device")
    return text


def _check_protocol(model: Path, protocol: str) -> None:
    """A --protocol the model's preset has no level for is refused, not silently ignored."""
    from ..levels.specs import LEVEL_SPECS, check_protocol
    from ..models.card import read_card

    preset = read_card(model)["preset"]
    specs = [s for s in LEVEL_SPECS.values() if preset in s.muscle_presets or preset == s.level_preset]
    if not specs:
        raise InputError(f"preset {preset!r} has no level finder, so it has no protocols", field="--protocol")
    check_protocol(specs[0], protocol)


def _run(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    if args.model is None:
        from ..models.starter import default_model

        if not args.preset:
            raise InputError("give --model DIR, or --preset P to use the newest installed model", field="--model")
        args.model = default_model(args.preset)
        if args.model is None:
            raise InputError(f"no model for preset {args.preset!r} is installed and none ships with this version: "
                             "train or fetch one and pass --model DIR", field="--model")
        progress.info(f"using model {args.model}")
    if not args.model.is_dir():
        raise InputError("model folder not found", path=args.model)
    check_device(args.device)
    check_writable_folder(args.out)
    if args.slice_index is not None and args.slice_index < 0:
        raise InputError(f"slice {args.slice_index} is negative; stored slices count from 0", field="--slice")
    if args.protocol is not None:
        _check_protocol(args.model, args.protocol)
    from .segment import SegmentRequest, segment  # torch/MONAI load only when segmenting

    request = SegmentRequest(image=args.image, model=args.model, out=args.out, preset=args.preset,
                             slice_index=args.slice_index, level_model=args.level_model, protocol=args.protocol,
                             hu_range=args.hu_range, device=args.device,
                             output_format=FORMATS[args.format], overwrite=args.overwrite)
    result = segment(request, progress)
    if result.get("notice"):
        progress.info(result["notice"])
    progress.update("segment", 1.0, f"wrote {result['files']['labels']}")
    return result


COMMAND = Command("segment", "segment an image with a trained model; label map on the input grid + JSON summary",
                  _add_arguments, _run)
