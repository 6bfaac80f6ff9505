"""Figures every run writes: learning curves, confusion matrix, regression scatter (chip views: ``chip_views``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import EngFormatter, MaxNLocator  # noqa: E402


def learning_curves(history: Sequence[dict[str, Any]], path: str | Path) -> None:
    """Write :func:`learning_curves_figure` to ``path``."""
    _save(learning_curves_figure(history), path)


def learning_curves_figure(history: Sequence[dict[str, Any]]):
    """Loss and train/val score against training queries (top axis: epochs over all stages), one colour per layer/stage."""
    fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(11, 4.4))
    stages = sorted({r["stage"] for r in history})
    for s in stages:
        rows = [r for r in history if r["stage"] == s]
        q = [r["train_sample_queries"] for r in rows]
        label = f"layer {rows[0]['layer']}" if len(stages) > 1 else "all layers"
        ax_loss.plot(q, [r["loss"] for r in rows], label=label)
        line = ax_score.plot(q, [r["val_score"] for r in rows], label=f"{label} val")[0]
        ax_score.plot(q, [r["train_score"] for r in rows], ls=":", color=line.get_color())
        if "val_vote" in rows[0]:
            ax_score.plot(q, [r["val_vote"] for r in rows], ls="--", color=line.get_color(), alpha=0.6)
        if s != stages[0] and q:
            for ax in (ax_loss, ax_score):
                ax.axvline(q[0], color="0.6", lw=0.8, ls=(0, (2, 3)))
    metric = history[0].get("metric", "score") if history else "score"
    ax_loss.set(xlabel="training sample queries", ylabel="local loss", title="loss")
    ax_score.set(xlabel="training sample queries", ylabel=metric, title=f"{metric} (solid val, dotted train, dashed vote)")
    queries = np.array([r["train_sample_queries"] for r in history], dtype=float)
    for ax in (ax_loss, ax_score):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        if len(queries) > 1 and np.all(np.diff(queries) > 0):
            _epoch_axis(ax, queries)
    fig.tight_layout()
    return fig


def _epoch_axis(ax, queries: np.ndarray) -> None:
    """A top axis counting epochs over all stages (stage after stage), mapped from the query axis."""
    epochs = np.arange(1, len(queries) + 1, dtype=float)
    top = ax.secondary_xaxis("top", functions=(lambda q: np.interp(q, queries, epochs),
                                               lambda e: np.interp(e, epochs, queries)))
    top.xaxis.set_major_locator(MaxNLocator(6, integer=True))
    top.set_xlabel("epoch (all stages)", fontsize=8)
    top.tick_params(labelsize=8)


def confusion_matrix_plot(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, path: str | Path) -> np.ndarray:
    """Confusion matrix (rows true, columns predicted); returns the counts."""
    counts = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(counts, (np.asarray(y_true), np.asarray(y_pred)), 1)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    im = ax.imshow(counts, cmap="Blues")
    for i in range(n_classes):
        for j in range(n_classes):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if counts[i, j] > counts.max() / 2 else "black")
    ax.set(xlabel="predicted", ylabel="true", title=f"test accuracy {np.trace(counts) / counts.sum():.3f}")
    fig.colorbar(im, ax=ax, fraction=0.046)
    _save(fig, path)
    return counts


def prediction_scatter(y_true: np.ndarray, y_pred: np.ndarray, path: str | Path, r2: float) -> None:
    """Predicted vs true regression targets."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(y_true, y_pred, s=6, alpha=0.6)
    lo, hi = float(np.min(y_true)), float(np.max(y_true))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set(xlabel="true", ylabel="predicted", title=f"test R² = {r2:.3f}")
    _save(fig, path)


def _save(fig, path: str | Path) -> None:
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
