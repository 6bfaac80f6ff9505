"""The four paradigms on digits with a deep MLP (64-100-100-100-10), tuned and at equal budgets.

Each paradigm's learning rate is picked on the validation split (seed 0), then
the chosen setting runs on ``--seeds`` seeds and is scored on the test split.
FFzero and BP+DD get the same number of chip queries (sample evaluations);
the autodiff baselines are upper bounds with their own epoch budget.

    python benchmarks/paradigms.py                # 5 seeds and the extras (~40 min on 2 cores)
    python benchmarks/paradigms.py --quick        # smoke run (~2 min)
    python benchmarks/paradigms.py --loss ce --temperature 0.1 --dd-epochs 1000 --prefix paradigms_ce --no-extras
    python benchmarks/paradigms.py --cnn 16,16 --loss ce --prefix cnn_digits --no-extras
    python benchmarks/paradigms.py --cnn 16,16 --loss ce --dd-epochs 3000 --only ffzero --prefix cnn_digits_3000 --no-extras
"""

from __future__ import annotations

import argparse
import csv
import functools
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HIDDEN = (100, 100, 100)
DD_GRID = (3e-4, 1e-3, 3e-3, 1e-2)
AD_GRID = (1e-3, 3e-3, 1e-2, 3e-2)
LR_GRID = {"ffzero": DD_GRID, "bp-dd": DD_GRID, "ff-ad": AD_GRID, "bp-ad": AD_GRID}


@functools.lru_cache(maxsize=8)
def _dataset(name: str, seed: int):
    """A built-in dataset, loaded once per process (mnist1d takes seconds to generate)."""
    from ffzero_photonics.data import load_dataset

    return load_dataset(name, seed=seed)


def run_one(paradigm: str, lr: float, seed: int, epochs: int, batch: int, hidden=HIDDEN,
            optimizer: str = "adam", schedule: str = "cosine", *, dataset: str = "digits", model: str = "mlp",
            options: dict | None = None, **train) -> dict:
    """Train one registered model kind on a built-in dataset and score it; ``train`` adds TrainConfig fields."""
    from ffzero_photonics.registry import build_model
    from ffzero_photonics.trainer import Trainer

    data = _dataset(dataset, seed)
    options = {"hidden": tuple(hidden), "activation": "tanh"} if options is None else options
    net = build_model(model, data, seed=seed, **options)
    trainer = Trainer(paradigm=paradigm, epochs=epochs, batch_size=batch, lr=lr, optimizer=optimizer,
                      schedule=schedule, seed=seed, **train)
    t0 = time.perf_counter()
    history = trainer.fit(net, data)
    wall = time.perf_counter() - t0
    val = trainer.evaluate(net, data, "val")
    test = trainer.evaluate(net, data, "test")
    curve = [(r["train_sample_queries"], r.get("val_vote", r["val_score"])) for r in history]
    return {
        "paradigm": paradigm, "lr": lr, "seed": seed, "epochs": epochs, "batch": batch,
        "val": val["val_accuracy"], "test": test["test_accuracy"], "test_last": test["test_accuracy_last"],
        "test_vote": test["test_accuracy_vote"], "queries": trainer.train_cost.sample_queries,
        "layer_evals": trainer.train_cost.layer_evals, "wall_s": wall, "curve": curve,
    }


