"""The ``musclequant`` command line: one entry point for users, batch scripts and the Slicer module.

Each subcommand lives in its own module exposing ``COMMAND`` (a :class:`Command`); this file only
wires them together, handles the global options and turns errors into one line and an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .command import Command
from .errors import MuscleQuantError
from .progress import MODES, Progress

EXIT_OK = 0
EXIT_FAILURE = 1  # an unexpected internal error (a bug): please report it
EXIT_USER_ERROR = 2  # bad input or usage: the message says what to fix


# Every subcommand: name → (module that defines it, one-line help). Only the module of the command
# being run is imported, so ``musclequant --help`` and light commands do not pay for torch/MONAI.
# A module that does not exist yet (a later milestone) is left out of the listing.
COMMANDS: dict[str, tuple[str, str]] = {
    "phantom": ("MuscleQuantLib.phantoms.cli", "generate synthetic phantom cases and simulated cohorts"),
    "info": ("MuscleQuantLib.imageio_cli", "print an image's geometry and intensity range as JSON"),
    "convert": ("MuscleQuantLib.imageio_cli", "convert an image or DICOM series to NIfTI/NRRD/MHA, keeping its geometry"),
    "train": ("MuscleQuantLib.training.cli", "train a preset's segmentation model (validation split or K-fold ensemble)"),
    "segment": ("MuscleQuantLib.inference.cli",
                "segment an image with a trained model; label map on the input grid + JSON summary"),
    "evaluate": ("MuscleQuantLib.evaluation.cli", "compare predicted with reference label maps: Dice, HD95, ASSD, volume agreement"),
    "find-level": ("MuscleQuantLib.levels.cli", "find a preset's measurement level (slice, mm, confidence) in an image"),
    "evaluate-levels": ("MuscleQuantLib.levels.cli", "score a level finder against phantom metadata (error in mm, out-of-view detection)"),
    "quantify": ("MuscleQuantLib.quantify.cli", "measure muscle CSA, attenuation, IMAT, volumes, indices and sarcopenia for one case"),
    "radiomics": ("MuscleQuantLib.features.cli", "radiomic features (PyRadiomics) of muscle and psoas, one CSV row per case"),
    "models": ("MuscleQuantLib.models.cli", "list, download, import and verify segmentation models"),
    "cohort": ("MuscleQuantSurvivalLib.cli", "cohort survival analysis: validate, km, cox, definitions, stats, deepsurv, report"),
    "demo": ("MuscleQuantLib.demo", "deterministic end-to-end demo: starter models with automatic level finding on "
             "phantoms, the real example CT, a survival report (--train P adds training by iteration counts)"),
    "batch": ("MuscleQuantLib.batch.cli", "measure a cohort: studies to a table, QA gallery and case folders (resumable, parallel)"),
}


def module_exists(module_name: str) -> bool:
    """Whether ``module_name`` is installed, without importing it or its parent packages (``find_spec`` on a
    submodule imports the parents, and ``MuscleQuantLib.quantify`` alone costs about a second)."""
    top, *rest = module_name.split(".")
    try:
        spec = importlib.util.find_spec(top)  # a top-level lookup imports nothing
    except (ModuleNotFoundError, ValueError):
        return False
    if spec is None:
        return False
    if not rest:
        return True
    for root in spec.submodule_search_locations or ():
        base = Path(root).joinpath(*rest)
        if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
            return True
    return False


def available_commands() -> dict[str, tuple[str, str]]:
    """The commands whose module is installed."""
    return {name: entry for name, entry in COMMANDS.items() if module_exists(entry[0])}


def load_command(name: str) -> Command:
    """Import the module defining ``name`` and return its Command."""
    module = importlib.import_module(COMMANDS[name][0])
    for command in getattr(module, "COMMANDS", None) or [module.COMMAND]:
        if command.name == name:
            return command
    raise RuntimeError(f"{COMMANDS[name][0]} does not define command {name!r}")


def _add_global_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """``--progress`` and ``--debug``; on subparsers they default to 'not given' so they never mask
    a value given before the subcommand."""
    parser.add_argument(
        "--progress",
        choices=MODES,
        default="text" if defaults else argparse.SUPPRESS,
        help="progress reporting: human text on stderr (default), one JSON object per line on stdout "
        "(for the Slicer background process), or none",
    )
    parser.add_argument("--debug", action="store_true", default=False if defaults else argparse.SUPPRESS,
                        help="show full tracebacks on errors")


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The parser; ``selected`` names the one command whose arguments are loaded (None: all of them,
    for tests and documentation)."""
    parser = argparse.ArgumentParser(
        prog="musclequant",
        description="Segment, measure and analyse skeletal muscle on CT and MRI (headless engine of the "
        "MuscleQuant 3D Slicer extension).",
    )
    parser.add_argument("--version", action="version", version=f"musclequant {__version__}")
    _add_global_options(parser, defaults=True)
    # The same options after the subcommand ("musclequant segment ... --progress json") work too.
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, defaults=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in available_commands().items():
        if selected is not None and name != selected:
            subparsers.add_parser(name, help=help_text, parents=[common])
            continue
        command = load_command(name)
        sub = subparsers.add_parser(name, help=help_text, parents=[common],
                                    description=command.description or command.help)
        command.add_arguments(sub)
        sub.set_defaults(_command=command)
    return parser


_PARSERS: dict[str, argparse.ArgumentParser] = {}


def _parser_for(selected: str) -> argparse.ArgumentParser:
    """:func:`main`'s parser for one command (``""``: none), built once per process: a batch script calling
    ``main`` per case rebuilt the subparsers and re-imported the command table every call. Command arguments
    have no defaults that change while a process runs (presets and formats are fixed), so reuse is safe."""
    parser = _PARSERS.get(selected)
    if parser is None:
        parser = _PARSERS[selected] = build_parser(selected)
    return parser


def _fail(command: Command, args: argparse.Namespace, progress: Progress, prefix: str, message: str,
          code: int) -> int:
    """One line on stderr (and the JSON error event), the traceback only with --debug."""
    progress.error(message)
    print(f"musclequant {command.name}: {prefix}{message}", file=sys.stderr)
    if args.debug:
        traceback.print_exc()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 bad input/usage, 1 internal error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if a in COMMANDS), None)
    parser = _parser_for(selected if selected is not None else "")
    args = parser.parse_args(argv)
    command: Command | None = getattr(args, "_command", None)
    if command is None:
        parser.print_help()
        return EXIT_USER_ERROR
    progress = Progress(args.progress)
    try:
        result = command.run(args, progress)
    except MuscleQuantError as exc:
        return _fail(command, args, progress, "error: ", " ".join(str(exc).split()), EXIT_USER_ERROR)
    except OSError as exc:  # the file system refused (disk full, read-only, permission): the user can fix it
        where = f"{exc.filename}: " if exc.filename else ""
        reason = exc.strerror or " ".join(str(exc).split())
        return _fail(command, args, progress, "error: ", f"{where}cannot read or write: {reason}", EXIT_USER_ERROR)
    except KeyboardInterrupt:
        progress.error("cancelled")
        print(f"musclequant {command.name}: cancelled", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, not a traceback
        message = f"internal error ({type(exc).__name__}: {' '.join(str(exc).split())}); rerun with --debug"
        return _fail(command, args, progress, "", message, EXIT_FAILURE)
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    progress.done(result)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
