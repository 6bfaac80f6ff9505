"""The robustness study's figures: accuracy vs severity, queries, energy, yield, wavelength; ablation bars."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure  # no pyplot: the user's backend and open figures stay untouched

from ...photonic.nonideal_config import DESIGN_WAVELENGTH_UM
from .plan import GRID_METHODS, StudyPlan, method_labels


def _finish(fig, path: Path, ax=None, legend_size: int | None = None) -> None:
    """Grid and legend on ``ax`` (if given), then write the figure and free it."""
    if ax is not None:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=legend_size)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_severity(path: Path, plan: StudyPlan, summ: dict, ideal: dict) -> None:
    """One panel per effect: test accuracy of each grid method from ideal to the highest severity."""
    n = len(plan.effects)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
    colors = dict(zip(GRID_METHODS, ("C0", "C1", "C3")))
    for ax, effect in zip(axes.flat, plan.effects):
        levels = plan.levels_of(effect)
        xs = np.arange(len(levels) + 1)
        labels = ["ideal", *levels]
        for k, method in enumerate(plan.methods):
            color = colors[method]
            vals = [ideal[method]] + [summ.get((effect, lv, method), (np.nan,) * 3) for lv in levels]
            ax.errorbar(xs + 0.06 * (k - 1), [100 * v[0] for v in vals], yerr=[100 * v[1] for v in vals], marker="o",
                        ms=3, capsize=2, color=color, label=method_labels(plan)[method])
        ax.set_title(effect, fontsize=10)
        ax.set_xticks(xs, labels, fontsize=8)
        ax.axhline(10, color="grey", lw=0.5, ls=":")
        ax.set_ylim(0, 100)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for r in range(rows):
        axes[r, 0].set_ylabel("test accuracy (%)")
    axes[0, 0].legend(fontsize=6, loc="lower left")
    _finish(fig, path)


def plot_curves(path: Path, curves: list[dict], key: str, xlabel: str) -> None:
    """Validation accuracy of the recorded runs against ``key`` (queries or energy), log x axis."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    runs = []
    for c in curves:
        if c["run"] not in runs:
            runs.append(c["run"])
    colors = matplotlib.colormaps["tab20"]
    for k, run in enumerate(runs):
        pts = [(c[key], c["val_accuracy"]) for c in curves if c["run"] == run and c[key] > 0]
        if pts:
            x, y = zip(*pts)
            ax.plot(x, 100 * np.array(y), label=run, lw=1.2, color=colors(k % 20), ls="-" if k < 10 else "--")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation accuracy (%)")
    _finish(fig, path, ax, legend_size=7)


def plot_yield(path: Path, rows: list[dict]) -> None:
    """Share of fabricated instances reaching each accuracy threshold, one line per set of phases."""
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    for m in sorted({r["method"] for r in rows}):
        pts = [(r["accuracy_threshold"], r["yield"]) for r in rows if r["method"] == m]
        x, y = zip(*pts)
        ax.plot(100 * np.array(x), 100 * np.array(y), label=m)
    ax.set_xlabel("accuracy threshold x (%)")
    ax.set_ylabel("instances with accuracy ≥ x (%)")
    _finish(fig, path, ax, legend_size=8)


def plot_wavelength(path: Path, rows: list[dict]) -> None:
    """Test accuracy against operating wavelength for phases set at the design wavelength."""
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    keys = []
    for r in rows:
        if (r["chip"], r["method"]) not in keys:
            keys.append((r["chip"], r["method"]))
    for c, m in keys:
        pts = sorted((r["wavelength_um"], r["test_accuracy"]) for r in rows if r["chip"] == c and r["method"] == m)
        x, y = zip(*pts)
        ax.plot(1000 * np.array(x), 100 * np.array(y), marker="o", ms=3, label=f"{c}: {m}")
    ax.axvline(1000 * DESIGN_WAVELENGTH_UM, color="grey", lw=0.5)
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel("test accuracy (%)")
    _finish(fig, path, ax, legend_size=7)


def plot_ablations(path: Path, s: dict) -> None:
    """Horizontal bars of the ablation variants' accuracy, one panel per model."""
    models = sorted({k[0] for k in s})
    fig = Figure(figsize=(5 * len(models), 3.6))
    axes = fig.subplots(1, len(models), squeeze=False)
    for ax, model in zip(axes[0], models):
        items = [(k[1], v) for k, v in s.items() if k[0] == model]
        names = [n for n, _ in items]
        ax.barh(names, [100 * v[0] for _, v in items], xerr=[100 * v[1] for _, v in items], color="C2", capsize=2)
        ax.set_title(f"FFzero ablations: {model}", fontsize=10)
        ax.set_xlabel("test accuracy (%)")
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=8)
    _finish(fig, path)


def plot_laser(path: Path, plan: StudyPlan, points: list) -> None:
    """Test accuracy against the laser power at the fibre (log mW); ``points`` from ``report.laser_points``."""
    mW = np.array([p[0] for p in points])
    fig = Figure(figsize=(5, 3.6))
    ax = fig.subplots()
    colors = dict(zip(GRID_METHODS, ("C0", "C1", "C3")))
    for method in plan.methods:
        mean, std = (np.array([100 * p[2][method][i] for p in points]) for i in (0, 1))
        ax.errorbar(mW, mean, yerr=std, marker="o", ms=4, capsize=2, color=colors[method],
                    label=method_labels(plan)[method])
    ax.set_xscale("log")
    ax.set_xlabel("laser power at the fibre (mW)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.axhline(10, color="grey", lw=0.5, ls=":")
    _finish(fig, path, ax, legend_size=7)
