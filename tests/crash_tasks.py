"""Tasks for the executor tests, importable by spawned workers: ones that kill their own worker, or wait."""

import os
import signal
import time
from pathlib import Path


def crash(kind: str, marker: str) -> str:
    """Return ``kind``; "dies" kills its worker every time, "dies once" only on its first attempt, "raises" raises."""
    if kind == "raises":
        raise ValueError(f"task {kind!r} failed")
    if kind == "dies" or (kind == "dies once" and not Path(marker).exists()):
        Path(marker).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return kind


def record_pid_and_wait(directory: str) -> None:
    """Write this worker's pid into ``directory`` and wait (a task a test kills the parent under)."""
    Path(directory, f"worker-{os.getpid()}").touch()
    time.sleep(120)
