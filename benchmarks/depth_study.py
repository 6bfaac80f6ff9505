"""The four paradigms on mnist1d as depth grows: MLPs of 2, 4, 8 and 12 layers and a 1-D CNN, tuned, at equal budgets.

For every (paradigm, architecture) the learning rate is picked on the validation split (seed 0, a small grid
extended once past its edge), then the pick runs on ``--seeds`` seeds (seed 0 is the tuning run itself) and is
scored on the test split. FFzero gets ``--dd-epochs`` epochs per layer and BP+DD the same number of chip
queries (layers x that many epochs); the autodiff baselines are upper bounds with their own epoch budget.
Runs go one after another in one process (the numpy DD engine: on these small layers it beats the compiled
jax one, whose per-stage compile dominates); ``--cache`` keeps finished runs so an interrupted study resumes.

    python benchmarks/depth_study.py                  # docs/results/mnist1d_depth.* (~70 min on a busy 2-core box)
    python benchmarks/depth_study.py --quick          # smoke run (~5 min)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paradigms import PARADIGM_COLORS, extend_grid, plot_curves, run_one, write_data  # noqa: E402

WIDTH = 32
CNN_OPTIONS = {"channels": (16, 16, 16), "kernel": 5, "stride": 2, "activation": "tanh"}
ARCHS = {  # name -> (registry kind, options, layers)
    **{f"mlp{d}": ("mlp", {"hidden": (WIDTH,) * (d - 1), "activation": "tanh"}, d) for d in (2, 4, 8, 12)},
    "cnn1d": ("cnn1d", CNN_OPTIONS, len(CNN_OPTIONS["channels"])),
}
PARADIGMS = ("ffzero", "bp-dd", "ff-ad", "bp-ad")
LOCAL = {"ffzero": True, "bp-dd": False, "ff-ad": True, "bp-ad": False}
DD_GRID = (1e-3, 3e-3, 1e-2)
AD_GRID = (3e-3, 1e-2, 3e-2)
LR_GRID = {"ffzero": DD_GRID, "bp-dd": DD_GRID, "ff-ad": AD_GRID, "bp-ad": AD_GRID}
NAMES = {"ffzero": "FFzero", "bp-dd": "BP+DD", "ff-ad": "FF+AD", "bp-ad": "BP+AD"}
TRAIN = {"eval_train_max": 100}  # the per-epoch train score on 100 samples: it is not used, and 2000 cost 40%


class Runner:
    """Runs (paradigm, arch, lr, seed) once: from the cache file when it holds the run, else trains and appends it."""

    def __init__(self, budget: dict, batch: int, cache: Path | None):
        self.budget, self.batch, self.cache = budget, batch, cache
        self.done: dict[str, dict] = {}
        self.used: set[str] = set()  # the runs this study used (tuning and finals), cached or not
        if cache is not None and cache.exists():
            for line in cache.read_text().splitlines():
                r = json.loads(line)
                self.done[r["key"]] = r

    def __call__(self, paradigm: str, arch: str, lr: float, seed: int) -> dict:
        epochs = self.budget[(paradigm, arch)]
        key = f"{paradigm}|{arch}|{lr:.6g}|{seed}|{epochs}|{self.batch}"
        if key not in self.done:
            kind, options, _ = ARCHS[arch]
            r = run_one(paradigm, lr, seed, epochs, self.batch, dataset="mnist1d", model=kind, options=options,
                        **TRAIN)
            r.update(key=key, arch=arch)
            print(f"{paradigm:7s} {arch:6s} lr {lr:<7g} seed {seed}: val {r['val']:.3f} test {r['test']:.3f} "
                  f"({r['wall_s']:.0f} s)", flush=True)
            if self.cache is not None:
                with self.cache.open("a") as f:
                    f.write(json.dumps(r) + "\n")
            self.done[key] = r
        self.used.add(key)
        return self.done[key]

    @property
    def train_seconds(self) -> float:
        """Training wall time summed over the runs this study used (data loading and jit warm-up aside)."""
        return sum(self.done[k]["wall_s"] for k in self.used)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--dd-epochs", type=int, default=20, help="FFzero epochs per layer (BP+DD: layers x this)")
    ap.add_argument("--ad-epochs", type=int, default=10, help="FF+AD epochs per layer (BP+AD: layers x this)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--quick", action="store_true", help="tiny budgets, one seed, two lrs: a smoke run")
    ap.add_argument("--cache", type=Path, default=None, help="JSON-lines file of finished runs (resume)")
    ap.add_argument("--out", default="docs/results")
    args = ap.parse_args()
    grids = LR_GRID
    if args.quick:
        args.seeds, args.dd_epochs, args.ad_epochs = 1, 2, 1
        grids = {p: g[1:] for p, g in LR_GRID.items()}
    budget = {}
    for arch, (_, _, layers) in ARCHS.items():
        for p in PARADIGMS:
            per_layer = args.dd_epochs if p in ("ffzero", "bp-dd") else args.ad_epochs
            budget[(p, arch)] = per_layer if LOCAL[p] else layers * per_layer
    run = Runner(budget, args.batch, args.cache)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tuned, rows = {}, {}
    for arch in ARCHS:
        for p in PARADIGMS:
            results = {lr: run(p, arch, lr, 0) for lr in grids[p]}
            best = extend_grid(results, lambda lr: run(p, arch, lr, 0), max_extra=0 if args.quick else 1)
            tuned[(p, arch)] = {"lr": best["lr"], "grid": {lr: round(r["val"], 4) for lr, r in sorted(results.items())}}
            rows[(p, arch)] = [best]
    for seed in range(1, args.seeds):  # seed by seed over every cell, so a cut-short study has whole rounds
        for (p, arch), t in tuned.items():
            rows[(p, arch)].append(run(p, arch, t["lr"], seed))

    table = _table(args, rows, tuned, len(run.used), run.train_seconds)
    print(table)
    (out / "mnist1d_depth.md").write_text(table + "\n")
    write_data(out, tuned, rows, prefix="mnist1d_depth", labels=("paradigm", "arch"))
    _plot(rows, out / "mnist1d_depth_curves.png")


def _cell(rs: list) -> str:
    acc = 100 * np.array([r["test"] for r in rs])
    return f"{acc.mean():.1f} ± {acc.std():.1f}"


def _table(args, rows: dict, tuned: dict, n_runs: int, train_s: float) -> str:
    lines = [
        f"mnist1d (40 features, 10 classes; 2600 train / 600 val / 800 test), tanh MLPs of width {WIDTH} and a 1-D "
        f"CNN (channels {CNN_OPTIONS['channels']}, kernel {CNN_OPTIONS['kernel']}, stride {CNN_OPTIONS['stride']}; "
        f"each conv layer a local block), batch {args.batch}, Adam + cosine decay. lr tuned on val per (paradigm, "
        f"architecture) on seed 0 (DD grid {DD_GRID}, AD grid {AD_GRID}, extended once past an edge); test accuracy "
        f"(vote for the local paradigms), {args.seeds} seeds, mean ± std (population std). Budgets: FFzero "
        f"{args.dd_epochs} epochs/layer, BP+DD layers x {args.dd_epochs} epochs (equal sample queries, listed); "
        f"FF+AD {args.ad_epochs} epochs/layer, BP+AD layers x {args.ad_epochs}. Reference points (seed 0): "
        f"logistic regression 33 %, scikit-learn MLP 100-100 54 %.",
        "",
        "| architecture | layers | DD sample queries | FFzero | BP+DD | FFzero − BP+DD | FF+AD | BP+AD |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arch, (_, _, layers) in ARCHS.items():
        f_, b_ = rows[("ffzero", arch)], rows[("bp-dd", arch)]
        gap = 100 * (np.array([r["test"] for r in f_]) - np.array([r["test"] for r in b_]))
        cells = {p: f"{_cell(rows[(p, arch)])} ({tuned[(p, arch)]['lr']:.2g})" for p in PARADIGMS}
        lines.append(f"| {arch} | {layers} | {f_[0]['queries']:,} | {cells['ffzero']} | {cells['bp-dd']} | "
                     f"{gap.mean():+.1f} ± {gap.std():.1f} | {cells['ff-ad']} | {cells['bp-ad']} |")
    lines += ["", "Cells: test accuracy % (lr). FFzero − BP+DD: per-seed difference at equal queries. "
              f"{n_runs} training runs (tuning and finals), {train_s / 60:.0f} min of training wall time in one "
              "process, measured while the 2-core machine was shared."]
    return "\n".join(lines)


def _plot(rows: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(ARCHS), figsize=(4 * len(ARCHS), 3.6), sharey=True)
    for ax, arch in zip(axes, ARCHS):
        plot_curves(ax, {p: rows[(p, arch)] for p in PARADIGMS}, PARADIGMS)
        ax.set_title(arch)
    axes[0].set_ylabel("validation accuracy (vote for local)")
    handles = [plt.Line2D([], [], color=PARADIGM_COLORS[p], label=NAMES[p]) for p in PARADIGMS]
    fig.legend(handles=handles, loc="upper center", ncol=len(PARADIGMS), bbox_to_anchor=(0.5, 1.06))
    fig.savefig(path, dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
