"""``musclequant info``: show what the engine reads from an image (geometry, HU range)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .command import Command
from .imageio import describe, read_image
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


COMMAND = Command("info", "print an image's geometry and intensity range as JSON", _add_arguments, _run)
