"""Exact gradients of a layer objective through a differentiable twin, for the autodiff baselines (FF+AD, BP+AD)."""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp

from .objectives import LayerObjective


def autodiff_grad(twin_forward: Callable, objective: LayerObjective, trainable: Sequence[int], readout: int,
                  offsets: Sequence[int]) -> Callable:
    """jit(value_and_grad) of the readout layer's loss through ``twin_forward(params, x)`` w.r.t. the trainable layers' flat parameters.

    The returned function takes (theta, twin params, x batch, target batch) and returns (loss, grad).
    """

    def loss_fn(theta, params, xb, tb):
        params = list(params)
        for i, l in enumerate(trainable):
            params[l] = theta[offsets[i] : offsets[i + 1]]
        out = twin_forward(params, xb)[readout]
        return objective.losses(jnp, out[None], tb)[0]

    return jax.jit(jax.value_and_grad(loss_fn))
