"""``musclequant train``: train a preset's network on image/label pairs, optionally as a K-fold ensemble."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..command import Command
from ..errors import InputError
from ..presets import all_presets, get_preset
from ..progress import Progress


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", required=True, choices=list(all_presets()), help="anatomy preset")
    parser.add_argument("--data", required=True, type=Path,
                        help="folder of training pairs (phantom folder, <id>_image + <id>_labels / <id>.seg.nrrd, "
                        "or a case store of approved segmentations)")
    parser.add_argument("--out", required=True, type=Path,
                        help="run folder: the model goes to OUT/model, per-fold metrics beside it; "
                        "an interrupted run in OUT resumes from its checkpoints")
    parser.add_argument("--profile", help="'paper' (faithful) or 'cpu' (fast; default) — see the preset")
    parser.add_argument("--folds", type=int, default=1, help="K-fold cross-validation; K > 1 gives a voting ensemble")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="validation share when --folds 1 (default 0.2)")
    parser.add_argument("--max-minutes", type=float, help="time budget for the whole run (all folds)")
    parser.add_argument("--max-epochs", type=int, help="override the recipe's maximum epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1 …")
    parser.add_argument("--model-id", help="model id for the card (default <preset>-<profile>)")
    parser.add_argument("--version", default="1.0.0", help="model version for the card")
    parser.add_argument("--init", type=Path,
                        help="warm start: fine-tune from this model folder (a starter model or an earlier round's); "
                        "recorded in the new model's card")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing model in OUT and discard checkpoints of a different setup")


def _run(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    if args.folds < 1:
        raise InputError("must be at least 1", field="--folds")
    if not 0 < args.val_fraction < 1:
        raise InputError("must be between 0 and 1", field="--val-fraction")
    if args.max_minutes is not None and not 0 < args.max_minutes < float("inf"):
        raise InputError("must be a positive number of minutes", field="--max-minutes")
    if args.max_epochs is not None and args.max_epochs < 1:
        raise InputError(f"{args.max_epochs}: must be at least 1 (an untrained model is never published)",
                         field="--max-epochs")
    if args.seed < 0:
        raise InputError(f"{args.seed}: must be a non-negative integer", field="--seed")
    from ..fileio import check_writable_folder
    from ..inference.cli import check_device

    check_device(args.device)
    check_writable_folder(args.out)
    preset = get_preset(args.preset)
    if args.profile:
        try:
            preset.profile(args.profile)
        except KeyError as exc:
            raise InputError(str(exc.args[0]), field="--profile") from None
    from .run import TrainRequest, train  # torch/MONAI load only when training, not for --help

    request = TrainRequest(preset=preset, data=args.data, out=args.out, profile=args.profile, folds=args.folds,
                           val_fraction=args.val_fraction, max_minutes=args.max_minutes, max_epochs=args.max_epochs,
                           seed=args.seed, device=args.device, model_id=args.model_id, version=args.version,
                           overwrite=args.overwrite, init=args.init)
    return train(request, progress)


COMMAND = Command("train", "train a preset's segmentation model (validation split or K-fold ensemble)",
                  _add_arguments, _run)
