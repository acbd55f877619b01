"""Figure files written by a second process while the analyses go on.

Rendering PNG (300 dpi), SVG and PDF is about 40 % of a cohort report's CPU time. The figures are plain
matplotlib objects (no pyplot), so they are pickled to one spawned worker that writes them while the main
process fits the next model: on a 2-core CPU the figures cost almost no wall time. The files and PNG
bytes are the same as those written in-process (the same ``save_figure``). A figure that cannot be
pickled, or a worker that cannot start, is saved in-process instead; a write error in the worker (full
disk) is raised when the writer is closed, inside the command's staged output folder.

``build(name, args, stem)`` goes one step further: the worker builds the figure itself from
``figures.<name>(*args)``, so the main process never imports matplotlib (``cohort cox``: its forest
plots and matplotlib's import then overlap the model fits). ``start_now`` starts the worker at once so
its own start-up overlaps the main process's imports.

``close()`` lets the main process help once its analyses are done: it takes the figures the worker has
not started yet, last submitted first, and writes them itself (only those it built itself, so a command
that never imported matplotlib still does not). On two cores the worker no longer finishes alone a
queue that the main process could share (a 10,000-patient report: 10 figures, about 5 s of rendering).
So that there is something to share, the worker gets one figure at a time (a process pool hands its
worker the next two at once, which can no longer be taken back).
"""

from __future__ import annotations

import multiprocessing
import pickle
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .formatting import FORMATS

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _warm_up() -> None:
    """Import the rendering backends in the worker before the first figure arrives."""
    import matplotlib.backends.backend_pdf  # noqa: F401
    import matplotlib.backends.backend_svg  # noqa: F401

    from . import figures  # noqa: F401


def _ready() -> None:
    """A no-op task: submitting it makes the pool start its worker now."""


def _save_pickled(payload: bytes, stem: str) -> bytes:
    from .figure_files import save_figure

    figure = pickle.loads(payload)
    paths = save_figure(figure, Path(stem))
    return paths[0].read_bytes()


def _build_and_save(name: str, args: tuple, stem: str) -> bytes:
    from . import figures

    paths = figures.save_figure(getattr(figures, name)(*args), Path(stem))
    return paths[0].read_bytes()


@dataclass
class _Job:
    """A figure waiting for the worker: the task, and the figure itself when this process could write it."""

    stem: str
    task: Callable[..., bytes]
    args: tuple
    future: Future
    figure: Figure | None = None


class FigureWriter:
    """``save(figure, stem)`` returns the paths at once; ``png(stem)``/``close()`` wait for the files.

    Figures wait in this writer's own queue and go to the worker one at a time, when it is free (a pool's
    queue would hand it the next ones at once, out of reach of ``close()``)."""

    def __init__(self, parallel: bool = False, start_now: bool = False):
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[str, Future] = {}
        self._waiting: list[_Job] = []  # not yet handed to the worker
        self._worker_busy = False
        self._lock = threading.RLock()  # a callback can run at once, in the thread that holds it
        self.written_here: list[str] = []  # stems of queued figures this process wrote itself (see close)
        if parallel:
            try:
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_warm_up)
                if start_now:
                    self._pool.submit(_ready)
            except (OSError, ValueError, RuntimeError):
                self._pool = None

    def _paths(self, stem: Path) -> list[Path]:
        return [stem.with_suffix(f".{fmt}") for fmt in FORMATS]

    def _queue(self, stem: str, task: Callable[..., bytes], args: tuple, figure: Figure | None = None) -> None:
        job = _Job(stem, task, args, Future(), figure)
        self._futures[stem] = job.future
        with self._lock:
            self._waiting.append(job)
            self._hand_next()

    def _hand_next(self) -> None:
        """Give the worker the oldest waiting figure if it is free (called with the lock held)."""
        if self._worker_busy or not self._waiting or self._pool is None:
            return
        job = self._waiting.pop(0)
        self._worker_busy = True
        try:
            running = self._pool.submit(job.task, *job.args, job.stem)
        except RuntimeError as exc:  # the pool broke or shut down: the figures fail like a worker error
            self._worker_busy = False
            for failed in [job, *self._waiting]:
                failed.future.set_exception(exc)
            self._waiting.clear()
            return
        running.add_done_callback(lambda done, job=job: self._finished(done, job))

    def _finished(self, done: Future, job: _Job) -> None:
        """The worker wrote one figure (runs in the pool's thread): pass the result on, hand it the next."""
        error = done.exception() if not done.cancelled() else RuntimeError("figure cancelled")
        if error is None:
            job.future.set_result(done.result())
        else:
            job.future.set_exception(error)
        with self._lock:
            self._worker_busy = False
            self._hand_next()

    def save(self, figure: Figure, stem: Path) -> list[Path]:
        payload = None
        if self._pool is not None:
            try:
                payload = pickle.dumps(figure)
            except (pickle.PicklingError, TypeError, AttributeError):
                payload = None
        if payload is not None and self._pool is not None:
            self._queue(str(stem), _save_pickled, (payload,), figure)
        else:
            from .figure_files import save_figure

            future: Future = Future()
            future.set_result(save_figure(figure, stem)[0].read_bytes())
            self._futures[str(stem)] = future
        return self._paths(stem)

    def build(self, name: str, args: tuple, stem: Path) -> list[Path]:
        """Write ``figures.<name>(*args)`` (args must pickle); built in the worker when there is one."""
        if self._pool is None:
            from . import figures

            return self.save(getattr(figures, name)(*args), stem)
        self._queue(str(stem), _build_and_save, (name, args))
        return self._paths(stem)

    def png(self, stem: Path) -> bytes:
        """The PNG bytes of a saved figure (waits for the worker)."""
        return self._futures[str(stem)].result()

    def _share_the_queue(self) -> None:
        """Write the figures still waiting for the worker, last first, in this process (only those built
        here: a ``build`` figure stays with the worker)."""
        while True:
            with self._lock:
                jobs = [job for job in self._waiting if job.figure is not None]
                if not jobs:
                    return
                job = jobs[-1]
                self._waiting.remove(job)
            from .figure_files import save_figure

            try:
                job.future.set_result(save_figure(job.figure, Path(job.stem))[0].read_bytes())
            except Exception as exc:  # noqa: BLE001 - raised by close() like a worker's error
                job.future.set_exception(exc)
            self.written_here.append(job.stem)

    def close(self) -> None:
        """Help with the queue, then wait for every figure; the first error (e.g. a full disk in the worker)
        is raised."""
        try:
            self._share_the_queue()
            for future in self._futures.values():
                future.result()
        finally:
            with self._lock:
                self._waiting.clear()
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
