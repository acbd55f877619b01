"""Local execution: cases in this process (one worker) or in spawned worker processes, each loading the
models once (:mod:`.worker`) and taking cases as they come; at most two cases per worker are queued, so
memory stays flat however many cases there are. A worker process that dies is replaced and its cases are
run again (each case commits atomically, so nothing is half-written or counted twice)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .case import CaseTask, run_case_task

MAX_POOL_RESTARTS = 3


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def run_local(tasks: list[CaseTask], workers: int, on_done: Callable[[dict[str, Any]], None]) -> None:
    """Run every task; ``on_done`` gets each case's state as it commits."""
    if workers <= 1:
        for task in tasks:
            on_done(run_case_task(task))
        return
    pending = list(tasks)
    restarts = 0
    while pending:
        try:
            for state in _pool_run(pending, workers):
                pending = [t for t in pending if t.case.case_id != state["case_id"]]
                on_done(state)
        except BrokenProcessPool:
            restarts += 1
            if restarts > MAX_POOL_RESTARTS:
                raise


def _pool_run(tasks: list[CaseTask], workers: int) -> Iterator[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker) as pool:
        queue = iter(list(tasks))
        running: set[Future] = set()
        for task in queue:
            running.add(pool.submit(run_case_task, task))
            if len(running) >= 2 * workers:
                break
        while running:
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
                task = next(queue, None)
                if task is not None:
                    running.add(pool.submit(run_case_task, task))
