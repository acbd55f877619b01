"""``musclequant models list|fetch|import|verify``: see, download, add and recheck models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..command import Command
from ..errors import InputError
from ..progress import MODES, Progress
from .registry import fetch_model, import_model, list_models, musclequant_home, verify_reference


def _add_common(parser: argparse.ArgumentParser) -> None:
    """The global options, accepted after the nested subcommand too."""
    parser.add_argument("--progress", choices=MODES, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="models_action", metavar="ACTION")
    registry_help = "registry JSON to use instead of the shipped one (or set MUSCLEQUANT_REGISTRY)"

    listing = actions.add_parser("list", help="registry and cached models with their status "
                                 "(available, downloaded, verified, corrupt)")
    listing.add_argument("--verify", action="store_true", help="recheck every cached model's hashes (slower)")
    listing.add_argument("--registry", type=Path, help=registry_help)
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")

    fetch = actions.add_parser("fetch", help="download a registry model into the cache (SHA-256 checked)")
    fetch.add_argument("model_id", metavar="ID", help="model id from 'musclequant models list'")
    fetch.add_argument("--version", dest="model_version", help="version to fetch (default: newest)")
    fetch.add_argument("--registry", type=Path, help=registry_help)
    fetch.add_argument("--force", action="store_true", help="download again even if a verified copy exists")

    importing = actions.add_parser("import", help="copy a model folder or .zip into the cache after verifying it")
    importing.add_argument("path", type=Path, help="model folder (model.json + weights*.safetensors) or .zip")
    importing.add_argument("--overwrite", action="store_true", help="replace a different model of the same id "
                           "and version")

    verify = actions.add_parser("verify", help="recheck a model's card, hashes and weights")
    verify.add_argument("reference", metavar="ID|PATH", help="cached model id (ID or ID@VERSION), folder or .zip")

    for sub in (listing, fetch, importing, verify):
        _add_common(sub)


def _print_table(rows: list[dict[str, Any]]) -> None:
    print(f"models in {musclequant_home() / 'models'}")
    if not rows:
        print("(none: the registry is empty and nothing is cached; train a model or 'musclequant models "
              "import' one)")
        return
    header = ("ID", "VERSION", "PRESET", "STATUS", "SOURCE", "NAME")
    table = [header] + [(r["id"], r["version"], r["preset"] or "?", r["status"], r["source"], r["name"] or "")
                        for r in rows]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header) - 1)]
    for line in table:
        print("  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=False)) + "  " + str(line[-1]))
    for row in rows:
        if row.get("problem"):
            print(f"{row['id']} {row['version']}: {row['problem']}")


def _run(args: argparse.Namespace, progress: Progress) -> Any:
    action = getattr(args, "models_action", None)
    if action is None:
        raise InputError("choose an action: list, fetch, import or verify", field="models")
    quiet = progress.mode == "json"
    if action == "list":
        rows = list_models(args.registry, verify=args.verify)
        if not quiet:
            if args.json:
                print(json.dumps(rows, indent=2))
            else:
                _print_table(rows)
        return {"models": rows}
    if action in ("fetch", "import"):  # a read-only or misplaced cache is refused before any download or copy
        from ..fileio import check_writable_folder
        from .registry import models_dir

        check_writable_folder(models_dir(), field="model cache ($MUSCLEQUANT_HOME)")
    if action == "fetch":
        result = fetch_model(args.model_id, args.model_version, registry_path=args.registry, force=args.force,
                             progress=progress)
    elif action == "import":
        result = import_model(args.path, overwrite=args.overwrite)
    else:
        result = verify_reference(args.reference)
    if not quiet:
        print(json.dumps(result, indent=2))
    return result


COMMAND = Command("models", "list, download, import and verify segmentation models", _add_arguments, _run,
                  description="Models live in the per-user cache ($MUSCLEQUANT_HOME, else the platform cache "
                  "folder). 'list' shows registry and cached models; 'fetch' downloads with SHA-256 checks; "
                  "'import' adds a trained model folder or .zip; 'verify' rechecks one.")
