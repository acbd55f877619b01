"""Progress reporting for long work: human text on stderr, or JSON lines for the Slicer background process.

In ``json`` mode every line on stdout is one JSON object with ``stage``, ``fraction`` (0..1 or null)
and ``message``; the final result is a line with ``stage == "done"`` and a ``result`` field, and a
failure is a line with ``stage == "error"``. The Slicer module parses exactly this protocol.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

MODES = ("text", "json", "none")


class Progress:
    """Reports stages and fractions; ``eta`` is estimated from the elapsed time of the current stage."""

    def __init__(self, mode: str = "text", stream: TextIO | None = None, err_stream: TextIO | None = None):
        if mode not in MODES:
            raise ValueError(f"progress mode must be one of {MODES}, not {mode!r}")
        self.mode = mode
        self._out = stream or sys.stdout
        self._err = err_stream or sys.stderr
        self._stage: str | None = None
        self._stage_start = time.monotonic()

    def update(self, stage: str, fraction: float | None = None, message: str = "", **extra: Any) -> None:
        """Report that ``stage`` is ``fraction`` done."""
        if stage != self._stage:
            self._stage = stage
            self._stage_start = time.monotonic()
        eta = None
        if fraction is not None and 0 < fraction < 1:
            elapsed = time.monotonic() - self._stage_start
            eta = elapsed * (1 - fraction) / fraction
        if self.mode == "json":
            record = {"stage": stage, "fraction": fraction, "message": message}
            if eta is not None:
                record["eta_s"] = round(eta, 1)
            record.update(extra)
            self._emit(record)
        elif self.mode == "text":
            pct = f" {fraction * 100:5.1f}%" if fraction is not None else ""
            eta_txt = f" (about {eta:.0f} s left)" if eta is not None and eta >= 1 else ""
            self._err.write(f"[{stage}]{pct} {message}{eta_txt}\n")
            self._err.flush()

    def info(self, message: str) -> None:
        """A message that is not a progress step (warnings, notes)."""
        self.update(self._stage or "info", None, message)

    def done(self, result: Any = None, message: str = "done") -> None:
        """The final line; ``result`` is what a caller needs (output paths, summary)."""
        if self.mode == "json":
            self._emit({"stage": "done", "fraction": 1.0, "message": message, "result": result})
        elif self.mode == "text":
            self._err.write(f"[done] {message}\n")
            self._err.flush()

    def error(self, message: str) -> None:
        """Report a failure in the machine-readable stream too (the one-line message goes to stderr)."""
        if self.mode == "json":
            self._emit({"stage": "error", "fraction": None, "message": message})

    def _emit(self, record: dict[str, Any]) -> None:
        from .fileio import strict_json  # NaN/Infinity are not JSON: the Slicer module's parser rejects them

        self._out.write(json.dumps(strict_json(record), default=str, allow_nan=False) + "\n")
        self._out.flush()


NULL_PROGRESS = Progress("none")
