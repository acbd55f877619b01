"""Cell-by-cell validation of cohort tables: each problem is an :class:`Issue` naming the table, the
spreadsheet row (header = row 1), the patient, the column and the reason.

Errors must be fixed (or the rows explicitly excluded); warnings (missing values, patients without a
measurement) are reported and the row stays usable where it has what an analysis needs.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from MuscleQuantLib.ranges import AGE_Y, HEIGHT_M, WEIGHT_KG, PlausibleRange, measure_range

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "."})
SEX_CODES = {"m": "M", "male": "M", "man": "M", "f": "F", "female": "F", "woman": "F"}
TIME_SUFFIXES = ("_months", "_days", "_weeks", "_years", "_time")
MAX_HEIGHT_M = HEIGHT_M.high  # SPEC 3: a height above 3 is a unit error (centimetres), refused
DECIMAL_COMMA = r"[-+]?\d+,\d+"  # '1,75' where 1.75 is meant (a spreadsheet in a decimal-comma locale)


@dataclass(frozen=True)
class Issue:
    """One problem in one cell, row or column of a table."""

    table: str
    row: int | None  # spreadsheet row number (header = 1); None for a whole column or table
    patient_id: str | None
    column: str | None
    reason: str
    severity: str = "error"  # "error" (must be fixed or excluded) or "warning" (reported, row still usable)
    blocking: bool = True  # a table-level error that stops every analysis (not just one endpoint)

    def format(self) -> str:
        where = [self.table]
        if self.row is not None:
            where.append(f"row {self.row}" + (f" (patient {self.patient_id})" if self.patient_id else ""))
        if self.column:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.severity}: {self.reason}"


@dataclass
class ValidationReport:
    """All issues found in the tables of one cohort, plus row counts."""

    issues: list[Issue] = field(default_factory=list)
    n_rows: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        return [i.format() for i in self.issues]

    def to_frame(self) -> pd.DataFrame:
        columns = ["table", "row", "patient_id", "column", "severity", "reason"]
        return pd.DataFrame([{c: getattr(i, c) for c in columns} for i in self.issues], columns=columns)

    def summary(self) -> str:
        tables = ", ".join(f"{name}: {n} rows" for name, n in self.n_rows.items())
        return f"{tables}; {len(self.errors)} errors, {len(self.warnings)} warnings"


@dataclass(frozen=True)
class Endpoint:
    """A survival endpoint: its name (OS, PFS) and the time and event columns."""

    name: str
    time: str
    event: str


@dataclass(frozen=True)
class CohortColumns:
    """Which columns hold what; absent optional columns are simply not validated."""

    id: str = "patient_id"
    sex: str = "sex"
    age: str = "age"
    height: str = "height_m"
    weight: str = "weight_kg"
    endpoints: tuple[Endpoint, ...] = ()  # empty: detect <name>_months/<name>_event pairs
    numeric: tuple[str, ...] = ()  # clinical columns that must hold numbers where present (covariates)
    required: tuple[str, ...] = ()  # further columns that must exist


def suggest_column(name: str, available: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, [str(a) for a in available], n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}the table has: {', '.join(map(str, available))}"


def detect_endpoints(columns: Sequence[str]) -> tuple[Endpoint, ...]:
    """Pairs <name>_<unit>/<name>_event, e.g. os_months/os_event -> endpoint 'OS'."""
    found = []
    for column in columns:
        if not column.endswith("_event"):
            continue
        stem = column[: -len("_event")]
        for suffix in TIME_SUFFIXES:
            if stem + suffix in columns:
                found.append(Endpoint(stem.upper(), stem + suffix, column))
                break
    return tuple(found)


class _Checker:
    """Collects issues for one table; knows how to name a row."""

    def __init__(self, raw: pd.DataFrame, table: str, id_column: str, report: ValidationReport):
        self.raw, self.table, self.id_column, self.report = raw, table, id_column, report
        self.bad_rows: dict[int, list[str]] = {}

    def add(self, index: int | None, column: str | None, reason: str, severity: str = "error",
            blocking: bool = True) -> None:
        row = None if index is None else int(index) + 2
        pid = None
        if index is not None and self.id_column in self.raw.columns:
            pid = self.raw.at[index, self.id_column] or None
        self.report.issues.append(Issue(self.table, row, pid, column, reason, severity, blocking))
        if severity == "error" and index is not None:
            self.bad_rows.setdefault(int(index), []).append(f"{column}: {reason}")

    def numeric(self, column: str, *, positive: bool = False, low: float | None = None,
                high: float | None = None, what: str = "value",
                plausible: PlausibleRange | None = None) -> pd.Series:
        """Parse a column as numbers; each non-number, missing or out-of-range cell is one issue.

        Parsing and range checks are vectorised; only the flagged cells are visited (in row order) to
        write their messages, so a clean column of 10,000 rows costs no Python loop.
        """
        text = self.raw[column]
        missing = text.str.lower().isin(MISSING_TOKENS)
        values = pd.to_numeric(text.where(~missing), errors="coerce")  # int64 stays int64, as before
        finite = pd.Series(np.isfinite(values.to_numpy(dtype=float)), index=values.index)
        flagged = missing | ~finite
        if positive:
            flagged |= values <= 0
        if low is not None:
            flagged |= values < low
        if high is not None:
            flagged |= values > high
        if plausible is not None:
            flagged |= finite & ~values.map(lambda v: plausible.contains(float(v)))
        for index in text.index[flagged.to_numpy()]:
            cell, value = text[index], values[index]
            if missing[index]:
                self.add(index, column, "missing value; the row is left out of analyses that need this column",
                         "warning")
            elif not finite[index]:
                self.add(index, column, _not_a_number(cell, what))
            elif positive and value <= 0:
                self.add(index, column, f"{what} must be > 0, got {cell}")
            elif (low is not None and value < low) or (high is not None and value > high):
                self.add(index, column, f"implausible {what} {cell} (expected {low} to {high})")
            elif plausible is not None and not plausible.contains(float(value)):
                self.add(index, column, str(plausible.problem(float(value))))
        usable = finite.copy()
        if plausible is not None:  # an implausible value is an error of its row, never a number to analyse
            usable &= values.map(lambda v: plausible.contains(float(v))).astype(bool)
        return values.where(usable)


def _not_a_number(cell: str, what: str) -> str:
    if re.fullmatch(DECIMAL_COMMA, cell):
        return (f"not a number: {cell!r} has a decimal comma; write {cell.replace(',', '.')} (a point as the decimal "
                f"separator, expected a number: {what})")
    return f"not a number: {cell!r} (wrong type; expected a number: {what})"





def _check_columns(raw: pd.DataFrame, needed: Sequence[str], checker: _Checker) -> None:
    for column in needed:
        if column not in raw.columns:
            checker.add(None, column, f"required column missing ({suggest_column(column, raw.columns)})")


def _check_ids(raw: pd.DataFrame, column: str, checker: _Checker) -> pd.Series:
    ids = raw[column]
    first_row: dict[str, int] = {}
    for index, value in ids.items():
        if value.lower() in MISSING_TOKENS:
            checker.add(index, column, "missing patient id")
        elif value in first_row:
            checker.add(index, column, f"duplicate patient id {value!r} (first seen in row {first_row[value] + 2})")
        else:
            first_row[value] = int(index)
    return ids.where(~ids.str.lower().isin(MISSING_TOKENS))


def _check_events(raw: pd.DataFrame, column: str, checker: _Checker) -> pd.Series:
    text = raw[column]
    missing = text.str.lower().isin(MISSING_TOKENS)
    numbers = pd.to_numeric(text.where(~missing), errors="coerce").astype(float)
    valid = ~missing & numbers.isin([0.0, 1.0])
    for index in text.index[(~valid).to_numpy()]:
        if missing[index]:
            checker.add(index, column, "missing event indicator; the row is left out of this endpoint", "warning")
        else:
            checker.add(index, column, f"event must be 0 (censored) or 1 (event observed), got {text[index]!r}")
    return numbers.where(valid)


def _check_sex(raw: pd.DataFrame, column: str, checker: _Checker) -> pd.Series:
    """M/F per row (None where missing or unknown); a Python step only for the rows with a problem."""
    cells = raw[column]
    lower = cells.str.lower()
    coded = lower.map(SEX_CODES)
    values = pd.Series(coded.where(coded.notna(), None).to_numpy(dtype=object), index=raw.index, dtype=object)
    for index in raw.index[coded.isna().to_numpy()]:
        cell = cells[index]
        if cell.lower() in MISSING_TOKENS:
            checker.add(index, column, "missing sex; sex-specific analyses leave the row out", "warning")
        else:
            checker.add(index, column, f"unknown sex code {cell!r}; use M or F (male/female)")
    return values


def _check_heights(raw: pd.DataFrame, column: str, checker: _Checker) -> pd.Series:
    heights = checker.numeric(column, positive=True, what="height in metres")
    for index in heights.index[((heights > MAX_HEIGHT_M) | (heights < HEIGHT_M.low)).to_numpy()]:
        value = heights[index]
        if value > MAX_HEIGHT_M:
            checker.add(index, column, f"height {raw.at[index, column]} is above {MAX_HEIGHT_M:g}: looks like "
                        f"centimetres; heights must be in metres (e.g. {value:g} cm -> {value / 100:g} m)")
        else:
            checker.add(index, column, str(HEIGHT_M.problem(float(value))))
    return heights.where((heights <= MAX_HEIGHT_M) & (heights >= HEIGHT_M.low))


def validate_clinical(raw: pd.DataFrame, table: str, columns: CohortColumns, report: ValidationReport,
                      require_id: bool) -> tuple[pd.DataFrame, tuple[Endpoint, ...], dict[int, list[str]]]:
    """Type and check the clinical table; returns typed columns, endpoints and rows with errors."""
    checker = _Checker(raw, table, columns.id, report)
    endpoints = columns.endpoints or detect_endpoints(list(raw.columns))
    if not endpoints:
        checker.add(None, None, "no survival endpoint found: name the columns <name>_months and <name>_event "
                    "(e.g. os_months, os_event) or give --time and --event")
    if not columns.endpoints:  # a time column without its event column is a missing required column
        for column in raw.columns:
            stem = next((column[: -len(s)] for s in TIME_SUFFIXES if column.endswith(s)), None)
            if stem and f"{stem}_event" not in raw.columns:
                checker.add(None, f"{stem}_event", f"required column missing: {column} has no event column "
                            f"{stem}_event (0 censored, 1 event), so the {stem.upper()} endpoint cannot be analysed",
                            blocking=False)
    needed = [columns.id] if require_id else []
    needed += [c for e in endpoints for c in (e.time, e.event)] + list(columns.required)
    _check_columns(raw, dict.fromkeys(needed), checker)
    typed = pd.DataFrame(index=raw.index)
    typed["_row"] = raw.index + 2
    for column in raw.columns:  # text columns as given (diagnosis, cohort, stage ...), '' -> missing
        typed[column] = raw[column].where(~raw[column].str.lower().isin(MISSING_TOKENS))
    if columns.id in raw.columns:
        typed[columns.id] = _check_ids(raw, columns.id, checker)
    for endpoint in endpoints:
        if endpoint.time in raw.columns:
            typed[endpoint.time] = checker.numeric(endpoint.time, positive=True, what="follow-up time")
        if endpoint.event in raw.columns:
            typed[endpoint.event] = _check_events(raw, endpoint.event, checker)
    if columns.sex in raw.columns:
        typed[columns.sex] = _check_sex(raw, columns.sex, checker)
        typed["male"] = typed[columns.sex].map({"M": 1.0, "F": 0.0}).astype(float)
    if columns.height in raw.columns:
        typed[columns.height] = _check_heights(raw, columns.height, checker)
    if columns.weight in raw.columns:
        typed[columns.weight] = checker.numeric(columns.weight, positive=True, what="weight in kg", plausible=WEIGHT_KG)
    if columns.height in raw.columns and columns.weight in raw.columns:
        typed["bmi"] = typed[columns.weight] / typed[columns.height] ** 2
    if columns.age in raw.columns:
        typed[columns.age] = checker.numeric(columns.age, what="age in years", plausible=AGE_Y)
    done = {columns.id, columns.sex, columns.height, columns.weight, columns.age,
            *(c for e in endpoints for c in (e.time, e.event))}
    for column in columns.numeric:
        if column in raw.columns and column not in done:
            typed[column] = checker.numeric(column, what="number")
    for column in raw.columns:  # a mostly numeric column written with decimal commas: caught here, not at analysis
        if column in done or column in columns.numeric:
            continue
        present = raw[column][~raw[column].str.lower().isin(MISSING_TOKENS)]
        commas = present.str.fullmatch(DECIMAL_COMMA)
        if len(present) and commas.any() and (commas | pd.to_numeric(present, errors="coerce").notna()).mean() >= 0.5:
            typed[column] = checker.numeric(column, what="number")
    return typed, endpoints, checker.bad_rows


def validate_measurements(raw: pd.DataFrame, table: str, id_column: str,
                          report: ValidationReport) -> tuple[pd.DataFrame, set[int]]:
    """Type the measurement table: ids unique, mostly-numeric columns numeric cell by cell."""
    checker = _Checker(raw, table, id_column, report)
    _check_columns(raw, [id_column], checker)
    if id_column not in raw.columns:
        return pd.DataFrame(), set()
    typed = pd.DataFrame({id_column: _check_ids(raw, id_column, checker)}, index=raw.index)
    for column in raw.columns:
        if column == id_column:
            continue
        text = raw[column]
        present = text[~text.str.lower().isin(MISSING_TOKENS)]
        parsed = pd.to_numeric(present, errors="coerce")
        numeric_share = (parsed.notna() | present.str.fullmatch(DECIMAL_COMMA)).mean() if len(present) else 0.0
        if numeric_share >= 0.5:  # a numeric column (decimal commas too): every cell must be a number
            typed[column] = checker.numeric(column, what="measurement", plausible=measure_range(column))
        else:
            typed[column] = text.where(~text.str.lower().isin(MISSING_TOKENS))
    return typed, set(checker.bad_rows)
