"""Saving a figure as PNG (300 dpi), SVG and PDF: matplotlib only, so a worker process can import it
without the statistics libraries (see :mod:`figure_writer`)."""

from __future__ import annotations

from pathlib import Path

from matplotlib import cbook, rcParams
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from MuscleQuantLib.fileio import write_atomic

from .formatting import FORMATS

DPI = 300
__all__ = ["DPI", "FORMATS", "save_figure"]


def save_figure(figure: Figure, stem: Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write ``stem``.png/.svg/.pdf atomically; returns the paths written.

    The tight bounding box is computed once, as ``bbox_inches="tight"`` computes it for the 300-dpi PNG,
    and reused for every format: each ``"tight"`` save otherwise lays the whole figure out again.
    """
    canvas = FigureCanvasAgg(figure)
    with cbook._setattr_cm(figure, dpi=DPI):
        figure.draw_without_rendering()
        bbox = figure.get_tightbbox(canvas.get_renderer()).padded(rcParams["savefig.pad_inches"])
    paths = []
    for fmt in formats:
        target = stem.with_suffix(f".{fmt}")
        write_atomic(target, lambda p, fmt=fmt: figure.savefig(p, format=fmt, dpi=DPI, bbox_inches=bbox))
        paths.append(target)
    return paths
