"""Work that must not block Slicer's GUI but needs no separate process: a worker thread with the same
polling surface as :class:`.process.EngineProcess` (``poll_status``, ``log_lines``, ``finished``,
``outcome``, ``cancel``), so the widgets watch either with one timer.

The function must not touch MRML or Qt (neither is thread-safe); :func:`.widget_logic.approval_task`
does the MRML part first and returns such a function. NumPy, hashlib and SimpleITK release the GIL, so
the GUI keeps painting while approvals hash and measure.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .process import EngineError


class ThreadTask:
    """Run ``function()`` in a daemon thread; ``message`` is what the status line shows meanwhile."""

    pid = None  # no process to kill

    def __init__(self, function: Callable[[], Any], message: str = ""):
        self._function = function
        self._message = message
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.result: Any = None
        self.error: BaseException | None = None
        self.cancelled = False
        self._reported = False

    def start(self) -> ThreadTask:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.result = self._function()
        except BaseException as exc:  # reported to the widget through outcome()
            self.error = exc

    def finished(self) -> bool:
        return not self._thread.is_alive()

    def poll_status(self) -> tuple[int | None, str | None]:
        if self._reported:
            return None, None
        self._reported = True
        return None, self._message or None

    def log_lines(self) -> list[str]:
        return []

    def cancel(self, grace_s: float = 0.0, wait: bool = True) -> None:
        """A thread cannot be killed: the result is discarded instead (approvals finish atomically)."""
        self.cancelled = True

    def outcome(self) -> Any:
        if self.cancelled:
            raise EngineError("cancelled")
        if self.error is not None:
            raise EngineError(str(self.error)) from self.error
        return self.result

    def wait(self, timeout: float | None = None) -> Any:
        self._thread.join(timeout)
        return self.outcome()
