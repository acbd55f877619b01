"""``musclequant info`` and ``convert``: what the engine reads from an image, and format conversion
(for example a DICOM series folder to one NIfTI file) with the geometry kept."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .command import Command
from .errors import InputError
from .fileio import check_writable_folder
from .imageio import IMAGE_SUFFIXES, describe, image_suffix, read_image, write_image
from .progress import Progress


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="image file (NIfTI, NRRD, MHA) or DICOM series folder")
    parser.add_argument("--series-uid", help="DICOM series to read when the folder holds several")


def _run(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    info = describe(read_image(args.image, series_uid=args.series_uid, allow_single_slice=True))
    info["path"] = str(args.image)
    if progress.mode != "json":
        print(json.dumps(info, indent=2))
    return info


def _add_convert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="image file or DICOM series folder")
    parser.add_argument("output", help=f"output file ({', '.join(IMAGE_SUFFIXES)})")
    parser.add_argument("--series-uid", help="DICOM series to read when the folder holds several")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def _run_convert(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    if not image_suffix(args.output):
        raise InputError(f"unsupported output format (use one of {', '.join(IMAGE_SUFFIXES)})", path=args.output)
    if Path(args.output).exists() and not args.overwrite:
        raise InputError("already exists; use --overwrite to replace it", path=args.output)
    check_writable_folder(Path(args.output).parent, field="output")
    progress.update("convert", 0.0, f"reading {args.image}")
    image = read_image(args.image, series_uid=args.series_uid)
    progress.update("convert", 0.5, f"writing {args.output}")
    write_image(image, args.output)
    return {"output": str(args.output), **describe(image)}


COMMANDS = [
    Command("info", "print an image's geometry and intensity range as JSON", _add_arguments, _run),
    Command("convert", "convert an image or DICOM series to NIfTI/NRRD/MHA, keeping its geometry",
            _add_convert_arguments, _run_convert),
]
