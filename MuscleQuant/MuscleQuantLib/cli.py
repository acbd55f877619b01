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

from . import __version__
from .command import Command
from .errors import MuscleQuantError
from .progress import MODES, Progress

EXIT_OK = 0
EXIT_FAILURE = 1  # an unexpected internal error (a bug): please report it
EXIT_USER_ERROR = 2  # bad input or usage: the message says what to fix


# Modules providing subcommands, in the order ``--help`` lists them. A module that does not exist
# yet (a later milestone) is skipped, so the list can name planned commands.
COMMAND_MODULES: tuple[str, ...] = (
    "MuscleQuantLib.phantoms.cli",
    "MuscleQuantLib.imageio_cli",
    "MuscleQuantLib.training.cli",
    "MuscleQuantLib.inference.cli",
    "MuscleQuantLib.evaluation.cli",
    "MuscleQuantLib.levels.cli",
    "MuscleQuantLib.quantify.cli",
    "MuscleQuantLib.models.cli",
    "MuscleQuantLib.demo",
    "MuscleQuantSurvivalLib.cli",
)


def _load_commands() -> list[Command]:
    commands: list[Command] = []
    for module_name in COMMAND_MODULES:
        try:
            spec = importlib.util.find_spec(module_name)
        except ModuleNotFoundError:  # the parent package is not there yet
            spec = None
        if spec is None:
            continue
        module = importlib.import_module(module_name)
        found = getattr(module, "COMMANDS", None) or [module.COMMAND]
        commands.extend(found)
    return commands


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


def build_parser() -> argparse.ArgumentParser:
    """The full parser; exposed so tests and documentation can inspect it."""
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
    for command in _load_commands():
        sub = subparsers.add_parser(command.name, help=command.help, parents=[common],
                                    description=command.description or command.help)
        command.add_arguments(sub)
        sub.set_defaults(_command=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 bad input/usage, 1 internal error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command | None = getattr(args, "_command", None)
    if command is None:
        parser.print_help()
        return EXIT_USER_ERROR
    progress = Progress(args.progress)
    try:
        result = command.run(args, progress)
    except MuscleQuantError as exc:
        message = " ".join(str(exc).split())
        progress.error(message)
        print(f"musclequant {command.name}: error: {message}", file=sys.stderr)
        if args.debug:
            traceback.print_exc()
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        progress.error("cancelled")
        print(f"musclequant {command.name}: cancelled", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, not a traceback
        message = f"internal error ({type(exc).__name__}: {' '.join(str(exc).split())}); rerun with --debug"
        progress.error(message)
        print(f"musclequant {command.name}: {message}", file=sys.stderr)
        if args.debug:
            traceback.print_exc()
        return EXIT_FAILURE
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    progress.done(result)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
