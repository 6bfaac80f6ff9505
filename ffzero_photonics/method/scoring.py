"""Scores of predictions: the layers' majority vote and the coefficient of determination."""

from __future__ import annotations

import numpy as np


def vote_predictions(scores: np.ndarray) -> np.ndarray:
    """Majority vote of per-layer argmax (L, n, C); ties go to the larger summed cosine."""
    votes = np.zeros(scores.shape[1:])
    for layer_scores in scores:
        votes[np.arange(scores.shape[1]), np.argmax(layer_scores, axis=1)] += 1.0
    return np.argmax(votes + 1e-3 * np.tanh(scores.sum(axis=0)), axis=1)


def r2_score(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination."""
    y = np.asarray(y, dtype=float)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - pred) ** 2)) / max(ss_tot, 1e-300)
