"""``musclequant find-level`` (one image → its level as JSON) and ``musclequant evaluate-levels``
(a finder's error in mm against phantom metadata)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..command import Command
from ..errors import InputError
from ..fileio import write_json
from ..imageio import read_image
from ..progress import Progress
from .specs import LEVEL_SPECS, check_protocol, spec_for

PRESET_HELP = ("muscle preset (" + ", ".join(p for s in LEVEL_SPECS.values() for p in s.muscle_presets)
               + ") or level preset (" + ", ".join(LEVEL_SPECS) + ")")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", required=True, help=PRESET_HELP)
    parser.add_argument("--level-model", type=Path,
                        help="slab model folder (default: the newest installed model of the level preset)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")


def _find_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="image file or DICOM series folder")
    _common(parser)
    parser.add_argument("--protocol", help="which level to report as the slice (temporalis: "
                        "superior_orbital_quarter (default) or mid_orbit)")


def _find(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    from .find import find_level

    spec = spec_for(args.preset)
    protocol = check_protocol(spec, args.protocol)
    if args.level_model is not None and not args.level_model.is_dir():
        raise InputError("level model folder not found", path=args.level_model, field="--level-model")
    progress.update("find-level", 0.1, f"reading {args.image}")
    image = read_image(args.image)
    progress.update("find-level", 0.3, "running the slab model")
    result = find_level(spec.level_preset, image, args.image, model_dir=args.level_model, protocol=protocol,
                        device=args.device)
    progress.info(result.message())
    notice = _starter_notice(args.level_model, spec.level_preset)
    if notice:
        progress.info(notice)
    return {"image": str(args.image), **result.to_dict(), **({"notice": notice} if notice else {})}


def _starter_notice(level_model: Path | None, level_preset: str) -> str | None:
    """The starter-model notice when the finder ran on a model trained on synthetic data only."""
    from ..models.card import read_card
    from ..models.starter import STARTER_NOTICE, is_starter
    from .find import default_level_model

    folder = level_model or default_level_model(spec_for(level_preset))
    return STARTER_NOTICE if folder is not None and is_starter(read_card(folder)) else None


def _evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path,
                        help="phantom folder (dataset.json) or <id>_image.* files with <id>.json metadata")
    _common(parser)
    parser.add_argument("--out", type=Path, help="write the full report (per case) to this JSON file")


def _evaluate(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    from ..fileio import check_writable_folder
    from .evaluate import evaluate_levels

    if args.out is not None:  # a report that cannot be written is refused before the evaluation runs
        check_writable_folder(args.out.parent, field="--out")
    if args.level_model is not None and not args.level_model.is_dir():
        raise InputError("level model folder not found", path=args.level_model, field="--level-model")
    report = evaluate_levels(args.preset, args.data, args.level_model, args.device, progress)
    if args.out is not None:
        write_json(args.out, report)
        report = {**report, "report": str(args.out)}
    summary = report["summary"]
    for name, level in summary["levels"].items():
        err = level["error_mm"]
        progress.info(f"{name}: median {err['median']} mm, p95 {err['p95']} mm, max {err['max']} mm, "
                      f"within 5 mm {level['within_5mm_rate']}")
    progress.info(f"detected {summary['detection_rate']} of in-view, flagged {summary['out_of_view_flagged_rate']} "
                  "of out-of-view")
    return report


COMMAND = Command("evaluate-levels", "score a level finder against phantom metadata (error in mm, "
                  "out-of-view detection)", _evaluate_arguments, _evaluate)
COMMANDS = [Command("find-level", "find a preset's measurement level (slice, mm, confidence) in an image",
                    _find_arguments, _find), COMMAND]
