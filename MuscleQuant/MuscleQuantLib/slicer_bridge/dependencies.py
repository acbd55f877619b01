"""First-use install for the widgets without blocking Slicer's GUI thread.

:func:`ensure_then` does on the GUI thread only what must happen there (the plan, the confirmation dialog,
torch through the PyTorch extension: :func:`.install.prepare`), runs pip as a background process the
widget's timer polls like an engine run (its output goes to the module's log panel, Run stays disabled,
Cancel kills it), and then continues the action the user asked for. Why not Slicer's own pip functions on
a worker thread: see :mod:`.install`.

Cancel kills pip's process group, as closing its terminal would: nothing keeps running and the action does
not start, but a package pip was writing at that moment can be left incomplete (pip has no rollback for a
killed install); Slicer's own install dialog offers no cancel at all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import install
from .process import EngineError, EngineProcess, engine_python

INSTALLING = "Installing Python packages…"
StartTask = Callable[..., Any]  # the widget's startTask(start, message, on_done, on_fail)


class PipProcess(EngineProcess):
    """pip as a background process: it prints no JSON result, so success is exit code 0."""

    def outcome(self) -> bool:
        self.poll()
        if self.cancelled:
            raise EngineError("cancelled")
        if self.returncode == 0:
            return True
        tail = next((line for line in reversed(self.log) if line.strip()), "")
        raise EngineError(f"pip exited with code {self.returncode}: {tail}")


def pip_env() -> dict[str, str]:
    """The environment of Slicer's own pip calls (``useStartupEnvironment=False``: this process's), wheels only."""
    return {**os.environ, "PIP_ONLY_BINARY": ":all:", "PYTHONUNBUFFERED": "1"}


def ensure_then(purpose: str, installer: install.Installer, start_task: StartTask, proceed: Callable[[], Any],
                error: Callable[[str], Any], ask: bool = True, python: str | None = None) -> bool:
    """Call ``proceed()`` once what ``purpose`` needs is installed: at once when nothing is missing, else after
    the background pip step (started with ``start_task``) finished and :func:`.install.finish` found nothing
    missing. Failures and a declined dialog go to ``error``. Returns whether ``proceed`` ran or was scheduled."""
    first = install.prepare(purpose, installer, ask)
    if isinstance(first, install.Outcome):
        if not first:
            error(first.message or "Python packages are missing.")
            return False
        proceed()
        return True
    folder = Path(tempfile.mkdtemp(prefix="musclequant-pip-"))
    constraints = folder / "constraints.txt"
    constraints.write_text(install.constraints_text(installer.version_of), encoding="utf-8")

    def remove() -> None:
        shutil.rmtree(folder, ignore_errors=True)

    def start() -> PipProcess:
        command = install.pip_command(python or engine_python(), list(first.pip), constraints)
        return PipProcess(command, env=pip_env()).start()

    def done(_: Any) -> None:
        remove()
        outcome = install.finish(purpose, installer, first)
        if outcome:
            proceed()
        else:
            error(outcome.message)

    return bool(start_task(start, INSTALLING, done, remove))
