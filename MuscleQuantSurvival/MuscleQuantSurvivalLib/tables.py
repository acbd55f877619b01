"""Cohort tables: read clinical and measurement tables (CSV or XLSX), validate them cell by cell and
join them on patient id.

Every problem becomes an :class:`Issue` naming the table, the spreadsheet row (header = row 1), the
patient, the column and the reason, so a user can fix the file. Nothing is dropped silently: rows
with errors are refused unless the caller asks to exclude them, and every analysis states which rows
it used and why the others were left out (:class:`Exclusions`).
"""

from __future__ import annotations

import csv
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from MuscleQuantLib.errors import InputError

from .validation import (
    MISSING_TOKENS,
    TIME_SUFFIXES,
    CohortColumns,
    Endpoint,
    Issue,
    ValidationReport,
    detect_endpoints,
    suggest_column,
    validate_clinical,
    validate_measurements,
)

__all__ = ["MISSING_TOKENS", "TIME_SUFFIXES", "Cohort", "CohortColumns", "CohortTableError", "Endpoint", "Exclusions",
           "Issue", "ValidationReport", "build_cohort", "detect_endpoints", "frame_as_text", "load_cohort", "read_table"]


DEFAULT_COLUMNS = CohortColumns()
# Why a flagged, unapproved measurement is not used (issue 14: never silently counted as a measurement).
FLAGGED_REASON = "measurement flagged by the plausibility checks (needs_review) and not approved"


class CohortTableError(InputError):
    """The cohort table has errors; the message lists them by row and column."""


@dataclass
class Exclusions:
    """Which rows an analysis used, and why the others were left out (one reason per row)."""

    n_total: int
    n_used: int
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (patient or row label, reason)
    details: dict[str, str] = field(default_factory=dict)  # label -> what exactly is wrong (invalid rows)

    def counts(self) -> Counter:
        return Counter(reason for _, reason in self.left_out)

    def summary(self) -> str:
        text = f"used {self.n_used} of {self.n_total} rows"
        if self.left_out:
            text += "; left out: " + "; ".join(f"{n} {reason}" for reason, n in self.counts().most_common())
        return text


