"""Run gallery work units as Ray tasks, on one machine or a cluster.

    vizcnn gallery galleries/mnist.toml -o site --executor ray --jobs 2   # local Ray runtime, 2 CPUs
    vizcnn gallery galleries/mnist.toml -o site --executor ray --address auto   # join a running cluster

Each :class:`~vizcnn.gallery.units.WorkUnit` is one Ray task. A model's
weights go into Ray's object store once per build (``ray.put`` of the CPU
state dict); tasks carry only a reference, and each worker process loads
them once, so the weights file need not exist on the other machines.
Workers write their results into the same :class:`~vizcnn.cache.ResultCache`
as local builds (on a cluster, put the cache on storage every node sees, at
the same path), so a build started with one executor resumes with another.
Each task first checks that its node sees the driver's cache folder (the same
``.vizcnn-cache-id`` file in it) and writable; a node that does not is
reported by name, as the user's mistake. The driver retries the tasks of a
worker or node that crashes or is lost, and tasks that raised a transient
error, up to :data:`MAX_RETRIES` times each, and counts the retries
(:attr:`RayExecutor.retries`, shown in the build report). The pages are
written afterwards by the driver, atomically, so a build never leaves a
half-written page.

With GPUs in the cluster each task takes one GPU (one task per GPU at a
time); otherwise one CPU.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .._io import write_text
from ..errors import VizcnnError
from .units import WorkUnit, install_model, worker_model

__all__ = ["MAX_RETRIES", "RayExecutor", "task_resources"]

#: Exceptions raised inside a task that are worth another attempt: I/O, memory, and torch's
#: ``RuntimeError`` s (CUDA out of memory among them). A user's mistake
#: (:class:`~vizcnn.errors.VizcnnError`) is reported at once.
_TRANSIENT = (OSError, MemoryError, RuntimeError)
#: Attempts after the first, for crashed workers and lost nodes and for the exceptions above.
MAX_RETRIES = 3
#: The file in a cache folder whose content (a random id) tells a node it sees the driver's folder.
CACHE_ID = ".vizcnn-cache-id"
#: Ray's errors for a task whose worker process or node was lost: worth another attempt elsewhere.
_LOST = ("WorkerCrashedError", "NodeDiedError", "ObjectLostError", "LocalRayletDiedError", "OutOfMemoryError")


class RayExecutor:
    """Ray tasks per work unit; ``map`` yields ``(unit, result)`` as tasks finish.

    Args:
        jobs: CPUs of the local Ray runtime started when there is no
            ``address`` (``None``: all cores; ignored on a cluster, whose
            resources decide).
        address: ``"auto"`` or ``"HOST:PORT"`` of a running cluster; ``None``
            starts a local runtime, shut down again by :meth:`close`.
    """

    def __init__(self, jobs: int | None = 1, address: str | None = None) -> None:
        if jobs is not None and jobs < 1:
            raise VizcnnError(f"--jobs must be at least 1, got {jobs}.")
        try:
            import ray  # noqa: F401
        except ImportError:
            raise VizcnnError(
                "the ray executor needs Ray: pip install 'vizcnn[ray]' (or pip install ray), "
                "or build with --executor local."
            ) from None
        self.jobs = jobs or os.cpu_count() or 1
        self.address = address
        self._started = False
        #: Task attempts repeated since this executor was made (lost workers or nodes, transient errors).
        self.retries = 0

    def _connect(self):
        import ray

        if not ray.is_initialized():
            try:
                # Ray's start-up notices are not the user's business; failures still raise.
                quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
                if self.address:
                    ray.init(address=self.address, **quiet)
                else:
                    # "local": a new runtime even when a cluster runs on this machine
                    ray.init(address="local", num_cpus=self.jobs, include_dashboard=False, **quiet)
            except ConnectionError as exc:
                raise VizcnnError(
                    f"cannot reach a Ray cluster at --address {self.address}: {exc}. Start one with "
                    "`ray start --head`, give its HOST:PORT, or leave --address out for a local runtime."
                ) from None
            self._started = True
        return ray

    def map(self, fn: Callable[[WorkUnit], Any], units: Sequence[WorkUnit]) -> Iterator[tuple[WorkUnit, Any]]:
        if not units:
            return
        ray = self._connect()
        refs: dict[tuple, Any] = {}
        for unit in units:
            key = (*unit.model_key, unit.weights_hash)
            if key not in refs:
                model = worker_model(unit)
                state = {k: v.detach().cpu() for k, v in model.net.state_dict().items()}
                refs[key] = ray.put((state, model.weights))
        ids = {u.cache_root: _cache_id(Path(u.cache_root)) for u in units}
        # Retries are the driver's, so that it can count them.
        task = ray.remote(_run_task).options(**task_resources(ray.cluster_resources()), max_retries=0)

        def submit(unit: WorkUnit):
            # The weights travel as a reference inside a list, so Ray does not fetch them
            # for every task; a worker fetches them once (see _run_task).
            return task.remote(fn, unit, [refs[(*unit.model_key, unit.weights_hash)]], ids[unit.cache_root])

        pending = {submit(u): (u, 0) for u in units}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                unit, attempt = pending.pop(done[0])
                try:
                    result = _result(ray, done[0])
                except Exception as exc:  # Ray raises its own errors and the task's, wrapped
                    if attempt >= MAX_RETRIES or not _retryable(ray, exc):
                        raise
                    self.retries += 1
                    pending[submit(unit)] = (unit, attempt + 1)
                    continue
                yield unit, result
        finally:
            for ref in pending:
                ray.cancel(ref)

    def close(self) -> None:
        """Shut down the local runtime this executor started (a joined cluster keeps running)."""
        if self._started:
            import ray

            ray.shutdown()
            self._started = False


def _retryable(ray, exc: Exception) -> bool:
    """A lost worker or node, or a transient error raised inside the task."""
    if isinstance(exc, ray.exceptions.RayTaskError):
        return isinstance(exc.cause, _TRANSIENT)
    return any(isinstance(exc, getattr(ray.exceptions, name, ())) for name in _LOST)


def _cache_id(root: Path) -> str:
    """The id in ``root``'s :data:`CACHE_ID` file, written first if the folder has none."""
    path = root / CACHE_ID
    try:
        if not path.is_file():
            write_text(path, uuid.uuid4().hex)
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise VizcnnError(f"cannot use the cache folder {str(root)!r} ({exc.strerror or exc}): give a writable folder with --cache.") from None


