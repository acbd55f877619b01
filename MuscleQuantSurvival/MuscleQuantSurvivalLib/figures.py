"""Publication figures: Kaplan–Meier curves (censor marks, CI bands, log-rank p, numbers at risk),
forest plots of hazard ratios, Bland–Altman and scatter plots; saved as PNG (300 dpi), SVG and PDF.

Figures are built on ``matplotlib.figure.Figure`` without pyplot, so no GUI backend or global state
is touched (safe inside Slicer and in parallel test runs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from .figure_files import DPI, FORMATS, save_figure
from .formatting import FOREST_COLUMNS, format_p

if TYPE_CHECKING:  # a figure worker unpickles plots that reference this module: numpy and matplotlib only
    import pandas as pd

    from .km import KMResult

__all__ = ["DPI", "FORMATS", "save_figure"]
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")


def plain_number(value: float, _position: object = None) -> str:
    """Tick label 0.5, 1, 2 (a module function, not a lambda, so the figure can be pickled to a worker)."""
    return f"{value:g}"


def _time_label(column: str) -> str:
    from .tables import TIME_SUFFIXES

    for suffix in TIME_SUFFIXES:
        if column.endswith(suffix) and suffix != "_time":
            return f"Time ({suffix[1:]})"
    return f"Time ({column})"


def at_risk_counts(durations: np.ndarray, ticks: np.ndarray) -> list[int]:
    """Number at risk at each tick: patients whose follow-up time is at least the tick (as R's survfit)."""
    return [int((durations >= tick).sum()) for tick in ticks]


def km_figure(result: KMResult) -> Figure:
    """Survival curves with 95 % CI bands and censor marks, the log-rank p and a numbers-at-risk table."""
    groups = list(result.fitters)
    figure = Figure(figsize=(7.0, 5.2 + 0.25 * len(groups)))
    grid = figure.add_gridspec(2, 1, height_ratios=[4.0, 0.6 + 0.3 * len(groups)], hspace=0.35)
    ax = figure.add_subplot(grid[0])
    table_ax = figure.add_subplot(grid[1], sharex=ax)
    for number, (group, fitter) in enumerate(result.fitters.items()):
        colour = COLOURS[number % len(COLOURS)]
        row = result.table.loc[result.table["group"] == group].iloc[0]
        label = f"{group} (n={row['n']}, events={row['events']})"
        fitter.plot_survival_function(ax=ax, ci_show=True, show_censors=True, color=colour, label=label,
                                      censor_styles={"marker": "|", "ms": 7, "mew": 1.2}, ci_alpha=0.15)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.set_ylabel("Survival probability")
    ax.set_xlabel("")
    ax.set_title(result.title, fontsize=10)
    ax.text(0.98, 0.95, result.logrank_text(), transform=ax.transAxes, ha="right", va="top", fontsize=9,
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.7"})
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    ax.grid(alpha=0.25)
    ticks = np.array([t for t in ax.get_xticks() if 0 <= t <= ax.get_xlim()[1]])
    table_ax.set_xlim(ax.get_xlim())
    table_ax.set_ylim(-0.5, len(groups) - 0.5)
    for number, fitter in enumerate(result.fitters.values()):
        y = len(groups) - 1 - number
        counts = at_risk_counts(np.asarray(fitter.durations, dtype=float), ticks)
        for tick, count in zip(ticks, counts, strict=True):
            table_ax.text(tick, y, str(count), ha="center", va="center", fontsize=8,
                          color=COLOURS[number % len(COLOURS)])
    table_ax.set_yticks(range(len(groups)))
    table_ax.set_yticklabels(list(reversed(groups)), fontsize=8)
    table_ax.set_title("Number at risk", fontsize=9, loc="left")
    table_ax.set_xlabel(_time_label(result.endpoint.time))
    table_ax.tick_params(axis="y", length=0, pad=16)
    for spine in ("top", "right", "left"):
        table_ax.spines[spine].set_visible(False)
    return figure


def forest_figure(table: pd.DataFrame | dict[str, np.ndarray], title: str) -> Figure:
    """Forest plot: HR with 95 % CI per row (columns label, hr, hr_ci_low, hr_ci_high, p), log scale.

    ``table``: a DataFrame or :func:`.formatting.forest_columns` of one (the same figure either way)."""
    label = [str(v) for v in np.asarray(table["label"], dtype=object)]
    hr, low_ci, high_ci, p = (np.asarray(table[c], dtype=float) for c in FOREST_COLUMNS[1:])
    n = len(label)
    figure = Figure(figsize=(8.0, 1.3 + 0.42 * n))
    ax = figure.add_axes((0.36, 0.18 if n > 2 else 0.3, 0.36, 0.7 if n > 2 else 0.55))
    y = np.arange(n)[::-1]
    f_hr, f_low, f_high = (np.where(np.isinf(v), np.nan, v) for v in (hr, low_ci, high_ci))
    ax.errorbar(f_hr, y, xerr=[f_hr - f_low, f_high - f_hr], fmt="s", color="#1f3b73", ecolor="#1f3b73", capsize=3, ms=5)
    ax.axvline(1.0, color="0.4", ls="--", lw=0.8)
    ax.set_xscale("log")
    low = np.nanmin(f_low) if n else 0.5
    high = np.nanmax(f_high) if n else 2.0
    ax.set_xlim(min(low, 0.9) / 1.3, max(high, 1.1) * 1.3)
    ax.set_ylim(-0.7, n + 0.1)
    nice = [0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 4, 5, 10, 20]
    left, right = ax.get_xlim()
    ax.xaxis.set_major_locator(FixedLocator([v for v in nice if left <= v <= right]))
    ax.xaxis.set_major_formatter(FuncFormatter(plain_number))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(y)
    ax.set_yticklabels(label, fontsize=8)
    ax.set_xlabel("Hazard ratio (95 % CI, log scale)")
    figure.suptitle(title, fontsize=10, x=0.02, ha="left")
    for yy, row in zip(y, range(n), strict=True):
        text = f"{hr[row]:.2f} ({low_ci[row]:.2f}–{high_ci[row]:.2f})   p {format_p(p[row])}"
        ax.annotate(text, xy=(1.03, yy), xycoords=("axes fraction", "data"), va="center", fontsize=8)
    ax.annotate("HR (95 % CI)   p", xy=(1.03, n - 0.45), xycoords=("axes fraction", "data"), fontsize=8,
                weight="bold", va="bottom")
    ax.grid(axis="x", alpha=0.25)
    return figure


def bland_altman_figure(a: np.ndarray, b: np.ndarray, bias: float, low: float, high: float, title: str) -> Figure:
    """Difference against mean with the bias and the 95 % limits of agreement."""
    figure = Figure(figsize=(6.0, 4.5))
    ax = figure.add_subplot()
    mean, diff = (a + b) / 2.0, a - b
    ax.scatter(mean, diff, s=14, alpha=0.7, color="#1f77b4")
    for value, style, text in ((bias, "-", "bias"), (low, "--", "lower LoA"), (high, "--", "upper LoA")):
        ax.axhline(value, color="#d62728", ls=style, lw=1)
        ax.annotate(f"{text} {value:.3g}", xy=(1.0, value), xycoords=("axes fraction", "data"), fontsize=8,
                    ha="right", va="bottom", color="#d62728")
    ax.set_xlabel("Mean of the two methods")
    ax.set_ylabel("Difference (first − second)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.25)
    return figure


def scatter_figure(x: np.ndarray, y: np.ndarray, x_label: str, y_label: str, title: str) -> Figure:
    """Scatter with a least-squares line, for correlations."""
    figure = Figure(figsize=(5.5, 4.5))
    ax = figure.add_subplot()
    ax.scatter(x, y, s=14, alpha=0.7, color="#1f77b4")
    if np.ptp(x) > 0:
        slope, intercept = np.polyfit(x, y, 1)
        grid = np.linspace(np.min(x), np.max(x), 50)
        ax.plot(grid, slope * grid + intercept, color="#d62728", lw=1.2)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.25)
    return figure
