"""Executors run work units: in-process, in a local process pool, or on Ray.

Executors are looked up by name in :data:`EXECUTORS`; a new one implements
:class:`Executor` (``map(fn, units)`` yielding results as they finish) and
registers itself there.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Protocol

from ..errors import VizcnnError, unknown_name
from .ray_executor import RayExecutor
from .units import _MODELS, WorkUnit, install_model

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "get_executor"]


class Executor(Protocol):
    """Runs ``fn`` on every unit; yields ``(unit, result)`` in completion order.

    ``retries`` counts the attempts it repeated (a lost worker or node) since it was made.
    """

    retries: int

    def map(self, fn: Callable[[WorkUnit], Any], units: Sequence[WorkUnit]) -> Iterator[tuple[WorkUnit, Any]]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """In-process with ``jobs=1``; a pool of ``jobs`` worker processes otherwise.

    ``jobs=None`` (the CLI's default) decides by the amount of work: a pool of
    one process per core when there are at least :data:`UNITS_PER_WORKER`
    units per core, else in-process. Measured on 2 cores: the MNIST gallery (22
    units) built 1.5x faster with a pool of 2 than in-process, while a build of
    one or two units is faster in-process (a worker needs seconds to start
    Python and import torch). Worker processes use one torch thread each; the
    pool is started lazily and reused across ``map`` calls.

    No worker outlives its build: an exception or interrupt (Ctrl-C, SIGTERM)
    during ``map`` terminates the pool's processes, and each worker exits by
    itself within :data:`PARENT_POLL_S` seconds of its parent's death (a
    ``kill -9`` leaves no one to stop it), which also ends multiprocessing's
    resource tracker and releases the caller's stdout and stderr.
    """

    def __init__(self, jobs: int | None = 1) -> None:
        if jobs is not None and jobs < 1:
            raise VizcnnError(f"--jobs must be at least 1, got {jobs}.")
        self.auto = jobs is None
        self.jobs = jobs or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None
        self.retries = 0  # a failed unit fails the build: nothing is retried

    def map(self, fn: Callable[[WorkUnit], Any], units: Sequence[WorkUnit]) -> Iterator[tuple[WorkUnit, Any]]:
        few = len(units) < UNITS_PER_WORKER * self.jobs if self.auto else len(units) <= 1
        if self.jobs == 1 or few:
            for unit in units:
                yield unit, fn(unit)
            return
        if self._pool is None:
            import multiprocessing

            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=multiprocessing.get_context("spawn"),
                # exec of a standard-library boot script: it unpickles and starts without importing
                # vizcnn or torch (seconds), so a worker watches its parent from its first second
                initializer=exec,
                initargs=(_WORKER_BOOT, {"parent": os.getpid(), "poll": PARENT_POLL_S, "state": pickle.dumps(_random_weights())}),
            )
        pending = {self._pool.submit(fn, u): u for u in units}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield pending.pop(fut), fut.result()
        except BaseException:  # an interrupt, or a unit's error: the other units' work is not wanted
            self._terminate()
            raise
        finally:
            for fut in pending:
                fut.cancel()

    def _terminate(self) -> None:
        """Stop the pool's workers now, mid-unit (their results go to the cache atomically or not at all)."""
        if self._pool is None:
            return
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=5)
        self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


#: With ``jobs=None``, the fewest work units per core for which a process pool pays off.
UNITS_PER_WORKER = 8


def _random_weights() -> dict[tuple, dict[str, Any]]:
    """State dicts of this process's models with ``random`` weights: a worker cannot redraw them."""
    return {key: model.net.state_dict() for key, model in _MODELS.items() if key[1] == "random"}


#: How often (seconds) a pool worker checks that the process that started it is alive.
PARENT_POLL_S = 1.0


#: A pool worker's first code: a thread that ends the worker as soon as its parent is gone (it then
#: belongs to init and its pipes lead nowhere), then the worker's set-up (:func:`_init_worker`).
_WORKER_BOOT = """
import os, pickle, threading, time

def _watch():
    while os.getppid() == parent:
        time.sleep(poll)
    os._exit(1)

threading.Thread(target=_watch, name="vizcnn-parent-watch", daemon=True).start()
from vizcnn.gallery.executors import _init_worker
_init_worker(pickle.loads(state))
"""


def _init_worker(random_weights: dict[tuple, dict[str, Any]]) -> None:
    import torch

    from ..models import load_model

    torch.set_num_threads(1)
    for (name, weights, load_options), state in random_weights.items():
        model = load_model(name, weights, **dict(load_options))
        model.net.load_state_dict(state)
        install_model(name, weights, model, load_options)


#: Executor constructors by ``--executor`` name; each takes ``jobs`` (and its own keyword options).
EXECUTORS: dict[str, Callable[..., Executor]] = {"local": LocalExecutor, "ray": RayExecutor}


def get_executor(name: str = "local", jobs: int | None = 1, **options: Any) -> Executor:
    """The executor called ``name`` with ``jobs`` workers; ``options`` go to its constructor (``address`` for ray)."""
    if name not in EXECUTORS:
        raise unknown_name("executor", name, sorted(EXECUTORS))
    return EXECUTORS[name](jobs, **options)
