"""Run independent tasks on local worker processes or a Dask cluster: the engine of sweeps and studies.

Local workers are spawned processes the parent manages itself (not a ProcessPoolExecutor, which breaks
as a whole when one worker dies): a worker that dies fails only its task, which is retried once on a
fresh worker; workers exit when the parent dies (Linux: PR_SET_PDEATHSIG; elsewhere they poll their
parent). One BLAS/XLA thread per task: the pool provides the parallelism. Multi-threaded XLA in several
worker processes on few cores made cells 3-4x slower (benchmarks/lab_speed.py).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from ..errors import ExternalFailure, UserInputError

_XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
_THREAD_LIMIT = None
CONNECT_TIMEOUT = "20s"  # how long to wait for a Dask scheduler before giving up
LOCAL_CLUSTER = "local"  # scheduler value that starts a distributed.LocalCluster for the run
PARENT_POLL_S = 1.0  # how often a worker checks that its parent is alive where PDEATHSIG is unavailable
RETRIES = 1  # times a task whose worker died is run again on a fresh worker


class WorkerDied(RuntimeError):
    """A worker process died (killed, out of memory, segfault) while it ran a task."""


def run_tasks(fn: Callable[..., Any], arg_tuples: list[tuple], *, workers: int | None = None,
              scheduler: Any = None, retries: int = RETRIES,
              log: Callable[[str], None] = lambda message: None) -> Iterator[tuple[int, Future]]:
    """Run ``fn(*args)`` for every tuple; yields ``(index, future)`` as each task completes.

    ``scheduler``: None for local spawned worker processes (``workers`` of them, default CPU count, at
    most the number of tasks); ``"local"`` to start a ``distributed.LocalCluster`` of ``workers``
    one-thread processes (its dashboard link goes to ``log``); a Dask scheduler address
    (``tcp://HOST:8786``); or an existing ``distributed.Client``, which is left open. ``fn`` must be
    importable by the workers. A task whose local worker dies is retried ``retries`` times, then its
    future raises :class:`WorkerDied` (Dask reschedules by its own ``allowed-failures``); the others go on.
    """
    check_scheduler(scheduler)
    if scheduler is None:
        yield from _run_local(fn, arg_tuples, workers, retries)
    else:
        yield from _run_on_dask(fn, arg_tuples, scheduler, workers, log)


def check_scheduler(scheduler: Any) -> None:
    """Refuse a scheduler that is not None, ``"local"``, a ``distributed.Client`` or a well-formed address."""
    if scheduler is None or scheduler == LOCAL_CLUSTER or _is_client(scheduler):
        return
    if not isinstance(scheduler, str):
        raise UserInputError(f"scheduler must be an address, 'local' or a distributed.Client, got {scheduler!r}")
    from distributed.comm import parse_address, parse_host_port

    try:
        protocol, location = parse_address(scheduler)
        if protocol in ("tcp", "tls"):
            host, port = parse_host_port(location)
            if not host or not 0 < int(port) < 65536:
                raise ValueError(f"port {port} out of range")
    except (ValueError, TypeError) as exc:
        raise UserInputError(f"scheduler {scheduler!r} is not 'local' or an address like tcp://HOST:8786 "
                             f"({exc})") from None


def _is_client(obj: Any) -> bool:
    distributed = sys.modules.get("distributed")
    return distributed is not None and isinstance(obj, distributed.Client)


# ---------- local worker processes ----------
class _Worker:
    """One spawned worker process and the parent's end of its pipe; ``task`` is the index it runs."""

    def __init__(self, ctx) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, os.getpid()), daemon=True)
        self.process.start()
        child.close()
        self.task: int | None = None

    def stop(self) -> None:
        """Ask an idle worker to exit (it releases what it holds), kill a busy or unresponsive one."""
        if self.task is None and self.process.is_alive():
            try:
                self.conn.send(None)
                self.process.join(5)
            except OSError:
                pass
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


