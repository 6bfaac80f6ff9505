"""Gradient-free baselines against plain DD at equal chip queries: SPSA, separable CMA-ES and the coordinate estimator.

Digits on the ideal 16-port one-layer chip: every method gets the same training sample-query budget (FFzero's
default recipe, 300 epochs of K = 1 central differences at batch 16 = 700,800; and a tenth of it), its step size /
spread and batch tuned on the validation split of seed 0 for each budget, then the chosen setting runs on seeds 1..S
and is scored on the test split. On one layer the local and the global objective are the same loss, so the
local-versus-global rows use a two-layer chip (one-layer settings, seeds 1..S). A noisy fabricated chip
(combined:medium) and a direct fit-fidelity probe show what the coordinate estimator's exact sinusoids become on a
non-ideal chip. One process, one core; runs are recorded in the CSV as they finish, so a re-run continues.

    python benchmarks/baselines.py            # ~55 min on one core
    python benchmarks/baselines.py --quick    # smoke run (~1 min)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

BUDGET = 300 * 73 * 2 * 16  # sample queries: FFzero's default recipe on digits (73 batches of 16 per epoch)
N_TRAIN = 1168  # digits training split
# method -> (paradigm, estimator, fixed settings, grid of tuned settings)
METHODS = {
    "DD (FFzero)": ("ffzero", "dd", {"n_dirs": 1, "optimizer": "adam", "schedule": "cosine"},
                    [{"lr": lr, "batch_size": 16} for lr in (1e-3, 3e-3, 1e-2, 3e-2)]),
    "SPSA (Spall gains)": ("ffzero", "spsa", {"n_dirs": 1},
                           [{"lr": lr, "batch_size": 16} for lr in (3e-3, 1e-2, 3e-2, 1e-1, 3e-1)]),
    "sep-CMA-ES": ("ffzero", "cma", {"n_dirs": 1},
                   [{"eps": e, "batch_size": b} for e in (1.0, 3.0, 10.0) for b in (16, 64)]
                   + [{"eps": e, "batch_size": 8} for e in (1.0, 3.0)]),
    "coordinate (sinusoid fit)": ("ffzero", "coordinate", {"n_dirs": 16, "schedule": "cosine"},
                                  [{"lr": lr, "batch_size": b} for lr in (0.25, 0.5, 1.0) for b in (16, 64)]
                                  + [{"lr": lr, "batch_size": 128} for lr in (0.25, 0.5)]
                                  + [{"lr": 0.1, "batch_size": 16}, {"lr": 0.25, "batch_size": 8}]),
}
TWO_LAYER = {  # name -> (one-layer method whose tuned setting it uses, paradigm)
    "DD local (FFzero)": ("DD (FFzero)", "ffzero"), "DD global (BP-DD)": ("DD (FFzero)", "bp-dd"),
    "SPSA local": ("SPSA (Spall gains)", "ffzero"), "SPSA global": ("SPSA (Spall gains)", "bp-dd"),
    "sep-CMA-ES local": ("sep-CMA-ES", "ffzero"), "sep-CMA-ES global": ("sep-CMA-ES", "bp-dd"),
    "coordinate local": ("coordinate (sinusoid fit)", "ffzero"),
}
NOISY = ("DD (FFzero)", "coordinate (sinusoid fit)")
FIELDS = ["table", "method", "setting", "seed", "epochs", "val", "test", "queries",
          "calls", "wall_s", "curve"]


def settings_per_step(estimator: str, n_dirs: int, dim: int) -> int:
    from ffzero_photonics.method.baselines import default_popsize

    if estimator == "cma":
        return n_dirs if n_dirs > 1 else default_popsize(dim)
    return 2 * n_dirs + 1 if estimator == "coordinate" else 2 * n_dirs


def epochs_for(budget: int, estimator: str, setting: dict, dim: int) -> int:
    """Epochs of one training stage of ``dim`` parameters whose sample queries come closest to ``budget``."""
    per_epoch = (N_TRAIN // setting["batch_size"]) * setting["batch_size"] * settings_per_step(
        estimator, setting["n_dirs"], dim)
    return max(1, round(budget / per_epoch))


def run_one(chip: dict, paradigm: str, estimator: str, setting: dict, seed: int, budget: int) -> dict:
    from ffzero_photonics.data import load_dataset
    from ffzero_photonics.photonic.chip import PhotonicChip
    from ffzero_photonics.photonic.nonideal_config import parse_preset
    from ffzero_photonics.trainer import Trainer

    data = load_dataset("digits", seed=seed, standardize=False)
    options = dict(chip)
    if "nonideal" in options:
        options["nonideal"] = parse_preset(options["nonideal"])
    model = PhotonicChip.for_data(data, seed=seed, **options)
    n_stages = model.n_layers if paradigm == "ffzero" else 1  # local: the budget is split over the layers
    stage_dim = sum(model.layer_info(l).n_params for l in range(model.n_layers)) // n_stages
    epochs = epochs_for(budget // n_stages, estimator, setting, stage_dim)
    trainer = Trainer(paradigm=paradigm, estimator=estimator, epochs=epochs, seed=seed, **setting)
    t0 = time.perf_counter()
    history = trainer.fit(model, data)
    wall = time.perf_counter() - t0
    return {
        "epochs": epochs, "val": trainer.evaluate(model, data, "val")["val_accuracy"],
        "test": trainer.evaluate(model, data, "test")["test_accuracy"],
        "queries": trainer.train_cost.sample_queries, "calls": trainer.train_cost.calls, "wall_s": round(wall, 1),
        "curve": json.dumps([[r["train_sample_queries"], round(r.get("val_vote", r["val_score"]), 4)] for r in history]),
    }


class Ledger:
    """Every run as a CSV row; a re-run skips the runs already recorded (so an interrupted benchmark continues)."""

    def __init__(self, path: Path):
        self.path = path
        self.rows = list(csv.DictReader(path.open())) if path.exists() else []

    def get(self, table, method, setting, seed, run):
        key = (table, method, json.dumps(setting, sort_keys=True), str(seed))
        for row in self.rows:
            if (row["table"], row["method"], row["setting"], row["seed"]) == key:
                return row
        row = {"table": table, "method": method, "setting": key[2], "seed": seed, **run()}
        self.rows.append(row)
        with self.path.open("w", newline="") as f:
            writer = csv.DictWriter(f, FIELDS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.rows)
        print(f"{table:10s} {method:28s} {key[2]:45s} seed {seed}: val {float(row['val']):.3f} "
              f"test {float(row['test']):.3f} {int(row['queries']):,} q {row['wall_s']} s", flush=True)
        return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=BUDGET, help="training sample queries per run")
    ap.add_argument("--quick", action="store_true", help="a tenth of the budget, one seed, first grid point")
    ap.add_argument("--out", default="docs/results")
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.budget = 1, args.budget // 10
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(out / ("baselines_quick.csv" if args.quick else "baselines.csv"))
    t0 = time.perf_counter()
    one = {"ports": 16, "layers": 1}
    tuned, results = tune_and_test(ledger, one, args.budget, args, "")
    tuned_small, small = tune_and_test(ledger, one, args.budget // 10, args, "/10")
    noisy = {}
    for name in NOISY:
        paradigm, estimator = METHODS[name][:2]
        noisy[name] = [ledger.get("N16x1 noisy", name, tuned[name], s, lambda s=s: run_one(
            {**one, "nonideal": "combined:medium"}, paradigm, estimator, tuned[name], s, args.budget))
            for s in range(1, args.seeds + 1)]
    two = {}
    for name, (source, paradigm) in TWO_LAYER.items():
        estimator = METHODS[source][1]
        two[name] = [ledger.get("N16x2", name, tuned[source], s, lambda s=s: run_one(
            {"ports": 16, "layers": 2}, paradigm, estimator, tuned[source], s, 2 * args.budget))
            for s in range(1, args.seeds + 1)]
    fidelity = [fit_fidelity(p) for p in (None, "crosstalk:medium", "noise:medium", "combined:medium")]
    total = time.perf_counter() - t0
    if not args.quick:
        write_report(out, (tuned, results), (tuned_small, small), two, (noisy, fidelity), ledger, total, args)
        plot_curves(out / "baselines.png", results)
    print(f"done in {total / 60:.1f} min")


def fit_fidelity(preset: str | None, seed: int = 1, n_heaters: int = 32) -> dict:
    """How exact the three-point sinusoid is on a chip: prediction error at 12 other phases of one heater, and the
    measured local loss at the predicted 1-D optimum above the best of a 64-point measured scan (64 samples)."""
    from ffzero_photonics.data import load_dataset
    from ffzero_photonics.method.coordinate import THIRD, fit_sinusoids, minimize_along, sinusoid_values
    from ffzero_photonics.method.objectives import build_objectives
    from ffzero_photonics.photonic.chip import PhotonicChip
    from ffzero_photonics.photonic.nonideal_config import parse_preset

    data = load_dataset("digits", seed=seed, standardize=False)
    chip = PhotonicChip.for_data(data, seed=seed, ports=16, layers=1,
                                 **({"nonideal": parse_preset(preset)} if preset else {}))
    objective = build_objectives([chip.layer_info(0)], data.n_classes, seed=seed)[0]
    x, targets = data.X_train[:64], np.eye(data.n_classes)[data.y_train[:64]]
    theta = chip.get_params(0)
    rng = np.random.default_rng(seed)
    probe = np.linspace(0, 2 * np.pi, 12, endpoint=False) + 0.1
    scan = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    errors, excess, spread = [], [], []
    for j in rng.choice(theta.size, n_heaters, replace=False):
        points = theta[j] + np.array([0.0, THIRD, -THIRD])
        cand = np.repeat(theta[None], 15, axis=0)
        cand[:, j] = np.concatenate([points, probe])
        out = chip.query(x, 0, {0: cand})
        coef = fit_sinusoids(points[None], out[None, :3])
        measured = out[3:]
        errors.append(np.linalg.norm(sinusoid_values(coef, probe[None])[0] - measured) / np.linalg.norm(measured))
        score = lambda o: objective.losses(np, o, targets)  # noqa: E731
        best = minimize_along(coef, points[:1] - np.pi, points[:1] + np.pi, score, periodic=np.array([True]))[0]
        cand = np.repeat(theta[None], 65, axis=0)
        cand[:, j] = np.append(scan, best)
        losses = score(chip.query(x, 0, {0: cand}))
        excess.append(losses[64] - losses[:64].min())
        spread.append(losses[:64].max() - losses[:64].min())
    return {"preset": preset or "ideal", "error": float(np.median(errors)), "excess": float(np.median(excess)),
            "excess_max": float(np.max(excess)), "spread": float(np.median(spread))}


def tune_and_test(ledger, chip, budget, args, tag):
    """Every method's setting picked on seed 0's validation split at ``budget``, then run on seeds 1..S."""
    tuned: dict[str, dict] = {}
    results: dict[str, list[dict]] = {}
    for name, (paradigm, estimator, fixed, grid) in METHODS.items():
        grid = grid[:1] if args.quick else grid
        tuning = [(g, ledger.get("tune" + tag, name, {**fixed, **g}, 0, lambda g=g: run_one(
            chip, paradigm, estimator, {**fixed, **g}, 0, budget))) for g in grid]
        best = max(tuning, key=lambda t: float(t[1]["val"]))[0]
        tuned[name] = {**fixed, **best}
        results[name] = [ledger.get("N16x1" + tag, name, tuned[name], s, lambda s=s: run_one(
            chip, paradigm, estimator, tuned[name], s, budget)) for s in range(1, args.seeds + 1)]
    return tuned, results


def _acc(rows, key="test") -> str:
    values = 100 * np.array([float(r[key]) for r in rows])
    return f"{values.mean():.1f} ± {values.std():.1f}" if len(values) > 1 else f"{values[0]:.1f}"


def _setting(setting: dict) -> str:
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in setting.items())


def write_report(out, full, small, two, noisy, ledger, total, args) -> None:
    (tuned, results), (tuned_small, results_small), (noisy, fidelity) = full, small, noisy
    walls = sum(float(r["wall_s"]) for r in ledger.rows)
    lines = [
        "# Gradient-free baselines at equal chip queries (digits, ideal photonic chip)",
        "",
        f"Budgets: {args.budget:,} training sample queries (FFzero's default recipe) and a tenth of it, each ± one "
        "epoch's rounding. Every method's setting is tuned on the validation split of seed 0, separately per budget, "
        "over the grid in `benchmarks/baselines.py`; test accuracy on seeds "
        f"1..{args.seeds} (mean ± std). sep-CMA-ES is `cma`'s CMA_diagonal with its default population 4 + 3 ln d; "
        "eps is its initial spread as a perturbation norm (sigma0 = eps / sqrt(d)). SPSA is textbook SPSA (Spall's "
        "gains a_k, c_k; lr = a_0, eps = c_0 as a norm). Coordinate: K = 16 heaters a step, 2K + 1 settings in one call. "
        f"Total {walls / 60:.1f} min of one core; wall times were taken on a shared machine and compare only roughly.",
        "",
        "## 16-port one-layer chip (the local and the global loss coincide on one layer)",
        "",
        f"| method | test % at {args.budget // 10:,} queries | test % at {args.budget:,} queries | tuned setting "
        "(small budget) | tuned setting (full budget) | chip calls (full) | wall s / run (full) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rows in results.items():
        lines.append(f"| {name} | {_acc(results_small[name])} | {_acc(rows)} | {_setting(tuned_small[name])} | "
                     f"{_setting(tuned[name])} | {int(rows[0]['calls']):,} | "
                     f"{np.mean([float(r['wall_s']) for r in rows]):.0f} |")
    lines += ["", "## 16-port two-layer chip: local (layer by layer) against global objectives (seeds "
              f"1..{args.seeds}, the one-layer full-budget settings, twice the budget in total)", "",
              "| method | test accuracy % | sample queries | wall s / run |", "|---|---|---|---|"]
    for name, rows in two.items():
        lines.append(f"| {name} | {_acc(rows)} | {int(rows[0]['queries']):,} | "
                     f"{np.mean([float(r['wall_s']) for r in rows]):.0f} |")
    lines += ["", "## The coordinate estimator on a noisy fabricated chip (combined:medium: crosstalk, phase offsets, "
              "detector noise, drift, ...; the ideal chip's full-budget settings)", "",
              "| method | ideal chip | combined:medium | change |", "|---|---|---|---|"]
    for name, rows in noisy.items():
        ideal = 100 * np.mean([float(r["test"]) for r in results[name]])
        rough = 100 * np.mean([float(r["test"]) for r in rows])
        lines.append(f"| {name} | {_acc(results[name])} | {_acc(rows)} | {rough - ideal:+.1f} |")
    lines += ["", "Three-point sinusoid fit of one heater (32 random heaters, 64 samples, seed 1): median relative error of the "
              "predicted detector powers at 12 other phases, and the measured local loss at the predicted 1-D optimum "
              "minus the best of a 64-point measured scan (negative: better than the scan), beside the loss's range along "
              "the heater.", "",
              "| chip | prediction error (median) | loss excess (median) | loss excess (max) | loss range along a heater "
              "(median) |", "|---|---|---|---|---|"]
    for f in fidelity:
        lines.append(f"| {f['preset']} | {f['error']:.1e} | {f['excess']:+.1e} | {f['excess_max']:+.1e} | "
                     f"{f['spread']:.1e} |")
    lines += ["", "Validation accuracy against queries (full budget, mean over seeds): `baselines.png`; every run "
              "(tuning included, with its curve): `baselines.csv`."]
    (out / "baselines.md").write_text("\n".join(lines) + "\n")


def plot_curves(path: Path, results) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, rows in results.items():
        curves = [np.array(json.loads(r["curve"])) for r in rows]
        n = min(len(c) for c in curves)
        q = curves[0][:n, 0]
        ax.plot(q, np.mean([c[:n, 1] for c in curves], axis=0) * 100, label=name)
    ax.set_xlabel("training sample queries")
    ax.set_ylabel("validation accuracy %")
    ax.set_title("digits, ideal 16-port one-layer chip, equal query budgets")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)


if __name__ == "__main__":
    main()
