"""DD training throughput: the numpy engine against the compiled jax engine, measured in the same run.

Run: ``python benchmarks/dd_engine.py [--sizes 16 25 64] [--physical 16:examples/chip.toml 25:examples/chip64.toml]
[--batches 16 128] [--steps 64] [--out docs/results/dd_engine.md]``.
One FFzero stage (the last layer of an ideal 2-layer chip, of the buildable (physical) 2-layer chip, and of the digits MLP)
on digits: sample queries per second
(2K candidate settings x B samples per step, K = 1) of the numpy step, the jax engine called once per step, and
the jax engine running all steps in one call (what ``backend="jax"`` does within an epoch). Each time is the best
of ``--repeat`` rounds of process CPU time after a warm-up (compilation excluded). BLAS is pinned to one thread unless already set.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

from ffzero_photonics.data import load_dataset  # noqa: E402
from ffzero_photonics.digital.mlp import MLP  # noqa: E402
from ffzero_photonics.method.estimators import sample_directions  # noqa: E402
from ffzero_photonics.photonic.chip import PhotonicChip  # noqa: E402
from ffzero_photonics.registry import build_model  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from photonic_accuracy import physical_config  # noqa: E402
from ffzero_photonics.trainer import Trainer  # noqa: E402


def best_time(fn, repeat: int) -> float:
    """Least CPU seconds of this process one call of ``fn`` took over ``repeat`` rounds (after one warm-up call).

    CPU time, not wall time: other jobs on a shared machine do not inflate it, and work jax spreads over
    several threads is counted in full (a conservative measure for the jax engine).
    """
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def stage_step(model, data, backend: str, batch: int, n_steps: int):
    """The trainer's step for the last layer's FFzero stage, on ``backend``."""
    trainer = Trainer(paradigm="ffzero", batch_size=batch, epochs=1, backend=backend)
    trainer.config = trainer.config.resolved({})
    trainer.bind(model, data.n_classes)
    layer = model.n_layers - 1
    return trainer, trainer._make_step(model, [layer], layer, n_steps)


def measure(make_model, data, batch: int, n_steps: int, repeat: int) -> dict[str, float]:
    """Sample queries per second of the three engines on ``n_steps`` batches."""
    targets = np.eye(data.n_classes)[data.y_train]
    idx = (np.arange(n_steps * batch) % len(data.X_train)).reshape(n_steps, batch)
    X, xs, ts = data.X_train, data.X_train[idx], targets[idx]
    per_step = 2 * batch  # central differences, K = 1

    _, step = stage_step(make_model(), data, "numpy", batch, n_steps)

    def numpy_run():
        for i in range(n_steps):
            step(xs[i], ts[i])

    out = {"numpy": per_step * n_steps / best_time(numpy_run, repeat)}
    trainer, step = stage_step(make_model(), data, "jax", batch, n_steps)
    us = np.stack([sample_directions(trainer._rng, 1, step.engine.dim) for _ in range(n_steps)])

    def jax_per_step():
        for i in range(n_steps):
            step.run_compiled(X, idx[i : i + 1], ts[i : i + 1], us[i : i + 1])

    out["jax_step"] = per_step * n_steps / best_time(jax_per_step, repeat)
    out["jax_run"] = per_step * n_steps / best_time(lambda: step.run_compiled(X, idx, ts, us), repeat)
    return out


def physical_case(item: str, parser: argparse.ArgumentParser) -> tuple[int, dict, str]:
    """Ports, physics tables and path of one ``--physical N:CHIP.toml`` (bad input: one line from ``parser.error``)."""
    n, _, path = item.partition(":")
    if not n.isdigit() or int(n) < 2 or not path:
        parser.error(f"--physical: expected PORTS:CHIP.toml (e.g. 16:examples/chip.toml), got {item!r}")
    return int(n), physical_config(path, parser, "--physical").physics_tables(), path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[16, 25, 64])
    parser.add_argument("--physical", nargs="*", default=["16:examples/chip.toml", "25:examples/chip64.toml"],
                        metavar="N:CHIP.toml", help="buildable 2-layer chips: ports and the CHIP.toml of their platform")
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 128])
    parser.add_argument("--steps", type=int, default=64, help="DD steps per timed round")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default="docs/results/dd_engine.md")
    args = parser.parse_args()
    data = load_dataset("digits", seed=0, standardize=False)
    cases = [(f"ideal chip N={n}, 2 layers", lambda n=n: PhotonicChip.for_data(data, ports=n, layers=2)) for n in args.sizes]
    for item in args.physical:
        n, physics, path = physical_case(item, parser)
        cases.append((f"physical chip N={n}, 2 layers ({Path(path).name})",
                      lambda n=n, physics=physics: build_model("photonic", data, model="physical", ports=n,
                                                               layers=2, physics=physics)))
    cases.append(("digits MLP 64-100-100-100", lambda: MLP()))
    rows = ["| model | batch | numpy q/s | jax per-step q/s | jax run q/s | jax run / numpy |",
            "|---|---:|---:|---:|---:|---:|"]
    print(rows[0] + "\n" + rows[1], flush=True)
    for name, make in cases:
        for batch in args.batches:
            r = measure(make, data, batch, args.steps, args.repeat)
            rows.append(f"| {name} | {batch} | {r['numpy']:,.0f} | {r['jax_step']:,.0f} | {r['jax_run']:,.0f} "
                        f"| {r['jax_run'] / r['numpy']:.1f}x |")
            print(rows[-1], flush=True)
    device = jax.devices()[0]
    head = [
        "# DD engine throughput: numpy vs compiled jax",
        "",
        f"`python benchmarks/dd_engine.py` on {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
        f"jax {jax.__version__} on {device.platform}, {args.steps} steps per round, best of {args.repeat} rounds of process CPU time.",
        "Sample queries per second (2 settings x batch per step) of one FFzero stage (the last layer) on digits;",
        "'jax run' is all steps in one compiled call, as `backend=\"jax\"` trains within an epoch.",
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(head + rows) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
