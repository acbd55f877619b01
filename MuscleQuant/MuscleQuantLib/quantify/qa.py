"""QA figure: the measured slice in radiological orientation with every label's outline.

Radiological convention: the patient's right is on the viewer's left and anterior is at the top,
whatever the storage order (the direction matrix decides the flips, so RAS-stored, LPS-stored and
transposed slices all look the same). Outlines use the label's colour (Slicer segment colour when
known), the legend gives each label's CSA, and the title gives patient, slice index and position.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..fileio import atomic_path
from .engine import CaseResult

CT_WINDOW = (40.0, 400.0)  # level, width: soft tissue
# matplotlib's tab10 colours, the colours labels without a stored (Slicer) colour always had
TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


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
    code = TAB10[index % 10]
    return tuple(int(code[i:i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]


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
    outlines two display pixels inside each label's edge); the title, the orientation letters and the legend
    are drawn on it with Pillow (DejaVu Sans, the font matplotlib used), and the PNG is encoded once.
    matplotlib's text layer was half a 2D case's quantify time (and its import a third of a cold one)."""
    record = result.record
    spacing = record["slice"]["spacing_mm"]
    to_display, aspect = display_transform(record["image"]["direction"], (spacing[0], spacing[1]))
    entries = _legend_entries(result)
    rows, cols = to_display(result.slice_labels).shape
    width = QA_WIDTH_PX - 2 * MARGIN_PX
    height = width * rows * aspect / cols
    if height > width:  # a tall slice: fit the height, as the square figure did
        width, height = width * width / height, float(width)
    width, height = max(1, int(round(width))), max(1, int(round(height)))
    legend_px = LEGEND_ROW_PX * ((len(entries) + 2) // 3) + MARGIN_PX
    fig_w, fig_h = QA_WIDTH_PX, TITLE_PX + height + legend_px + MARGIN_PX
    x0, top = (fig_w - width) // 2, TITLE_PX  # the raster's upper-left corner
    base = np.full((fig_h, fig_w, 3), 255, np.uint8)
    base[top:top + height, x0:x0 + width] = _raster(result, to_display, rows, cols, height, width)
    picture = Image.fromarray(base)
    draw = ImageDraw.Draw(picture)
    middle = top + height / 2
    draw.text((x0 + 0.01 * width, middle), "R", fill="white", font=_font(14, bold=True), anchor="lm")
    draw.text((x0 + 0.97 * width, middle), "L", fill="white", font=_font(14, bold=True), anchor="lm")
    draw.text((x0 + width / 2, top + 0.03 * height), "A", fill="white", font=_font(12), anchor="mt")
    s = record["slice"]
    hu = record["hu_range"]
    hu_text = f"HU {hu['min']:g}..{hu['max']:g} ({hu['name']})" if hu else "no HU range"
    title = (f"{record['patient_id']} — {record['preset']} — slice {s['index']} at {s['position_mm']:.1f} mm (S, LPS)"
             f"\n{s['rule']}; total CSA {record['total_muscle_slice']['csa_cm2']:.2f} cm²; {hu_text}")
    title_font = _font(9)
    draw.multiline_text((fig_w / 2, MARGIN_PX), title, fill="black", font=title_font, anchor="ma", align="center",
                        spacing=round(0.4 * title_font.size))
    column = (fig_w - 2 * MARGIN_PX) / 3  # the legend: three columns of a line sample and its text
    legend_top = top + height + MARGIN_PX
    for n, entry in enumerate(entries):
        x = MARGIN_PX + (n % 3) * column + 20
        y = legend_top + (n // 3 + 0.5) * LEGEND_ROW_PX
        colour = tuple(int(round(255 * c)) for c in entry.color)
        line = max(1, round(entry.width_pt * QA_DPI / 72))
        for start in range(0, 22, 8 if entry.dashed else 22):  # a dashed sample: 5-pixel dashes
            draw.line([(x + start, y), (x + min(start + (5 if entry.dashed else 22), 22), y)], fill=colour,
                      width=line)
        draw.text((x + 28, y), entry.label, fill="black", font=_font(7), anchor="lm")
    picture.save(path, format="png", compress_level=1)  # a QA picture: speed over a few kB
    return Path(path)


@dataclass(frozen=True)
class LegendEntry:
    color: tuple[float, float, float]
    label: str
    dashed: bool = False
    width_pt: float = 2.0


@functools.lru_cache(maxsize=8)
def _font(points: float, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans at ``points`` on the figure's 110 dpi, from matplotlib's font folder when it is installed
    (found without importing matplotlib), else Pillow's own scalable font."""
    size = points * QA_DPI / 72
    spec = importlib.util.find_spec("matplotlib")
    for root in (spec.submodule_search_locations or []) if spec else []:
        font = Path(root) / "mpl-data" / "fonts" / "ttf" / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
        if font.is_file():
            return ImageFont.truetype(str(font), size)
    return ImageFont.load_default(size)


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



def _legend_entries(result: CaseResult) -> list[LegendEntry]:
    """One entry per label (colour, CSA), each TMT disc, or the TMT values when measured on another slice."""
    record, entries = result.record, []
    yellow = (1.0, 1.0, 0.0)
    for n, info in enumerate(result.labels):
        on_slice = bool(np.any(result.slice_labels == info.label_id))
        csa = record["labels"][info.name]["slice"]["csa_mm2"]
        entries.append(LegendEntry(label_color(n, result.colors.get(info.label_id)),
                                   f"{info.name}: {csa / 100:.2f} cm²" + ("" if on_slice else " (not on slice)")))
    for side, (_, _, thickness) in result.tmt_centers.items():
        entries.append(LegendEntry(yellow, f"TMT {side}: {thickness:.1f} mm", dashed=True, width_pt=1.5))
    row = result.row
    if row.get("tmt_mm") is not None and not result.tmt_centers:
        entries.append(LegendEntry(yellow, f"TMT {row['tmt_mm']:.1f} mm (L {row.get('tmt_left_mm') or float('nan'):.1f}, "
                                   f"R {row.get('tmt_right_mm') or float('nan'):.1f}) on slice {row['tmt_slice_index']}",
                                   dashed=True, width_pt=1.5))
    return entries
