"""One background task at a time for a widget: start, poll from the widget's QTimer, cancel, report.

Both modules' widgets use it, so their buttons cannot start a second engine run that would orphan the
first (a refresh during a segmentation, a Validate during a cohort run). The widget passes three
callbacks and calls :meth:`TaskRunner.poll` from its timer; no Qt is imported here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .process import EngineError, EngineProcess

Show = Callable[[str | None, int | None, list[str]], None]  # status message, percent, new log lines


class TaskRunner:
    """``show`` updates status/progress/log, ``error`` opens an error dialog, ``changed`` refreshes buttons."""

    def __init__(self, show: Show, error: Callable[[str], Any], changed: Callable[[], Any]):
        self.show, self.error, self.changed = show, error, changed
        self.task: Any = None
        self.finished_task: Any = None
        self._on_done: Callable[[Any], Any] | None = None
        self._on_fail: Callable[[], Any] | None = None

    @property
    def busy(self) -> bool:
        return self.task is not None

    def start(self, start: Callable[[], Any], message: str, on_done: Callable[[Any], Any],
              on_fail: Callable[[], Any] | None = None) -> bool:
        """``start()`` returns a started task (:class:`EngineProcess` or :class:`.background.ThreadTask`).
        Refused while another task runs; a failure to start is an error dialog."""
        if self.busy:
            self.error("MuscleQuant is busy: wait for the current task or cancel it.")
            return False
        try:
            task = start()
        except Exception as exc:
            if on_fail:
                on_fail()
            self.error(f"Cannot start: {exc}")
            return False
        self.task, self._on_done, self._on_fail = task, on_done, on_fail
        self.show(message, 0, [f"— {message}"])
        self.changed()
        return True

    def start_command(self, command: Callable[[], list[str]], message: str, on_done: Callable[[Any], Any],
                      on_fail: Callable[[], Any] | None = None) -> bool:
        return self.start(lambda: EngineProcess(command()).start(), message, on_done, on_fail)

    def poll(self) -> bool:
        """Called by the widget's timer: shows progress; when the task ended, reports it. Returns whether a
        task is still running (the widget stops its timer on False)."""
        task = self.task
        if task is None:
            return False
        percent, message = task.poll_status()
        self.show(message, percent, task.log_lines())
        if not task.finished():
            return True
        self.task, self.finished_task = None, task
        on_done, on_fail = self._on_done, self._on_fail
        self.changed()
        try:
            result = task.outcome()
        except EngineError as exc:
            if on_fail:
                on_fail()
            cancelled = str(exc) == "cancelled"
            self.show("Cancelled" if cancelled else f"Failed: {exc}", 0, [])
            if not cancelled:
                self.error(f"MuscleQuant failed: {exc}")
            return self.busy
        self.show(None, 0, [])
        on_done(result)
        return self.busy  # on_done may have started the next step (download → segment, train → import)

    def cancel(self, wait: bool = False, grace_s: float = 2.0) -> None:
        """Cancel button: ``wait=False`` returns at once (the timer sees the end); scene close and module
        unload use ``wait=True`` so no process outlives them."""
        if self.task is not None:
            self.task.cancel(grace_s=grace_s, wait=wait)
            self.show("Cancelling…", None, [])


def show_progress(ui: Any, message: str | None, percent: int | None, lines: list[str]) -> None:
    """The widgets' ``show`` callback: progress bar, status line and log panel of a ``.ui``."""
    if percent is not None:
        ui.progressBar.value = percent
    if message:
        ui.statusLabel.text = message
    log = getattr(ui, "logTextEdit", None)
    for line in lines if log is not None else ():
        log.appendPlainText(line)
