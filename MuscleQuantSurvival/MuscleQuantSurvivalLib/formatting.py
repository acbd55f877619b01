"""Number formats shared by tables, figures and the report.

Kept free of pandas and lifelines so a figure-writing worker that unpickles a forest plot (whose
annotations were formatted here) imports matplotlib and numpy only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

FOREST_COLUMNS = ("label", "hr", "hr_ci_low", "hr_ci_high", "p")  # what a forest plot reads
FORMATS = ("png", "svg", "pdf")  # every figure is written in these (figure_files); here so paths need no matplotlib


def format_p(p: float | None) -> str:
    """p-values as journals print them: three significant digits, '< 0.001' below."""
    if p is None or not np.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def forest_columns(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """The columns a forest plot reads, as numpy arrays: a figure worker unpickles them without pandas."""
    return {c: table[c].to_numpy() for c in FOREST_COLUMNS}
