"""Photonic FFzero on digits: accuracy, chip queries and wall time (3 seeds), plus what made it work.

Main row: a 64-port Clements chip (one layer, full 8x8 image amplitude-encoded,
one-hot port prototypes, cosine loss on normalized detector powers) trained by
FFzero with the tuned recipe. Ablation rows at the same query budget: the plain
recipe of the method's measured hint (batch 128), simplex prototypes, and
2-layer chips with 16 and 25 ports.

    python benchmarks/photonic_accuracy.py            # ~15 min on 2 cores
    python benchmarks/photonic_accuracy.py --quick    # ~1 min smoke run
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

RECIPE = dict(batch_size=16, lr=3e-3, optimizer="adam", schedule="cosine")


def run_one(name: str, chip: dict, train: dict, seed: int) -> dict:
    from ffzero_photonics.data import load_dataset
    from ffzero_photonics.photonic.chip import PhotonicChip
    from ffzero_photonics.trainer import Trainer

    data = load_dataset("digits", seed=seed, standardize=False)
    model = PhotonicChip.for_data(data, seed=seed, **chip)
    trainer = Trainer(seed=seed, **train)
    t0 = time.perf_counter()
    trainer.fit(model, data)
    wall = time.perf_counter() - t0
    test = trainer.evaluate(model, data, "test")
    return {"name": name, "seed": seed, "acc": test["test_accuracy"], "last": test["test_accuracy_last"],
            "queries": trainer.train_cost.sample_queries, "wall": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="docs/results")
    args = ap.parse_args()
    if args.quick:
        args.epochs, args.seeds = 10, 1
    e = args.epochs
    configs = [
        ("N=64, 1 layer, tuned recipe", {"ports": 64, "layers": 1}, dict(RECIPE, epochs=e)),
        ("N=64, 1 layer, batch 128 (plain DD, same queries)", {"ports": 64, "layers": 1}, dict(RECIPE, batch_size=128, epochs=e)),
        ("N=64, 1 layer, simplex prototypes", {"ports": 64, "layers": 1}, dict(RECIPE, prototypes="simplex", epochs=e)),
        ("N=25, 2 layers (5x5 resampled)", {"ports": 25, "layers": 2}, dict(RECIPE, epochs=e // 2)),
        ("N=16, 2 layers (4x4 pooled)", {"ports": 16, "layers": 2}, dict(RECIPE, epochs=e // 2)),
    ]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        futures = {name: [pool.submit(run_one, name, chip, train, s) for s in range(args.seeds if i == 0 else 1)]
                   for i, (name, chip, train) in enumerate(configs)}
        rows = {name: [f.result() for f in fs] for name, fs in futures.items()}
    lines = [
        f"Digits, photonic chip, FFzero (K = 1 central differences, eps 1e-3, Adam + cosine decay, lr 3e-3); "
        f"first row {args.seeds} seeds (mean ± std), ablations seed 0. Total {(time.perf_counter() - t0) / 60:.1f} min.",
        "",
        "| chip / recipe | test accuracy (vote) | last layer | training sample queries | wall time / run |",
        "|---|---|---|---|---|",
    ]
    for name, rs in rows.items():
        acc = np.array([r["acc"] for r in rs]) * 100
        last = np.array([r["last"] for r in rs]) * 100
        spread = f" ± {acc.std():.1f}" if len(rs) > 1 else ""
        lines.append(f"| {name} | {acc.mean():.1f}{spread} | {last.mean():.1f} | {rs[0]['queries']:,} | "
                     f"{np.mean([r['wall'] for r in rs]):.0f} s |")
    names = list(rows)
    tuned, plain = (np.mean([r["acc"] for r in rows[n]]) for n in names[:2])
    lines += ["", f"Tuned recipe / plain DD (batch 128) test accuracy at equal queries: {tuned / plain:.2f}x."]
    table = "\n".join(lines)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "photonic_accuracy.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
