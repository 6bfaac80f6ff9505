"""What the chip-in-the-loop boundary costs, and what a sweep gains from a second worker.

1. Training-step time with the chip in-process vs behind a local chip server
   (a separate process, ZeroMQ over loopback TCP) with one batched request per
   step vs one request per candidate setting; plus the *modelled* lab time per
   step for a simulated instrument (latency per request, settling per heater
   setting, integration per read), which is what batching saves in a lab.
2. Wall time of the same small sweep with 1 and 2 local worker processes.

    python benchmarks/lab_speed.py            # ~2-4 min on 2 idle cores
    python benchmarks/lab_speed.py --quick    # fewer steps, smaller sweep
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# One XLA thread: the optimizer's tiny jitted step otherwise spins threads that starve the server process.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import numpy as np  # noqa: E402

TIMING = {"latency_s": 2e-3, "settle_s": 1e-3, "integrate_s": 1e-5}  # a plausible DAC/ADC rig


def _serve(conn, chip_options: dict) -> None:
    from ffzero_photonics.lab import SimulatedInstrument
    from ffzero_photonics.lab.server import ChipServer
    from ffzero_photonics.photonic.chip import PhotonicChip

    server = ChipServer(SimulatedInstrument(PhotonicChip(**chip_options), **TIMING), log_path=None)
    conn.send(server.url)
    server.serve_forever()


def _chip_options(ports: int) -> dict:
    return {"n_features": 64, "image_shape": (8, 8), "ports": ports, "layers": 1, "seed": 0}


class _Stopwatch:
    """Forwards the black-box protocol and timestamps every training query (one per step)."""

    def __init__(self, model, batch: int):
        self.model, self.batch, self.stamps = model, batch, []

    counter = property(lambda self: self.model.counter)
    n_layers = property(lambda self: self.model.n_layers)
    n_inputs = property(lambda self: self.model.n_inputs)

    def layer_info(self, layer):
        return self.model.layer_info(layer)

    def get_params(self, layer):
        return self.model.get_params(layer)

    def set_params(self, layer, params):
        self.model.set_params(layer, params)

    def query(self, x, layer, settings=None):
        if settings and len(x) == self.batch:
            self.stamps.append(time.perf_counter())
        return self.model.query(x, layer, settings)

    def step_seconds(self) -> list[float]:
        """Intervals between consecutive training queries within an epoch (epoch-end evaluation dropped)."""
        gaps = np.diff(self.stamps)
        return sorted(gaps)[: max(1, int(0.9 * len(gaps)))]


def step_times(ports: int, n_dirs: int, max_train: int, rounds: int) -> list[dict]:
    """Median training-step time per mode; modes interleaved round by round so they share the machine's load."""
    from ffzero_photonics.data import load_dataset
    from ffzero_photonics.lab.client import RemoteChip
    from ffzero_photonics.photonic.chip import PhotonicChip
    from ffzero_photonics.trainer import Trainer

    data = load_dataset("digits", seed=0, standardize=False, max_train=max_train)
    batch = 16
    config = dict(epochs=2, batch_size=batch, n_dirs=n_dirs, eval_train_max=1, lr=3e-3, optimizer="adam")
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(child, _chip_options(ports)), daemon=True)
    proc.start()
    url = parent.recv()
    modes = {
        "in-process": lambda: PhotonicChip(**_chip_options(ports)),
        "server, batched": lambda: RemoteChip(url),
        "server, 1 request/setting": lambda: RemoteChip(url, split_settings=True),
    }
    samples = {mode: [] for mode in modes}
    cost = {}
    try:
        for r in range(rounds + 1):  # round 0 warms up imports, jit caches and connections
            for mode, make in modes.items():
                model = make()
                watch = _Stopwatch(model, batch)
                trainer = Trainer(**config)
                trainer.fit(watch, data)
                if r:
                    samples[mode] += watch.step_seconds()
                    cost[mode] = (trainer.train_cost.snapshot(), len(watch.stamps))
                getattr(model, "close", lambda: None)()
    finally:
        proc.terminate()
        proc.join(5)
    rows = []
    for mode in modes:
        c, steps = cost[mode]
        lab = TIMING["latency_s"] * c["calls"] + TIMING["settle_s"] * c["settings"] + TIMING["integrate_s"] * c["sample_queries"]
        rows.append({
            "settings/step": 2 * n_dirs, "mode": mode, "ms/step (median)": 1e3 * float(np.median(samples[mode])),
            "query requests/step": c["calls"] / steps, "modelled lab ms/step": 1e3 * lab / steps,
        })
    base = rows[0]["ms/step (median)"]
    for r in rows:
        r["x in-process"] = r["ms/step (median)"] / base
    return rows


SWEEP = """
model = "mlp"
dataset = "digits"
[model_options]
hidden = [64]
[train]
epochs = {epochs}
batch_size = 32
[grid]
seed = [0, 1, 2, 3]
"""


def sweep_times(epochs: int) -> list[dict]:
    from ffzero_photonics.scale.sweep import run_sweep

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sweep.toml"
        path.write_text(SWEEP.format(epochs=epochs))
        for workers in (1, 2):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            records = run_sweep(path, Path(tmp) / f"w{workers}", workers=workers, progress=False, log=lambda m: None)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            assert all(r["status"] == "ok" for r in records), records
            rows.append({"workers": workers, "cells": len(records), "wall s": wall,
                         "mean cell s": sum(r["wall_time_s"] for r in records) / len(records),
                         "worker CPU s": cpu, "cores busy": cpu / wall})
    for r in rows:
        r["speed-up"] = rows[0]["wall s"] / r["wall s"]
    return rows


def table(rows: list[dict]) -> str:
    keys = list(rows[0])
    fmt = lambda v: "-" if v is None else (f"{v:.3g}" if isinstance(v, float) else str(v))  # noqa: E731
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# lab_speed ({os.cpu_count()} cores, load average {load:.1f})\n")
    rows = []
    for n_dirs in (1, 4):
        rows += step_times(ports=16, n_dirs=n_dirs, max_train=160 if args.quick else 480, rounds=1 if args.quick else 3)
    print("## Training step: chip in-process vs behind a local chip server\n")
    print(table(rows))
    print(f"\nms/step: median wall time between training queries (the slowest 10% dropped as load spikes).\n"
          f"modelled lab ms/step: what the step would cost in a lab with latency {TIMING['latency_s'] * 1e3:g} ms/request, "
          f"settling {TIMING['settle_s'] * 1e3:g} ms/setting, integration {TIMING['integrate_s'] * 1e6:g} us/read.\n")
    print("## Sweep: 4 cells (digits MLP 64-64-10), 1 vs 2 local workers\n")
    print(table(sweep_times(epochs=2 if args.quick else 60)))
    print("\ncores busy = worker CPU time / wall time: the CPU share the sweep actually got on this machine.")


if __name__ == "__main__":
    main()
