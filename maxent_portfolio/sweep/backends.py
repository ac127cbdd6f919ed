"""Where a sweep's cells (or any groups of independent jobs) run: a local process pool, or Ray
tasks.

Both ship the shared data once (to each worker process, or to Ray's object store with
``ray.put``), send each job a group of cells (one cell, or a batched group:
:func:`~maxent_portfolio.sweep.cells.cell_groups`) and hand every finished
:class:`~maxent_portfolio.sweep.cells.CellResult` to ``on_done`` in the driver as it arrives, so
the driver stores it before the next one. Workers return result frames, never files. Each
worker runs torch on one thread, so cells running side by side do not fight over cores, and a
cell's numbers do not depend on the backend or on ``jobs``.

What a job computes is ``work(data, group) -> results``, a module-level function (workers
import it by name): :func:`~maxent_portfolio.sweep.cells.run_cells` for a sweep, by default.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, TypeVar

from maxent_portfolio.errors import ConfigError, UserError
from maxent_portfolio.sweep.cells import run_cells

D = TypeVar("D")
J = TypeVar("J")
R = TypeVar("R")
OnDone = Callable[[R], None]
Work = Callable[[D, list[J]], list[R]]
"""``work(data, group)``: the results of one group of jobs on the shared data."""

_SHARED: list[Any] = [None, None]  # this worker's data and work
_STOPS = {signal.SIGINT, signal.SIGTERM}


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _start_worker(data: Any, work: Work[Any, Any, Any]) -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)  # blocked by the driver while spawning
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver answers Ctrl-C by killing us
    _one_thread()
    _SHARED[:] = [data, work]


def _pool_cells(group: list[Any]) -> list[Any]:
    data, work = _SHARED
    assert data is not None, "worker started without the shared data"
    return list(work(data, group))


def run_local(data: D, groups: list[list[J]], jobs: int, on_done: OnDone[R],
              work: Work[D, J, R] = run_cells) -> None:  # type: ignore[assignment]
    """Run ``work`` on each of the ``groups`` in ``jobs`` spawned worker processes (here,
    with ``jobs == 1``)."""
    from maxent_portfolio.runner import stop_pool

    if jobs < 2 or len(groups) < 2:
        for group in groups:
            for result in work(data, group):
                on_done(result)
        return
    ctx = multiprocessing.get_context("spawn")  # fork after torch has threads is unsafe
    # Ctrl-C waits until the workers are spawned and known to the pool (as in the runner).
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
    executor = ProcessPoolExecutor(max_workers=min(jobs, len(groups)), mp_context=ctx,
                                   initializer=_start_worker, initargs=(data, work))
    try:
        try:
            futures = [executor.submit(_pool_cells, group) for group in groups]
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in finished:
                for result in future.result():  # a worker's error is raised here
                    on_done(result)
        executor.shutdown()
    except BaseException:  # an error, Ctrl-C or SIGTERM: no worker outlives the sweep
        stop_pool(executor)
        raise


def _ray_cells(data: Any, group: list[Any], work: Work[Any, Any, Any]) -> list[Any]:
    _one_thread()
    return list(work(data, group))


def _import_ray():  # type: ignore[no-untyped-def]
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # read when ray starts
    try:
        import ray
    except ImportError:
        raise ConfigError("--backend ray needs the ray package: pip install "
                          "'maxent-portfolio[ray]'") from None
    return ray


def start_ray(jobs: int, address: str | None) -> bool:
    """Join the cluster at ``address``, or start a local instance with ``jobs`` CPUs, usage
    statistics off and no dashboard. Returns whether this call started Ray (and so should
    stop it); an instance already running in this process is used as it is."""
    ray = _import_ray()
    if ray.is_initialized():
        return False
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        _init_ray(ray, jobs, address)
    finally:  # ray.init replaces the driver's SIGTERM handler: keep the CLI's clean exit
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, sigterm)
    return True


def _init_ray(ray: Any, jobs: int, address: str | None) -> None:
    if address is not None:
        try:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"cannot join the Ray cluster at {address!r}: "
                              f"{str(exc).splitlines()[0] if str(exc) else exc}") from None
        return
    # The local workers import this package from where the driver does.
    root = str(Path(__file__).resolve().parents[2])
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, saved) if p)
    try:
        # "local": a new instance, never a cluster found through RAY_ADDRESS or `ray start`.
        ray.init(address="local", num_cpus=jobs, include_dashboard=False,
                 logging_level="ERROR", log_to_driver=False)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def _get(ray: Any, ref: Any) -> list[Any]:
    """A task's results; its error raised here, a user error as itself (one line)."""
    try:
        return list(ray.get(ref))
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, UserError):
            raise cause from None
        raise


def run_ray(data: D, groups: list[list[J]], jobs: int, address: str | None,
            on_done: OnDone[R], work: Work[D, J, R] = run_cells  # type: ignore[assignment]
            ) -> None:
    """Run ``work`` on each of the ``groups`` as Ray tasks of one CPU each; the data goes to
    the object store once."""
    ray = _import_ray()
    started = start_ray(jobs, address)
    pending: dict[object, list[J]] = {}
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_ray_cells)
        shared = ray.put(data)
        pending = {task.remote(shared, group, work): group for group in groups}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in done:
                pending.pop(ref)
                for result in _get(ray, ref):
                    on_done(result)
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()


def run_backend(backend: str, data: D, groups: list[list[J]], jobs: int,
                address: str | None, on_done: OnDone[R],
                work: Work[D, J, R] = run_cells) -> None:  # type: ignore[assignment]
    """Run ``work`` on each of the ``groups`` on ``backend`` (``local`` or ``ray``): the
    cells of a sweep by default."""
    if not groups:
        return
    if backend == "ray":
        run_ray(data, groups, jobs, address, on_done, work)
    else:
        run_local(data, groups, jobs, on_done, work)


__all__ = ["run_backend", "run_local", "run_ray", "start_ray"]
