"""Optimizers for the trainer: optax transformations behind a tiny numpy-facing stepper.

The stepper works in float64 (``jax.enable_x64`` around its jax calls) without touching the global jax flag.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "cosine")


def make_schedule(schedule: str, lr: float, total_steps: int = 1):
    """The learning rate: constant, or a cosine decay to 5 % over ``total_steps`` (an optax schedule of the step)."""
    if schedule == "constant":
        return lr
    if schedule == "cosine":
        return optax.cosine_decay_schedule(lr, max(int(total_steps), 1), alpha=0.05)
    raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")


def make_optimizer(name: str, lr: float, *, schedule: str = "constant", total_steps: int = 1) -> optax.GradientTransformation:
    """Plain SGD (the paper's default) or Adam, with a constant or cosine-decayed learning rate."""
    rate = make_schedule(schedule, lr, total_steps)
    if name == "sgd":
        return optax.sgd(rate)
    if name == "adam":
        return optax.adam(rate)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


class Stepper:
    """Applies an optax transformation to a numpy parameter vector, keeping its state."""

    def __init__(self, tx: optax.GradientTransformation, params: np.ndarray):
        self._tx = tx
        with jax.enable_x64(True):
            self.state = tx.init(jnp.asarray(params))

        @jax.jit
        def _step(grad, state, params):
            updates, state = tx.update(grad, state, params)
            return optax.apply_updates(params, updates), state

        self._step = _step

    def step(self, params: np.ndarray, grad: np.ndarray) -> np.ndarray:
        with jax.enable_x64(True):
            new, self.state = self._step(jnp.asarray(grad), self.state, jnp.asarray(params))
            return np.asarray(new)

    def state_leaves(self) -> list[np.ndarray]:
        return [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(self.state)]

    def load_state_leaves(self, leaves: list[np.ndarray]) -> None:
        treedef = jax.tree_util.tree_structure(self.state)
        with jax.enable_x64(True):
            self.state = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(v) for v in leaves])
