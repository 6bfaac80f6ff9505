"""Run independent tasks on a local spawn process pool or a Dask cluster: the engine of sweeps and studies.

One BLAS/XLA thread per task: the pool provides the parallelism. Multi-threaded XLA
in several worker processes on few cores made cells 3-4x slower (benchmarks/lab_speed.py).
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterator

from ..errors import ExternalFailure

_XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
_THREAD_LIMIT = None
CONNECT_TIMEOUT = "20s"  # how long to wait for a Dask scheduler before giving up


def run_tasks(fn: Callable[..., Any], arg_tuples: list[tuple], *, workers: int | None = None,
              scheduler: str | None = None) -> Iterator[tuple[int, Any]]:
    """Run ``fn(*args)`` for every tuple; yields ``(index, future)`` as each task completes.

    ``scheduler``: a Dask distributed address (tcp://HOST:8786), else a local spawn pool of
    ``workers`` processes (default: CPU count, at most the number of tasks). ``fn`` must be
    importable by the workers.
    """
    if scheduler is not None:
        yield from _run_on_dask(fn, arg_tuples, scheduler)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("spawn")  # no fork: jax and BLAS threads do not survive it
    n = min(workers or os.cpu_count() or 1, max(len(arg_tuples), 1))
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=init_worker) as pool:
        futures = {pool.submit(fn, *args): i for i, args in enumerate(arg_tuples)}
        try:
            for fut in as_completed(futures):
                yield futures[fut], fut
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _run_on_dask(fn: Callable[..., Any], arg_tuples: list[tuple], scheduler: str) -> Iterator[tuple[int, Any]]:
    from distributed import Client, as_completed

    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except OSError as exc:
        raise ExternalFailure(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        futures = {
            client.submit(_on_dask_worker, fn, *args, key=f"ffzero-{i}-{os.getpid()}-{time.time_ns()}", pure=False): i
            for i, args in enumerate(arg_tuples)
        }
        for fut in as_completed(list(futures)):
            yield futures[fut], fut
    finally:
        client.close()


def single_thread_env() -> None:
    """Environment for one-thread workers (inherited by spawned processes); set before jax's first computation."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    flags = os.environ.get("XLA_FLAGS", "")
    if "intra_op_parallelism_threads" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {_XLA_ONE_THREAD}".strip()
    os.environ.setdefault("MPLBACKEND", "Agg")


def init_worker() -> None:
    """Limit a worker process to one BLAS and one XLA thread."""
    global _THREAD_LIMIT
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {_XLA_ONE_THREAD}".strip()
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    _THREAD_LIMIT = threadpool_limits(limits=1)


def _on_dask_worker(fn: Callable[..., Any], *args) -> Any:
    init_worker()
    return fn(*args)
