"""One exception type for every problem a user can fix, so the CLI prints one line, not a traceback."""

from __future__ import annotations

from pathlib import Path


class MuscleQuantError(Exception):
    """A user-facing error: the message names the file or field and the reason."""

    def __init__(self, message: str, *, path: str | Path | None = None, field: str | None = None):
        self.path = str(path) if path is not None else None
        self.field = field
        parts = []
        if self.path:
            parts.append(self.path)
        if field:
            parts.append(field)
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class InputError(MuscleQuantError):
    """Input data (image, label map, table, model file) is unusable."""


class UnitError(InputError):
    """A value is in the wrong unit (for example height in cm where metres are required)."""
