"""Default training recipes per paradigm and model: what `ffzero train` and `ffzero sweep` start from.

The values are the tuned ones of benchmarks/paradigms.py (lr picked on validation). Small batches give
forward-only training many more steps per chip query. The paper's recipe is batch 256, plain SGD,
constant lr 1e-3, 100 epochs; its loss sums over the batch, so its lr 1e-3 is our lr ~0.26.
"""

from __future__ import annotations

from typing import Any

_COMMON = {"batch_size": 16, "optimizer": "adam", "schedule": "cosine"}

TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "ffzero": {**_COMMON, "epochs": 300, "lr": 3e-3},  # epochs per layer
    "bp-dd": {**_COMMON, "epochs": 1200, "lr": 3e-4},  # in total: FFzero's query budget on a 4-layer MLP
    "ff-ad": {**_COMMON, "epochs": 50, "lr": 1e-2},
    "bp-ad": {**_COMMON, "epochs": 200, "lr": 3e-3},
}

# Heater phases: a perturbation of norm 0.3 moves each of ~10^2-10^3 heaters by 0.01-0.03 rad, above DAC
# steps and detector noise; on ideal chips it trains exactly as well as 1e-3 (docs/robustness/).
MODEL_TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {"photonic": {"eps": 0.3}}


def default_train(paradigm: str, model: str) -> dict[str, Any]:
    """The recipe a run of ``paradigm`` on ``model`` starts from (explicit settings override it)."""
    return {**TRAIN_DEFAULTS.get(paradigm, {}), **MODEL_TRAIN_DEFAULTS.get(model, {})}