def _check_cache(root: str, expected: str) -> None:
    """Raise the user's mistake when this node does not see the driver's cache folder, writable."""
    import socket

    folder = Path(root)
    try:
        seen = (folder / CACHE_ID).read_text(encoding="utf-8").strip()
    except OSError as exc:
        seen, why = None, f"it cannot read {CACHE_ID} there ({exc.strerror or exc})"
    if seen is not None:
        why = (
            "it sees another folder at that path (not the driver's)"
            if seen != expected
            else ("it cannot write there" if not os.access(folder, os.W_OK) else "")
        )
    if why:
        try:
            import ray

            node = ray.util.get_node_ip_address()
        except Exception:  # outside a Ray worker (tests call this directly)
            node = "this node"
        raise VizcnnError(
            f"the Ray node {node} ({socket.gethostname()}) cannot use the cache folder {root!r}: {why}. Every node "
            "of the cluster must see the --cache folder at the same path, writable (shared storage such as NFS), "
            "because workers write their results there and the driver reads them. See the README's Ray section."
        )


def task_resources(cluster: dict[str, float]) -> dict[str, int]:
    """What one task asks for: a GPU where the cluster has any (one task per GPU), else one CPU."""
    return {"num_cpus": 1, "num_gpus": 1 if cluster.get("GPU", 0) >= 1 else 0}


class _Mistake:
    """A task's :class:`VizcnnError`, returned rather than raised so that Ray does not retry it
    (some are ``OSError`` s too) and the driver raises it as itself: one paragraph, no Ray trace."""

    def __init__(self, error: VizcnnError) -> None:
        self.error = error


def _result(ray, ref) -> Any:
    result = ray.get(ref)
    if isinstance(result, _Mistake):
        raise result.error
    return result


#: (model, weights, load options, weights hash) of the models this worker process has installed.
_INSTALLED: set[tuple] = set()


def _run_task(fn: Callable[[WorkUnit], Any], unit: WorkUnit, weights: list, cache_id: str) -> Any:
    """Worker side: check the cache folder, install the unit's model from the object store (once per
    process), then run ``fn``."""
    import torch

    from ..models import load_model
    from ..models.weights import load_into

    key = (*unit.model_key, unit.weights_hash)
    try:
        _check_cache(unit.cache_root, cache_id)
        if key not in _INSTALLED:
            import ray

            torch.set_num_threads(1)
            state, source = ray.get(weights[0])
            model = load_model(unit.model, "random", **dict(unit.load_options))
            load_into(model.net, state, source)
            model.weights = source
            install_model(unit.model, unit.weights, model, unit.load_options)
            _INSTALLED.add(key)
        return fn(unit)
    except VizcnnError as exc:
        return _Mistake(exc)
