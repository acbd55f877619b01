"""QA figure: the measured slice in radiological orientation with every label's outline.

Radiological convention: the patient's right is on the viewer's left and anterior is at the top,
whatever the storage order (the direction matrix decides the flips, so RAS-stored, LPS-stored and
transposed slices all look the same). Outlines use the label's colour (Slicer segment colour when
known), the legend gives each label's CSA, and the title gives patient, slice index and position.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from PIL import Image  # noqa: E402

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
    return tuple(matplotlib.colormaps["tab10"](index % 10)[:3])  # type: ignore[return-value]


def write_qa_png(result: CaseResult, path: str | Path) -> Path:
    """Render the QA figure for one case (atomic write)."""
    with atomic_path(path) as tmp:
        render_qa_png(result, tmp)
    return Path(path)


QA_DPI = 110
QA_WIDTH_PX = 825  # 7.5 in at 110 dpi
TITLE_PX, LEGEND_ROW_PX, MARGIN_PX = 44, 17, 8


def render_qa_png(result: CaseResult, path: str | Path) -> Path:
    """Render the QA figure into ``path`` as it is (the caller makes the write atomic).

    The slice and its outlines are painted into one RGB raster at display size (nearest-neighbour pixels,
    outlines two display pixels inside each label's edge); matplotlib draws only the title, the orientation
    letters and the legend on a transparent figure, which is laid over the raster, and the PNG is encoded once.
    Axes, contouring, ``tight_layout`` and ``bbox_inches='tight'`` (two full draws) were most of a 2D case's
    quantify time."""
    from matplotlib.figure import Figure

    record = result.record
    spacing = record["slice"]["spacing_mm"]
    to_display, aspect = display_transform(record["image"]["direction"], (spacing[0], spacing[1]))
    handles = _legend_handles(result, to_display)
    rows, cols = to_display(result.slice_labels).shape
    width = QA_WIDTH_PX - 2 * MARGIN_PX
    height = width * rows * aspect / cols
    if height > width:  # a tall slice: fit the height, as the square figure did
        width, height = width * width / height, float(width)
    width, height = max(1, int(round(width))), max(1, int(round(height)))
    legend_px = LEGEND_ROW_PX * ((len(handles) + 2) // 3) + MARGIN_PX
    fig_w, fig_h = QA_WIDTH_PX, TITLE_PX + height + legend_px + MARGIN_PX
    x0, y0 = (fig_w - width) // 2, legend_px + MARGIN_PX  # the raster's lower-left corner, pixels from bottom-left
    fig = Figure(figsize=(fig_w / QA_DPI, fig_h / QA_DPI), dpi=QA_DPI, facecolor="none")
    for x, y, letter, size, how in ((x0 + 0.01 * width, y0 + height / 2, "R", 14, {"va": "center", "weight": "bold"}),
                                    (x0 + 0.97 * width, y0 + height / 2, "L", 14, {"va": "center", "weight": "bold"}),
                                    (x0 + width / 2, y0 + 0.97 * height, "A", 12, {"ha": "center", "va": "top"})):
        fig.text(x / fig_w, y / fig_h, letter, color="white", fontsize=size, **how)
    s = record["slice"]
    hu = record["hu_range"]
    hu_text = f"HU {hu['min']:g}..{hu['max']:g} ({hu['name']})" if hu else "no HU range"
    fig.text(0.5, 1 - MARGIN_PX / fig_h, f"{record['patient_id']} — {record['preset']} — slice {s['index']} at "
             f"{s['position_mm']:.1f} mm (S, LPS)\n{s['rule']}; total CSA {record['total_muscle_slice']['csa_cm2']:.2f} "
             f"cm²; {hu_text}", fontsize=9, ha="center", va="top", linespacing=1.4)
    column = (fig_w - 2 * MARGIN_PX) / 3  # the legend: three columns of a line sample and its text, no layout pass
    for n, handle in enumerate(handles):
        x = MARGIN_PX + (n % 3) * column + 20
        y = legend_px - (n // 3 + 0.5) * LEGEND_ROW_PX
        fig.add_artist(Line2D([x / fig_w, (x + 22) / fig_w], [y / fig_h] * 2, color=handle.get_color(),
                              lw=handle.get_linewidth(), ls=handle.get_linestyle()))
        fig.text((x + 28) / fig_w, y / fig_h, handle.get_label(), fontsize=7, va="center")
    text = io.BytesIO()
    fig.savefig(text, format="rgba", facecolor="none")  # the text layer, straight RGBA
    overlay = np.frombuffer(text.getvalue(), np.uint8).reshape(-1, fig_w, 4)
    base = np.full(overlay.shape[:2] + (3,), 255, np.uint8)
    top = overlay.shape[0] - y0 - height
    base[top:top + height, x0:x0 + width] = _raster(result, to_display, rows, cols, height, width)
    inked = overlay[:, :, 3] > 0  # text pixels only (a few percent): blend them, keep the rest
    alpha = overlay[inked, 3:].astype(np.float32) / 255.0
    base[inked] = np.round(overlay[inked, :3] * alpha + base[inked] * (1.0 - alpha)).astype(np.uint8)
    Image.fromarray(base).save(path, format="png", compress_level=1)  # a QA picture: speed over a few kB
    return Path(path)


def _raster(result: CaseResult, to_display: Callable[[np.ndarray], np.ndarray], rows: int, cols: int, height: int,
            width: int) -> np.ndarray:
    """The displayed slice (grey) with every label's outline and the TMT discs (dashed yellow), painted at the
    slice's resolution and enlarged to height × width × 3 by nearest neighbour."""
    record = result.record
    if result.slice_image is not None:
        values = to_display(result.slice_image)
        if record["modality"] == "CT":
            level, window = CT_WINDOW
            vmin, vmax = level - window / 2, level + window / 2
        else:
            vmin, vmax = np.percentile(result.slice_image, [1, 99.5])
        grey = np.round(np.clip((values - vmin) / max(vmax - vmin, 1e-12), 0.0, 1.0) * 255).astype(np.uint8)
    else:
        grey = np.zeros((rows, cols), np.uint8)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    for n, info in enumerate(result.labels):
        mask = to_display(result.slice_labels == info.label_id)
        if mask.any():
            rgb[_edge(mask)] = np.round(np.array(label_color(n, result.colors.get(info.label_id))) * 255)
    spacing = record["slice"]["spacing_mm"]
    for row, col, thickness in result.tmt_centers.values():
        grid_r, grid_c = np.mgrid[: result.slice_labels.shape[0], : result.slice_labels.shape[1]]
        disc = to_display(((grid_r - row) * spacing[1]) ** 2 + ((grid_c - col) * spacing[0]) ** 2 <= (thickness / 2) ** 2)
        dash = ((np.arange(rows)[:, None] + np.arange(cols)[None, :]) // 2) % 2 == 0
        rgb[_edge(disc) & dash] = (255, 255, 0)
    rr = np.minimum(((np.arange(height) + 0.5) * rows / height).astype(np.intp), rows - 1)  # display row -> slice row
    cc = np.minimum(((np.arange(width) + 0.5) * cols / width).astype(np.intp), cols - 1)
    return rgb.take(rr, axis=0).take(cc, axis=1)


def _edge(mask: np.ndarray) -> np.ndarray:
    """The pixels of ``mask`` with a 4-neighbour outside it (the outline, drawn inside the label)."""
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    inner[0], inner[-1], inner[:, 0], inner[:, -1] = False, False, False, False
    return mask & ~inner



def _legend_handles(result: CaseResult, to_display: Callable[[np.ndarray], np.ndarray]) -> list[Line2D]:
    """One entry per label (colour, CSA), each TMT disc, or the TMT values when measured on another slice."""
    record, handles = result.record, []
    for n, info in enumerate(result.labels):
        on_slice = bool(np.any(result.slice_labels == info.label_id))
        csa = record["labels"][info.name]["slice"]["csa_mm2"]
        handles.append(Line2D([], [], color=label_color(n, result.colors.get(info.label_id)), lw=2,
                              label=f"{info.name}: {csa / 100:.2f} cm²" + ("" if on_slice else " (not on slice)")))
    for side, (_, _, thickness) in result.tmt_centers.items():
        handles.append(Line2D([], [], color="yellow", ls="--", label=f"TMT {side}: {thickness:.1f} mm"))
    row = result.row
    if row.get("tmt_mm") is not None and not result.tmt_centers:
        handles.append(Line2D([], [], color="yellow", ls="--", label=f"TMT {row['tmt_mm']:.1f} mm (L "
                              f"{row.get('tmt_left_mm') or float('nan'):.1f}, R {row.get('tmt_right_mm') or float('nan'):.1f})"
                              f" on slice {row['tmt_slice_index']}"))
    return handles
