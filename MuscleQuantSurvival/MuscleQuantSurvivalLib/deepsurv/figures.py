"""Figures of the radiomics survival analysis: C-index per set and score, and the PCA views of the
radiomic features coloured by each sarcopenia definition (the paper's 3-component plots)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..figures import COLOURS


def c_index_figure(metrics: pd.DataFrame) -> Figure:
    """C-index with 95 % CI, one panel per set, DeepSurv first then each definition."""
    sets = list(dict.fromkeys(metrics["set"]))
    figure = Figure(figsize=(4.0 * len(sets), 3.8))
    for number, name in enumerate(sets):
        ax = figure.add_subplot(1, len(sets), number + 1)
        part = metrics[metrics["set"] == name].reset_index(drop=True)
        y = np.arange(len(part))[::-1]
        c = part["c_index"].to_numpy(dtype=float)
        low = part.get("c_index_ci_low", pd.Series(np.nan, index=part.index)).to_numpy(dtype=float)
        high = part.get("c_index_ci_high", pd.Series(np.nan, index=part.index)).to_numpy(dtype=float)
        colours = [COLOURS[1] if k == "deepsurv" else COLOURS[0] for k in part["kind"]]
        ax.errorbar(c, y, xerr=[np.nan_to_num(c - low), np.nan_to_num(high - c)], fmt="none", ecolor="#555", capsize=3)
        ax.scatter(c, y, c=colours, zorder=3)
        ax.axvline(0.5, color="#999", linestyle=":")
        ax.set_yticks(y, part["score"] if number == 0 else [""] * len(part))
        ax.set_xlim(0.35, 0.9)
        ax.set_title(f"{name} (n={int(part['n'].iloc[0])})")
        ax.set_xlabel("C-index (95 % CI)")
    figure.suptitle("DeepSurv (radiomics) vs traditional sarcopenia definitions")
    figure.tight_layout()
    return figure


def pca_figure(components: np.ndarray, indicators: dict[str, np.ndarray]) -> Figure:
    """One 3D scatter of the first three principal components per definition (sarcopenic in red)."""
    names = list(indicators)
    columns = min(3, max(1, len(names)))
    rows = int(np.ceil(len(names) / columns)) or 1
    figure = Figure(figsize=(4.2 * columns, 4.0 * rows))
    for number, name in enumerate(names):
        ax = figure.add_subplot(rows, columns, number + 1, projection="3d")
        flag = indicators[name]
        for value, colour, label in ((0.0, COLOURS[0], "not sarcopenic"), (1.0, COLOURS[1], "sarcopenic")):
            pick = flag == value
            ax.scatter(*components[pick, :3].T, s=6, c=colour, label=f"{label} ({int(pick.sum())})", depthshade=False)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("PC1")
        ax.set_ylabel("PC2")
        ax.set_zlabel("PC3")
        ax.legend(fontsize=7, loc="upper left")
    figure.suptitle("Radiomic features, first three principal components, by sarcopenia definition")
    return figure
