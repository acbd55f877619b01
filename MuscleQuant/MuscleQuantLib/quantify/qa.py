"""QA figure: the measured slice in radiological orientation with every label's outline.

Radiological convention: the patient's right is on the viewer's left and anterior is at the top,
whatever the storage order (the direction matrix decides the flips, so RAS-stored, LPS-stored and
transposed slices all look the same). Outlines use the label's colour (Slicer segment colour when
known), the legend gives each label's CSA, and the title gives patient, slice index and position.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from ..fileio import atomic_path  # noqa: E402
from .engine import CaseResult  # noqa: E402

CT_WINDOW = (40.0, 400.0)  # level, width: soft tissue


def display_transform(direction: list[float], spacing: tuple[float, float]) -> tuple[Callable[[np.ndarray], np.ndarray], float]:
    """A function mapping a stored (row=j, col=i) slice to display order, and the pixel aspect (h/w)."""
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    sx, sy = spacing
    transpose = abs(d[0, 1]) > abs(d[0, 0])  # the j axis runs left-right: swap
    col_dir, row_dir = (d[:, 1], d[:, 0]) if transpose else (d[:, 0], d[:, 1])
    flip_cols = col_dir[0] < 0  # screen right must be the patient's left (+x in LPS)
    flip_rows = row_dir[1] < 0  # screen down must be posterior (+y in LPS)

    def apply(array: np.ndarray) -> np.ndarray:
        out = array.T if transpose else array
        if flip_cols:
            out = out[:, ::-1]
        if flip_rows:
            out = out[::-1, :]
        return out

    return apply, (sx / sy if transpose else sy / sx)


def label_color(index: int, stored: tuple[float, float, float] | None) -> tuple[float, float, float]:
    if stored is not None and stored != (0.5, 0.5, 0.5):
        return stored
    return tuple(plt.get_cmap("tab10")(index % 10)[:3])  # type: ignore[return-value]


def write_qa_png(result: CaseResult, path: str | Path) -> Path:
    """Render the QA figure for one case (atomic write)."""
    with atomic_path(path) as tmp:
        render_qa_png(result, tmp)
    return Path(path)


def render_qa_png(result: CaseResult, path: str | Path) -> Path:
    """Render the QA figure into ``path`` as it is (the caller makes the write atomic)."""
    record = result.record
    spacing = record["slice"]["spacing_mm"]
    to_display, aspect = display_transform(record["image"]["direction"], (spacing[0], spacing[1]))
    fig, ax = plt.subplots(figsize=(7.5, 7.5), dpi=110)
    if result.slice_image is not None:
        if record["modality"] == "CT":
            level, width = CT_WINDOW
            vmin, vmax = level - width / 2, level + width / 2
        else:
            vmin, vmax = np.percentile(result.slice_image, [1, 99.5])
        ax.imshow(to_display(result.slice_image), cmap="gray", vmin=vmin, vmax=vmax, aspect=aspect,
                  interpolation="nearest")
    else:
        ax.imshow(np.zeros_like(to_display(result.slice_labels), dtype=float), cmap="gray", aspect=aspect)
    handles = []
    for n, info in enumerate(result.labels):
        mask = to_display(result.slice_labels == info.label_id)
        color = label_color(n, result.colors.get(info.label_id))
        csa = record["labels"][info.name]["slice"]["csa_mm2"]
        if mask.any():
            ax.contour(mask.astype(float), levels=[0.5], colors=[color], linewidths=1.2)
        handles.append(Line2D([], [], color=color, lw=2, label=f"{info.name}: {csa / 100:.2f} cm²"
                              + ("" if mask.any() else " (not on slice)")))
    sy, sx = spacing[1], spacing[0]
    for side, (row, col, thickness) in result.tmt_centers.items():
        rr, cc = np.mgrid[: result.slice_labels.shape[0], : result.slice_labels.shape[1]]
        disc = ((rr - row) * sy) ** 2 + ((cc - col) * sx) ** 2 <= (thickness / 2) ** 2
        ax.contour(to_display(disc).astype(float), levels=[0.5], colors=["yellow"], linewidths=1, linestyles="--")
        handles.append(Line2D([], [], color="yellow", ls="--", label=f"TMT {side}: {thickness:.1f} mm"))
    row = result.row
    if row.get("tmt_mm") is not None and not result.tmt_centers:
        handles.append(Line2D([], [], color="yellow", ls="--", label=f"TMT {row['tmt_mm']:.1f} mm (L "
                              f"{row.get('tmt_left_mm') or float('nan'):.1f}, R {row.get('tmt_right_mm') or float('nan'):.1f})"
                              f" on slice {row['tmt_slice_index']}"))
    ax.text(0.01, 0.5, "R", transform=ax.transAxes, color="white", fontsize=14, weight="bold", va="center")
    ax.text(0.97, 0.5, "L", transform=ax.transAxes, color="white", fontsize=14, weight="bold", va="center")
    ax.text(0.5, 0.97, "A", transform=ax.transAxes, color="white", fontsize=12, ha="center", va="top")
    s = record["slice"]
    hu = record["hu_range"]
    hu_text = f"HU {hu['min']:g}..{hu['max']:g} ({hu['name']})" if hu else "no HU range"
    ax.set_title(f"{record['patient_id']} — {record['preset']} — slice {s['index']} at {s['position_mm']:.1f} mm "
                 f"(S, LPS)\n{s['rule']}; total CSA {record['total_muscle_slice']['csa_cm2']:.2f} cm²; {hu_text}",
                 fontsize=9)
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, -0.02 - 0.035 * ((len(handles) + 2) // 3)),
              ncol=3, fontsize=7, frameon=False)
    ax.set_axis_off()
    fig.tight_layout()
    try:
        fig.savefig(path, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)
    return Path(path)
