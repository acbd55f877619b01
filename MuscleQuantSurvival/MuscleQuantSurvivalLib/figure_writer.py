"""Figure files written by a second process while the analyses go on.

Rendering PNG (300 dpi), SVG and PDF is about 40 % of a cohort report's CPU time. The figures are plain
matplotlib objects (no pyplot), so they are pickled to one spawned worker that writes them while the main
process fits the next model: on a 2-core CPU the figures cost almost no wall time. The files and PNG
bytes are the same as those written in-process (the same ``save_figure``). A figure that cannot be
pickled, or a worker that cannot start, is saved in-process instead; a write error in the worker (full
disk) is raised when the writer is closed, inside the command's staged output folder.
"""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from .figure_files import FORMATS, save_figure


def _warm_up() -> None:
    """Import the rendering backends in the worker before the first figure arrives."""
    import matplotlib.backends.backend_pdf  # noqa: F401
    import matplotlib.backends.backend_svg  # noqa: F401


def _save_pickled(payload: bytes, stem: str) -> bytes:
    figure = pickle.loads(payload)
    paths = save_figure(figure, Path(stem))
    return paths[0].read_bytes()


class FigureWriter:
    """``save(figure, stem)`` returns the paths at once; ``png(stem)``/``close()`` wait for the files."""

    def __init__(self, parallel: bool = False):
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[str, Future] = {}
        if parallel:
            try:
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_warm_up)
            except (OSError, ValueError, RuntimeError):
                self._pool = None

    def save(self, figure: Figure, stem: Path) -> list[Path]:
        paths = [stem.with_suffix(f".{fmt}") for fmt in FORMATS]
        future: Future = Future()
        payload = None
        if self._pool is not None:
            try:
                payload = pickle.dumps(figure)
            except (pickle.PicklingError, TypeError, AttributeError):
                payload = None
        if payload is not None and self._pool is not None:
            future = self._pool.submit(_save_pickled, payload, str(stem))
        else:
            future.set_result(save_figure(figure, stem)[0].read_bytes())
        self._futures[str(stem)] = future
        return paths

    def png(self, stem: Path) -> bytes:
        """The PNG bytes of a saved figure (waits for the worker)."""
        return self._futures[str(stem)].result()

    def close(self) -> None:
        """Wait for every figure; the first error (e.g. a full disk in the worker) is raised."""
        try:
            for future in self._futures.values():
                future.result()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def __enter__(self) -> FigureWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            self.close()
        elif self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
