"""What the MuscleQuantSurvival widget runs: ``musclequant cohort ...`` command lines and the files they
write (PNG figures, CSV tables, the HTML report), so the widget only collects choices and shows results.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from .process import musclequant_command

ACTIONS = ("validate", "km", "cox", "definitions", "report")


@dataclass(frozen=True)
class CohortRun:
    """The survival tab's choices (empty strings mean 'not given')."""

    clinical: Path
    measurements: Path | None = None
    out: Path | None = None
    endpoint: str = ""  # e.g. OS or OS,PFS
    group: str = ""  # KIND:VARIABLE[:VALUE], e.g. median:smi_cm2_m2
    within: str = ""
    covariates: tuple[str, ...] = ()
    definitions: tuple[str, ...] = ()
    exclude_invalid: bool = False
    extra: tuple[str, ...] = field(default_factory=tuple)


def cohort_command(action: str, run: CohortRun, python: str | None = None) -> list[str]:
    """The command line of one cohort action with JSON progress."""
    if action not in ACTIONS:
        raise ValueError(f"unknown cohort action {action!r}; choose from {', '.join(ACTIONS)}")
    args: list[str | Path] = ["cohort", action, run.clinical]
    if run.measurements:
        args += ["--measurements", run.measurements]
    if run.out and action != "validate":
        args += ["--out", run.out]
    if run.exclude_invalid:
        args.append("--exclude-invalid")
    if action in ("km", "cox", "definitions") and run.endpoint:
        args += ["--endpoint", run.endpoint]
    if action in ("km", "cox") and run.group:
        args += ["--group", run.group]
        if run.within:
            args += ["--within", run.within]
    if action == "cox" and run.covariates:
        args += ["--covariates", ",".join(run.covariates)]
    if action == "definitions" and run.definitions:
        args += ["--definitions", ",".join(run.definitions)]
    return musclequant_command(*args, *run.extra, python=python)


def figures(out: str | Path) -> list[Path]:
    """PNG figures an action wrote (Kaplan–Meier and forest plots), in name order."""
    folder = Path(out)
    return sorted(folder.rglob("*.png")) if folder.is_dir() else []


def tables(out: str | Path) -> list[Path]:
    folder = Path(out)
    return sorted(folder.rglob("*.csv")) if folder.is_dir() else []


def report_file(out: str | Path) -> Path | None:
    found = sorted(Path(out).rglob("*.html")) if Path(out).is_dir() else []
    return found[0] if found else None


def read_table(path: str | Path) -> list[dict[str, str]]:
    """A CSV the engine wrote, as rows for a table node."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def csv_columns(path: str | Path) -> list[str]:
    """Column names of a clinical or measurement table (CSV only; XLSX columns come from validate)."""
    path = Path(path)
    if path.suffix.lower() != ".csv" or not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle), [])


def endpoints_from_columns(columns: list[str]) -> list[str]:
    """Endpoint names with both ``<name>_months`` and ``<name>_event`` columns (e.g. OS, PFS)."""
    lower = {c.lower(): c for c in columns}
    return [lower[c][: -len("_months")].upper() for c in lower
            if c.endswith("_months") and c[: -len("_months")] + "_event" in lower]


def export_results(out: str | Path, target: str | Path) -> list[Path]:
    """Copy what a cohort run wrote (figures, tables, report, JSON) into ``target``, keeping sub-folders;
    an existing file of the same name is never replaced (InputError naming it, nothing copied)."""
    import shutil

    from ..errors import InputError

    source, target = Path(out), Path(target)
    files = [p for p in sorted(source.rglob("*")) if p.is_file()]
    clashes = [target / p.relative_to(source) for p in files if (target / p.relative_to(source)).exists()]
    if clashes:
        raise InputError("a file of that name is already in the export folder", path=clashes[0])
    copied = []
    for path in files:
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        copied.append(Path(shutil.copy2(path, destination)))
    return copied
