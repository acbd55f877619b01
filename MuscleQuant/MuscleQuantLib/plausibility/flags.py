"""A plausibility flag, how a value is judged against a range, and how flags are reported.

A flag says which check fired on which label, the value seen, the range expected and why it matters.
``warning``: unusual for a real patient, review before use; ``error``: anatomically implausible, almost
surely a segmentation failure. Any flag makes the result ``needs_review``: downstream statistics must
not count it as a measurement until a person has looked (the status column lets them exclude it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

SEVERITIES = ("warning", "error")
STATUS_OK, STATUS_REVIEW, STATUS_NOT_CHECKED = "ok", "needs_review", "not_checked"


@dataclass(frozen=True)
class Flag:
    check: str  # area, area_fraction, total_area, symmetry, position, components, intensity, level_confidence
    label: str | None  # sided label name (psoas_major_left), "all_muscle", or None for the whole result
    value: float | int | None
    expected: list[float | None]  # [low, high]; None = open
    reason: str
    severity: str  # "warning" | "error"
    unit: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def short(self) -> str:
        """'check:label(severity)' for one CSV cell."""
        return f"{self.check}:{self.label or '-'}({self.severity})"


@dataclass(frozen=True)
class Range:
    """Acceptable values: inside ``warn`` is quiet, outside ``error`` is an error, between is a warning."""

    warn: tuple[float | None, float | None]
    error: tuple[float | None, float | None] | None = None
    source: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Range:
        error = data.get("error")
        return cls(tuple(data["warn"]), tuple(error) if error else None, data.get("source", ""))

    def judge(self, value: float) -> str | None:
        """None when quiet, else the severity."""
        if not _inside(value, self.warn):
            return "error" if self.error is not None and not _inside(value, self.error) else "warning"
        return None


def _inside(value: float, bounds: tuple[float | None, float | None]) -> bool:
    low, high = bounds
    return not math.isnan(value) and (low is None or value >= low) and (high is None or value <= high)


def flag_if(check: str, label: str | None, value: float | int, rng: Range, reason: str, unit: str = "",
            digits: int = 3) -> Flag | None:
    """A flag when ``value`` is outside ``rng``; ``reason`` is completed with the range's source."""
    severity = rng.judge(value)
    if severity is None:
        return None
    why = f"{reason} (source: {rng.source})" if rng.source else reason
    return Flag(check, label, _round(value, digits), list(rng.warn), why, severity, unit)


def _round(value: float, digits: int) -> float | int:
    if isinstance(value, int) or not math.isfinite(value):
        return value
    return float(f"{value:.{digits}g}")


def status(flags: list[Flag], checked: bool = True) -> str:
    if not checked:
        return STATUS_NOT_CHECKED
    return STATUS_REVIEW if flags else STATUS_OK


def plausibility_block(flags: list[Flag], checks: list[str], skipped: dict[str, str], ranges: str | None) -> dict[str, Any]:
    """The ``plausibility`` object of the segmentation JSON and the quantify JSON."""
    return {"status": status(flags, bool(checks)), "flags": [f.to_dict() for f in flags], "checks": checks,
            "skipped": skipped, "ranges": ranges,
            "note": "needs_review: at least one flag; do not count this result as a measurement until reviewed"}


def row_columns(block: dict[str, Any]) -> dict[str, Any]:
    """The CSV columns of a ``plausibility`` block."""
    flags = [Flag(**f) for f in block["flags"]]
    return {"plausibility_status": block["status"], "plausibility_flag_count": len(flags),
            "plausibility_flags": "; ".join(f.short() for f in flags)}
