"""The subcommand contract shared by every ``musclequant`` command module."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .progress import Progress


@dataclass(frozen=True)
class Command:
    """A subcommand: ``add_arguments`` fills its parser, ``run`` does the work and returns a result."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Progress], Any]
    description: str | None = None