def _run_local(fn, arg_tuples, workers, retries) -> Iterator[tuple[int, Future]]:
    import multiprocessing
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("spawn")  # no fork: jax and BLAS threads do not survive it
    n = min(workers or os.cpu_count() or 1, max(len(arg_tuples), 1))
    queue = deque(range(len(arg_tuples)))
    attempts = [0] * len(arg_tuples)
    pool: list[_Worker] = []
    try:
        while queue or any(w.task is not None for w in pool):
            while queue and (idle := _idle_worker(pool, ctx, n)) is not None:
                i = queue.popleft()
                try:
                    idle.conn.send((i, fn, arg_tuples[i]))
                except (BrokenPipeError, ConnectionResetError):  # it died while idle: replace it, keep the task
                    pool.remove(idle)
                    idle.stop()
                    queue.appendleft(i)
                    continue
                attempts[i] += 1
                idle.task = i
            busy = [w for w in pool if w.task is not None]
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for w in busy:
                if w.conn not in ready and w.process.sentinel not in ready:
                    continue
                i, w.task = w.task, None
                message = _receive(w)
                if message is None:  # died while running task i
                    pool.remove(w)
                    w.process.join(5)  # its pipe can close before the process is reaped
                    code = w.process.exitcode
                    w.stop()
                    if attempts[i] <= retries:
                        queue.appendleft(i)
                        continue
                    yield i, _done(exc=WorkerDied(f"the worker process running task {i} died ({_how(code)}), "
                                                  f"{attempts[i]} time(s)"))
                else:
                    _, ok, value = message
                    yield i, _done(value) if ok else _done(exc=value)
    finally:
        for w in pool:
            w.stop()


def _idle_worker(pool: list[_Worker], ctx, n: int) -> _Worker | None:
    for w in pool:
        if w.task is None:
            return w
    if len(pool) < n:
        pool.append(_Worker(ctx))
        return pool[-1]
    return None


def _receive(w: _Worker):
    """The worker's reply, or None if it died first."""
    try:
        if w.conn.poll():
            return w.conn.recv()
    except (EOFError, OSError):
        return None
    return None


def _done(value: Any = None, exc: BaseException | None = None) -> Future:
    fut: Future = Future()
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(value)
    return fut


def _how(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _worker_main(conn, parent_pid: int) -> None:
    """A worker's loop: run the tasks the parent sends, reply (index, ok, result or exception); die with the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops the workers
    _die_with_parent(parent_pid)
    init_worker()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:  # the parent has no more tasks
            return
        i, fn, args = message
        try:
            reply = (i, True, fn(*args))
        except Exception as exc:
            reply = (i, False, _portable(exc))
        try:
            conn.send(reply)
        except Exception as exc:  # an unpicklable result or exception
            conn.send((i, False, RuntimeError(f"task {i} returned something that cannot be sent back: {exc!r}")))


def _portable(exc: Exception) -> Exception:
    """``exc`` if it survives pickling (the parent re-raises it), else a RuntimeError with its text."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _die_with_parent(parent_pid: int) -> None:
    """Make this process exit when ``parent_pid`` dies, so a killed sweep leaves no orphans training."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="ffzero-parent-watch").start()


# ---------- Dask ----------
@contextmanager
def open_scheduler(scheduler: Any, workers: int | None = None,
                   log: Callable[[str], None] = lambda message: None) -> Iterator[Any]:
    """The ``distributed.Client`` for ``scheduler`` (None stays None), closed on exit unless the caller gave it.

    ``"local"`` starts a LocalCluster of ``workers`` one-thread processes and logs ``dashboard: <link>``;
    an unreachable address is an ExternalFailure, raised before the caller writes anything.
    """
    check_scheduler(scheduler)
    if scheduler is None or _is_client(scheduler):
        yield scheduler
        return
    from distributed import Client, LocalCluster

    if scheduler == LOCAL_CLUSTER:
        with LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address="127.0.0.1:8787") as cluster:  # this machine only
            served = importlib.util.find_spec("bokeh") is not None
            log(f"dashboard: {cluster.dashboard_link}" + ("" if served else " (not served: install bokeh to see it)"))
            with Client(cluster) as client:
                yield client
        return
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except OSError as exc:
        raise ExternalFailure(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        yield client
    finally:
        client.close()


def _run_on_dask(fn, arg_tuples, scheduler, workers, log) -> Iterator[tuple[int, Future]]:
    from distributed import as_completed

    with open_scheduler(scheduler, workers, log) as client:
        futures = {
            client.submit(_on_dask_worker, fn, *args, key=f"ffzero-{i}-{os.getpid()}-{time.time_ns()}", pure=False): i
            for i, args in enumerate(arg_tuples)
        }
        for fut in as_completed(list(futures)):
            yield futures[fut], fut


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
