"""Figures a run writes: learning curves, confusion matrix, regression scatter, heater maps."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def learning_curves(history: Sequence[dict[str, Any]], path: str | Path) -> None:
    """Loss and train/val score per epoch against training queries, one colour per layer/stage."""
    fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(11, 4))
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
    metric = history[0].get("metric", "score") if history else "score"
    ax_loss.set(xlabel="training sample queries", ylabel="local loss", title="loss")
    ax_score.set(xlabel="training sample queries", ylabel=metric, title=f"{metric} (solid val, dotted train, dashed vote)")
    for ax in (ax_loss, ax_score):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _save(fig, path)


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


def heater_phase_map(layer_grids: Sequence[np.ndarray], path: str | Path) -> None:
    """Heater phases of each mesh as an image (rows = ports, columns = mesh columns)."""
    fig, axes = plt.subplots(1, len(layer_grids), figsize=(4 * len(layer_grids), 3.6), squeeze=False)
    for l, (ax, grid) in enumerate(zip(axes[0], layer_grids)):
        im = ax.imshow(grid, cmap="twilight", vmin=0, vmax=2 * np.pi, aspect="auto", interpolation="nearest")
        ax.set(title=f"layer {l}", xlabel="heater column (theta, phi per MZI column; last: screen)", ylabel="port")
    fig.colorbar(im, ax=axes[0].tolist(), label="phase (rad)")
    _save(fig, path)


def _save(fig, path: str | Path) -> None:
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