@dataclass
class Cohort:
    """The validated, typed and joined cohort: one row per clinical row, in file order."""

    data: pd.DataFrame  # typed columns plus _row (spreadsheet row), derived 'male' and 'bmi'
    report: ValidationReport
    columns: CohortColumns
    endpoints: tuple[Endpoint, ...]
    invalid: dict[int, list[str]]  # data index -> reasons the row has errors
    measurement_columns: tuple[str, ...] = ()
    has_measurement: pd.Series | None = None

    def label(self, index: int) -> str:
        """Patient id and spreadsheet row: unique even when an id is duplicated."""
        return self._labels[index]

    @cached_property
    def _labels(self) -> dict[int, str]:
        ids = self.data[self.columns.id] if self.columns.id in self.data.columns else pd.Series(None, index=self.data.index)
        return {index: f"{pid} (row {int(row)})" if isinstance(pid, str) and pid else f"row {int(row)}"
                for index, pid, row in zip(self.data.index, ids, self.data["_row"], strict=True)}

    def require_valid(self, exclude_invalid: bool) -> None:
        """Refuse a table with errors unless the user explicitly excludes the rows that have them."""
        if self.report.errors and not exclude_invalid:
            table_level = [i for i in self.report.errors if i.row is None and i.blocking]
            shown = "; ".join(i.format() for i in self.report.errors[:5])
            more = len(self.report.errors) - 5
            hint = "fix the table" if table_level else "fix the table or pass --exclude-invalid to leave those rows out"
            raise CohortTableError(f"{len(self.report.errors)} errors in the cohort tables ({shown}"
                                   f"{f'; and {more} more' if more > 0 else ''}); {hint}; "
                                   "`musclequant cohort validate` lists them all")
        table_level = [i for i in self.report.errors if i.row is None and i.blocking]
        if table_level:
            raise CohortTableError("; ".join(i.format() for i in table_level))

    def usable(self, needed: Sequence[str], exclude_invalid: bool = False) -> tuple[pd.DataFrame, Exclusions]:
        """Rows that have every ``needed`` column, with the reason each other row was left out."""
        self.require_valid(exclude_invalid)
        missing_columns = [c for c in needed if c not in self.data.columns]
        if missing_columns:
            raise CohortTableError(f"column(s) {', '.join(missing_columns)} not in the cohort tables "
                                   f"({suggest_column(missing_columns[0], [c for c in self.data.columns if not c.startswith('_')])})")
        reasons = self.exclusion_reasons(needed)
        exclusions = Exclusions(len(self.data), int(reasons.isna().sum()))
        for index, reason in reasons.dropna().items():
            exclusions.left_out.append((self.label(index), reason))
            if index in self.invalid:
                exclusions.details[self.label(index)] = "; ".join(dict.fromkeys(self.invalid[index]))
        return self.data.loc[reasons.isna().to_numpy()].copy(), exclusions

    def exclusion_reasons(self, needed: Sequence[str]) -> pd.Series:
        """Why each row cannot be used (None: usable): an invalid row, else the first missing column of
        ``needed``, where a measurement missing because the patient has no measurement row says so."""
        reasons = pd.Series(None, index=self.data.index, dtype=object)
        remaining = np.ones(len(self.data), dtype=bool)
        invalid = self.data.index.isin(list(self.invalid))
        reasons[invalid] = "invalid row (errors listed by validate)"
        remaining &= ~invalid
        no_row = (~self.has_measurement.reindex(self.data.index, fill_value=True).astype(bool).to_numpy()
                  if self.has_measurement is not None else np.zeros(len(self.data), dtype=bool))
        if any(column in self.measurement_columns for column in needed):
            flagged = remaining & self.flagged_for_review()
            reasons[flagged] = FLAGGED_REASON
            remaining &= ~flagged
        for column in needed:
            hit = remaining & self.data[column].isna().to_numpy()
            if column in self.measurement_columns:
                reasons[hit & no_row] = "no measurement row for the patient"
                reasons[hit & ~no_row] = f"missing {column}"
            else:
                reasons[hit] = f"missing {column}"
            remaining &= ~hit
        return reasons

    def flagged_for_review(self) -> np.ndarray:
        """Rows whose measurement the plausibility checks flagged (``needs_review``) and nobody approved
        since: such a value is a draft, so analyses that use measurements leave it out and say why."""
        status = self.data.get("plausibility_status")
        if status is None:
            return np.zeros(len(self.data), dtype=bool)
        review = self.data.get("review_status")
        flagged = (status.astype(str).str.lower() == "needs_review").to_numpy(dtype=bool)
        if review is not None:
            flagged &= (review.astype(str).str.lower() != "approved").to_numpy(dtype=bool)
        return flagged


