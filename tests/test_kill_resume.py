"""A real ``ffzero train`` killed with SIGKILL at random instants resumes to the uninterrupted run's checkpoint.

Each kill lands anywhere in a process's life: while it imports, inside the first checkpoint write, mid-epoch,
between stages, while it writes its outputs. After every kill the run directory must hold either no
checkpoint or a complete one, and the final checkpoint must equal an uninterrupted run's.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ffzero_photonics.cli import main
from ffzero_photonics.runs.checkpoint import load_checkpoint

BOUNDED = os.environ.get("FFZERO_BOUNDED") == "1"
ARGS = ["train", "--model", "mlp", "--dataset", "iris", "--hidden", "8", "--epochs", "12", "--seed", "4",
        "--checkpoint-every", "1", "--no-progress"]
ENTRY = "from ffzero_photonics.cli.main import main; raise SystemExit(main())"


def _comparable(meta: dict) -> dict:
    """Checkpoint metadata without wall-clock times (the model's counter included: it must not change)."""
    trainer = dict(meta["trainer"], elapsed_s=None,
                   history=[{k: v for k, v in row.items() if k != "wall_time_s"} for row in meta["trainer"]["history"]])
    return dict(meta, trainer=trainer)


def _kill_after(out, delay_s: float, env) -> int | None:
    """Start ``ffzero train``; SIGKILL it ``delay_s`` after it starts training (if it is still running then).

    Training has started when the run directory changes: a fresh run creates it at its first checkpoint
    write, a rerun renames a new checkpoint (or run record) into it. A run killed before its first
    checkpoint restarts from zero and clears its directory before it trains: it has started at its first checkpoint.
    """
    ckpt = out / "checkpoint.npz"
    restarting = out.exists() and not ckpt.exists()
    before = out.stat().st_mtime_ns if out.exists() else None
    proc = subprocess.Popen([sys.executable, "-c", ENTRY, *ARGS, "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def started() -> bool:
        if restarting:
            return ckpt.exists()
        return out.exists() and out.stat().st_mtime_ns != before

    try:
        while proc.poll() is None and not started():
            time.sleep(0.001)
        time.sleep(delay_s)
        proc.send_signal(signal.SIGKILL)
        return proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _done_fraction(out, n_epochs: int) -> float:
    if not (out / "checkpoint.npz").exists():
        return 0.0
    stage, epoch = load_checkpoint(out / "checkpoint.npz")[0]["trainer"]["position"]
    return (stage * n_epochs + epoch) / (2 * n_epochs)


@pytest.mark.slow
def test_sigkill_at_random_instants_then_resume_equals_an_uninterrupted_run(tmp_path):
    """5 kills (2 under FFZERO_BOUNDED=1) at seeded random instants of training; ~30 s (~15 s bounded)."""
    ref = tmp_path / "reference"
    assert main([*ARGS, "--out", str(ref)]) == 0
    ref_meta, ref_arrays = load_checkpoint(ref / "checkpoint.npz")
    train_time, n_epochs = ref_meta["trainer"]["elapsed_s"], ref_meta["trainer"]["config"]["epochs"]

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
    out = tmp_path / "killed"
    rng = np.random.default_rng(2026)
    n_kills = 2 if BOUNDED else 5
    killed, progress = 0, []
    for k in range(n_kills):
        remaining = train_time * (1.0 - _done_fraction(out, n_epochs))
        delay = 0.0 if k == 0 else rng.uniform(0.0, 1.1 * remaining)  # the first: inside the first write
        killed += _kill_after(out, float(delay), env) == -signal.SIGKILL
        if (out / "checkpoint.npz").exists():
            meta, _ = load_checkpoint(out / "checkpoint.npz")  # complete, never half-written
            assert meta["run"] == ref_meta["run"]
        progress.append(_done_fraction(out, n_epochs))
    assert killed >= n_kills - 1  # the kills landed before the run finished (bar one, on a slow machine)
    assert any(0 < f < 1 for f in progress), progress  # at least one landed mid-training, after a checkpoint

    assert main([*ARGS, "--out", str(out)]) == 0
    meta, arrays = load_checkpoint(out / "checkpoint.npz")
    assert _comparable(meta) == _comparable(ref_meta)
    assert sorted(arrays) == sorted(ref_arrays)
    for key in arrays:
        np.testing.assert_array_equal(arrays[key], ref_arrays[key], err_msg=key)
    assert not list(out.glob("*.tmp"))
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in ref.iterdir())