def extend_grid(results: dict, run_lr, max_extra: int = 2) -> dict:
    """Add lrs a factor 3 beyond the grid's edge while the best (by val) sits on it; returns the best run.

    ``results`` maps lr -> run (updated in place); ``run_lr(lr)`` runs one more point.
    """
    for _ in range(max_extra):
        best = max(results.values(), key=lambda r: r["val"])["lr"]
        lrs = sorted(results)
        if best not in (lrs[0], lrs[-1]):
            break
        new = best / 3.0 if best == lrs[0] else best * 3.0
        results[new] = run_lr(new)
    return max(results.values(), key=lambda r: r["val"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--dd-epochs", type=int, default=300, help="DD epochs per layer (BP+DD gets 4x in total)")
    ap.add_argument("--ad-epochs", type=int, default=50, help="AD epochs per layer (BP+AD gets 4x in total)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="tiny budgets, one seed: a smoke run")
    ap.add_argument("--out", default="docs/results")
    ap.add_argument("--extras-only", action="store_true", help="only the paper-recipe and depth tables")
    ap.add_argument("--no-extras", action="store_true", help="skip the paper-recipe and depth tables")
    ap.add_argument("--loss", default="auto", choices=("auto", "hinge", "cosine", "ce"),
                    help="local/global loss of every paradigm (auto: the paper's hinge)")
    ap.add_argument("--temperature", type=float, default=0.1, help="of --loss ce")
    ap.add_argument("--backend", default="jax", choices=("numpy", "jax"),
                    help="DD engine (same numbers to float tolerance)")
    ap.add_argument("--prefix", default="paradigms", help="file name prefix in --out")
    ap.add_argument("--only", default=None, metavar="P1,P2", help="run only these paradigms (e.g. ffzero)")
    ap.add_argument("--cnn", default=None, metavar="C1,C2,...",
                    help="train the digits CNN with these conv channels (kernel 3, tanh) instead of the MLP")
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.dd_epochs, args.ad_epochs = 1, 10, 5
    if args.extras_only:
        extras(args)
        return
    cnn = None if args.cnn is None else tuple(int(c) for c in args.cnn.split(","))
    n_layers = len(HIDDEN) + 1 if cnn is None else len(cnn)
    budget = {
        "ffzero": args.dd_epochs, "bp-dd": n_layers * args.dd_epochs,
        "ff-ad": args.ad_epochs, "bp-ad": n_layers * args.ad_epochs,
    }
    if args.only:
        unknown = sorted(set(args.only.split(",")) - set(budget))
        if unknown:
            ap.error(f"--only: unknown paradigm {unknown[0]!r}; choose from {', '.join(budget)}")
        budget = {p: budget[p] for p in args.only.split(",")}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    train = dict(loss=args.loss, temperature=args.temperature, backend=args.backend)
    if cnn is not None:
        train.update(model="cnn", options={"channels": cnn, "kernel": 3, "activation": "tanh"})
    one = functools.partial(run_one, **train)
    with ProcessPoolExecutor(args.workers) as pool:
        tuning = {p: {lr: pool.submit(one, p, lr, 0, budget[p], args.batch) for lr in LR_GRID[p]} for p in budget}
        tuned = {}
        for p, futures in tuning.items():
            results = {lr: f.result() for lr, f in futures.items()}
            best = extend_grid(results, lambda lr: one(p, lr, 0, budget[p], args.batch))
            tuned[p] = {"lr": best["lr"], "grid": {lr: round(r["val"], 4) for lr, r in sorted(results.items())}}
            print(f"tuned {p}: val accuracy by lr {tuned[p]['grid']} -> lr {best['lr']:g}", flush=True)
        finals = {p: [pool.submit(one, p, tuned[p]["lr"], s, budget[p], args.batch) for s in range(args.seeds)]
                  for p in budget}
        rows = {p: [f.result() for f in fs] for p, fs in finals.items()}
    total = time.perf_counter() - t0

    lines = [
        f"Digits, {_model_text(cnn)}, batch {args.batch}, Adam + cosine decay, loss {_loss_text(args)}, "
        f"backend {args.backend}, lr tuned on val of seed 0 (DD grid {DD_GRID}, AD grid {AD_GRID}, extended past an edge); "
        f"{args.seeds} seeds, mean ± std (sample std). Budgets: FFzero {args.dd_epochs} epochs/layer, "
        f"BP+DD {n_layers * args.dd_epochs} epochs (equal chip queries); FF+AD {args.ad_epochs} epochs/layer, "
        f"BP+AD {n_layers * args.ad_epochs} epochs{'' if not args.only else f' (run: {args.only})'}.",
        "",
        "| paradigm | lr | test acc. (vote / global) | test acc. last layer | training sample queries | wall time / run |",
        "|---|---|---|---|---|---|",
    ]
    for p, rs in rows.items():
        acc = np.array([r["test"] for r in rs]) * 100
        last = np.array([r["test_last"] for r in rs]) * 100
        lines.append(
            f"| {p} | {tuned[p]['lr']:g} | {acc.mean():.1f} ± {_std(acc):.1f} | {last.mean():.1f} ± {_std(last):.1f} "
            f"| {rs[0]['queries']:,} | {np.mean([r['wall_s'] for r in rs]):.0f} s |"
        )
    if {"ffzero", "bp-dd"} <= set(rows):
        ratio = np.mean([r["test"] for r in rows["ffzero"]]) / max(np.mean([r["test"] for r in rows["bp-dd"]]), 1e-9)
        lines += ["", f"FFzero / BP+DD test accuracy at equal queries: {ratio:.2f}x."]
    lines += ["", f"Benchmark wall time {total / 60:.1f} min."]
    table = "\n".join(lines)
    print(table)
    (out / f"{args.prefix}.md").write_text(table + "\n")
    write_data(out, tuned, rows, prefix=args.prefix)
    _plot_curves(rows, out / f"{args.prefix}_curves.png")
    if not args.no_extras:
        extras(args)


def _model_text(cnn) -> str:
    if cnn is None:
        return "MLP 64-100-100-100-10 (tanh)"
    return f"CNN, conv channels {','.join(map(str, cnn))}, kernel 3, tanh, local heads a fixed projection to 10 dims"


def _loss_text(args) -> str:
    names = {"auto": "auto (the paper's hinge on cosines, margin 0.3)", "hinge": "hinge on cosines (margin 0.3)",
             "cosine": "1 - cos", "ce": f"ce (T = {args.temperature:g})"}
    return names[args.loss]


def _std(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


RUN_COLUMNS = ("paradigm", "lr", "seed", "epochs", "batch", "val", "test", "test_last", "test_vote", "queries",
               "layer_evals", "wall_s")
CURVE_POINTS = 60


def write_data(out: Path, tuned: dict, rows: dict, prefix: str = "paradigms", labels: tuple = ("paradigm",)) -> None:
    """The numbers behind the table and the plot, compact: one CSV row per run, per tuning point, per curve point.

    ``tuned`` and ``rows`` are keyed by the values of ``labels`` (a tuple, or one value for one label).
    <prefix>_runs.csv (final runs), <prefix>_tuning.csv (val accuracy of every lr tried on seed 0) and
    <prefix>_curves.csv (validation accuracy vs training sample queries, thinned to ~60 log-spaced points per run).
    """
    def key(k):
        return list(k) if isinstance(k, tuple) else [k]

    columns = (*labels, *(c for c in RUN_COLUMNS if c not in labels))
    runs = [[*key(k), *(r[c] for c in columns[len(labels):])] for k, rs in rows.items() for r in rs]
    tuning = [[*key(k), lr, val, lr == t["lr"]] for k, t in tuned.items() for lr, val in t["grid"].items()]
    curves = [[*key(k), r["seed"], q, acc] for k, rs in rows.items() for r in rs for q, acc in _thin(r["curve"])]
    _write_csv(out / f"{prefix}_runs.csv", columns, runs)
    _write_csv(out / f"{prefix}_tuning.csv", (*labels, "lr", "val", "chosen"), tuning)
    _write_csv(out / f"{prefix}_curves.csv", (*labels, "seed", "train_sample_queries", "val_accuracy"), curves)


def _thin(curve: list) -> list:
    """About CURVE_POINTS points spread evenly on a log axis, always keeping the last one."""
    if len(curve) <= CURVE_POINTS:
        return list(curve)
    keep = np.unique(np.geomspace(1, len(curve), CURVE_POINTS).round().astype(int) - 1)
    return [curve[i] for i in keep]


def _write_csv(path: Path, header: tuple, rows: list) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([[f"{v:.6g}" if isinstance(v, float) else v for v in row] for row in rows])


def extras(args) -> None:
    """Where the paper's pattern holds: its own recipe, and deeper networks (lr picked on seed 0's val)."""
    e = args.dd_epochs // 3
    one = functools.partial(run_one, backend=args.backend)

    def cell(rs: list[dict]) -> str:
        acc = 100 * np.array([r["test"] for r in rs])
        return f"{acc.mean():.1f} ± {_std(acc):.1f}"

    lines = [
        f"Paper recipe (plain SGD, batch 256, constant lr 0.256 = the reference's summed-loss lr 1e-3 x 256; "
        f"FFzero {e} epochs/layer, BP+DD {4 * e} epochs; {args.seeds} seeds, mean ± std):", "",
        "| paradigm | test acc. | training sample queries |", "|---|---|---|",
    ]
    with ProcessPoolExecutor(args.workers) as pool:
        paper = {p: [pool.submit(one, p, 0.256, s, e if p == "ffzero" else 4 * e, 256, HIDDEN, "sgd", "constant")
                     for s in range(args.seeds)] for p in ("ffzero", "bp-dd")}
        depth_jobs, budgets = {}, {}
        for hidden in ((100,), (100, 100, 100), (100,) * 6):
            n_layers = len(hidden) + 1
            for p, lrs in (("ffzero", (1e-3, 3e-3)), ("bp-dd", (1e-4, 3e-4, 1e-3))):
                budgets[n_layers, p] = (args.dd_epochs // 2 if p == "ffzero" else n_layers * args.dd_epochs // 2, hidden)
                depth_jobs[n_layers, p] = {lr: pool.submit(one, p, lr, 0, budgets[n_layers, p][0], args.batch, hidden)
                                           for lr in lrs}
        for p, fs in paper.items():
            rs = [f.result() for f in fs]
            lines.append(f"| {p} | {cell(rs)} | {rs[0]['queries']:,} |")
        picked = {key: max((f.result() for f in fs.values()), key=lambda r: r["val"]) for key, fs in depth_jobs.items()}
        finals = {key: [pool.submit(one, key[1], best["lr"], s, budgets[key][0], args.batch, budgets[key][1])
                        for s in range(1, args.seeds)] for key, best in picked.items()}
        by_depth = {}
        for key, fs in finals.items():
            by_depth.setdefault(key[0], {})[key[1]] = (picked[key], [picked[key]] + [f.result() for f in fs])
    lines += ["", f"Depth (FFzero {args.dd_epochs // 2} epochs/layer, BP+DD the same total queries; lr picked on the "
                  f"validation split of seed 0 from the listed grid; test accuracy of that lr on seeds 0-{args.seeds - 1}, "
                  "mean ± std):", "",
              "| layers | FFzero test acc. (lr) | BP+DD test acc. (lr) | sample queries |", "|---|---|---|---|"]
    for n_layers, d in sorted(by_depth.items()):
        (f_, f_rs), (b_, b_rs) = d["ffzero"], d["bp-dd"]
        lines.append(f"| {n_layers} | {cell(f_rs)} ({f_['lr']:g}) | {cell(b_rs)} ({b_['lr']:g}) | {f_['queries']:,} |")
    table = "\n".join(lines)
    print(table)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "paradigms_extras.md").write_text(table + "\n")


PARADIGM_COLORS = {"ffzero": "C0", "bp-dd": "C3", "ff-ad": "C2", "bp-ad": "C1"}


def plot_curves(ax, rows: dict, paradigms=("ffzero", "bp-dd")) -> None:
    """Validation accuracy vs training sample queries, one line per run of each paradigm in ``rows``."""
    for p in paradigms:
        for i, r in enumerate(rows.get(p, ())):
            q, acc = zip(*r["curve"])
            ax.plot(q, acc, color=PARADIGM_COLORS[p], alpha=0.7, label=p if i == 0 else None)
    ax.set(xscale="log", xlabel="training sample queries")
    ax.grid(alpha=0.3)


def _plot_curves(rows: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    plot_curves(ax, rows)
    ax.set(ylabel="validation accuracy (vote for FFzero)", title="forward-only training at equal query budgets")
    ax.legend()
    fig.savefig(path, dpi=120, bbox_inches="tight")


if __name__ == "__main__":
    main()