def read_table(path: str | Path, sheet: str | None = None) -> pd.DataFrame:
    """Read a CSV or XLSX table as text cells ('' for empty), so validation sees what the user typed."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path)
    suffix = path.suffix.lower()
    try:
        if path.stat().st_size == 0:
            raise InputError("the file is empty (no header row, no data rows)", path=path)
        if suffix in (".csv", ".tsv", ".txt"):
            # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark that would stick to the first column name
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig",
                                sep="\t" if suffix == ".tsv" else None, engine="python")
        elif suffix in (".xlsx", ".xlsm"):
            if not zipfile.is_zipfile(path):
                raise InputError("is not an Excel workbook (an .xlsx file is a zip archive; is it a CSV or an old .xls "
                                 "saved under this name?): save it as .xlsx, or give it the .csv suffix", path=path)
            frame = pd.read_excel(path, sheet_name=sheet or 0, dtype=object, engine="openpyxl")
            frame = frame.map(_cell_text)
        else:
            raise InputError("unsupported table format (use .csv, .tsv or .xlsx)", path=path)
    except InputError:
        raise
    except UnicodeDecodeError as exc:
        raise InputError(f"is not a UTF-8 text table (undecodable byte at position {exc.start}); save it as "
                         "CSV UTF-8, or as .xlsx", path=path) from exc
    except pd.errors.EmptyDataError as exc:
        raise InputError("the table has no columns (an empty or blank file)", path=path) from exc
    except (ValueError, KeyError, OSError, pd.errors.ParserError, csv.Error, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read the table: {' '.join(str(exc).split())}", path=path) from exc
    except Exception as exc:  # noqa: BLE001 - openpyxl raises its own types for a damaged workbook
        if suffix not in (".xlsx", ".xlsm"):
            raise
        raise InputError(f"cannot read the workbook: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}",
                         path=path) from exc
    if frame.empty:
        raise InputError("the table has no data rows", path=path)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.apply(lambda col: col.astype(str).str.strip())


def _cell_text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)

def load_cohort(clinical: str | Path, measurements: str | Path | None = None,
                columns: CohortColumns = DEFAULT_COLUMNS, sheet: str | None = None) -> Cohort:
    """Read, validate and join the cohort tables; the report holds every issue found."""
    raw = read_table(clinical, sheet)
    raw_measured = read_table(measurements) if measurements is not None else None
    return build_cohort(raw, Path(clinical).name, raw_measured,
                        Path(measurements).name if measurements is not None else "", columns)


def frame_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A DataFrame as the text cells a file would hold ('' for missing), for :func:`build_cohort`."""
    return frame.map(_cell_text).astype(str).reset_index(drop=True)


def build_cohort(raw: pd.DataFrame, clinical_name: str, raw_measured: pd.DataFrame | None = None,
                 measured_name: str = "measurements", columns: CohortColumns = DEFAULT_COLUMNS) -> Cohort:
    """Validate and join text tables (from :func:`read_table` or :func:`frame_as_text`)."""
    report = ValidationReport()
    report.n_rows[clinical_name] = len(raw)
    data, endpoints, invalid = validate_clinical(raw, clinical_name, columns, report,
                                                 require_id=raw_measured is not None)
    if raw_measured is None:
        return Cohort(data, report, columns, endpoints, invalid)
    report.n_rows[measured_name] = len(raw_measured)
    measured, bad_measured = validate_measurements(raw_measured, measured_name, columns.id, report)
    if columns.id not in data.columns or measured.empty:
        return Cohort(data, report, columns, endpoints, invalid)
    duplicated = measured[columns.id].duplicated(keep="first") | measured[columns.id].isna()
    bad_ids = set(measured.loc[list(bad_measured), columns.id].dropna()) if bad_measured else set()
    measured = measured[~duplicated]
    known = set(data[columns.id].dropna())
    for index, pid in measured[columns.id].items():
        if pid not in known:
            report.issues.append(Issue(measured_name, int(index) + 2, pid, columns.id,
                                       "no clinical row for this patient; the measurement is not used", "warning"))
    renames = {c: f"{c}_measurements" for c in measured.columns if c != columns.id and c in data.columns}
    for original, renamed in renames.items():
        report.issues.append(Issue(measured_name, None, None, original, f"column is in both tables; the "
                                   f"measurement table's copy is available as {renamed}", "warning"))
    measured = measured.rename(columns=renames)
    measured["_has_measurement"] = True
    joined = data.merge(measured, on=columns.id, how="left", validate="many_to_one")
    joined.index = data.index
    has_measurement = joined.pop("_has_measurement").eq(True)
    for index in data.index:
        pid = data.at[index, columns.id]
        if isinstance(pid, str) and not has_measurement[index]:
            report.issues.append(Issue(clinical_name, int(index) + 2, pid, columns.id, "no measurement row for "
                                       "this patient; left out of analyses that use measurements", "warning"))
        if pid in bad_ids:
            invalid.setdefault(index, []).append(f"errors in its row of {measured_name}")
    measurement_columns = tuple(c for c in measured.columns if c not in (columns.id, "_has_measurement"))
    return Cohort(joined, report, columns, endpoints, invalid, measurement_columns, has_measurement)
