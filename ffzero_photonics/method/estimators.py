"""Directional-derivative gradient estimates from forward evaluations only.

Pure functions of a batched loss closure ``losses(candidates (M, d)) -> (M,)``:
every estimate is one call, so a remote system pays its latency once per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

SCHEMES = ("central", "forward")
DIRECTIONS = ("sphere", "gaussian")


@dataclass(frozen=True)
class Estimate:
    """A gradient estimate, the loss seen at the current point and the settings it cost."""

    grad: np.ndarray
    loss: float
    n_settings: int


def sample_directions(rng: np.random.Generator, n_dirs: int, dim: int, kind: str = "sphere") -> np.ndarray:
    """K directions: uniform on the unit sphere (paper) or Gaussian N(0, I/d).

    Both have E[u u^T] = I/d and E|u|^2 = 1, so eps is the same perturbation norm on average and the
    estimate is d * mean_k(delta_k u_k) for either.
    """
    u = rng.standard_normal((n_dirs, dim))
    if kind == "sphere":
        return u / np.linalg.norm(u, axis=1, keepdims=True)
    if kind == "gaussian":
        return u / np.sqrt(dim)
    raise ValueError(f"unknown direction distribution {kind!r}; choose one of {', '.join(DIRECTIONS)}")


def directional_gradient(
    losses: Callable[[np.ndarray], np.ndarray],
    theta: np.ndarray,
    rng: np.random.Generator,
    *,
    eps: float = 1e-3,
    n_dirs: int = 1,
    scheme: str = "central",
    directions: str = "sphere",
) -> Estimate:
    """g = d * mean_k(delta_k u_k), for sphere and (variance 1/d) Gaussian directions alike.

    central: delta = (L(theta + eps u) - L(theta - eps u)) / (2 eps), 2K settings;
    forward: delta = (L(theta + eps u) - L(theta)) / eps, K + 1 settings.
    """
    d = theta.size
    u = sample_directions(rng, n_dirs, d, directions)
    if scheme == "central":
        cand = np.concatenate([theta + eps * u, theta - eps * u])
        values = np.asarray(losses(cand), dtype=float)
        plus, minus = values[:n_dirs], values[n_dirs:]
        delta = (plus - minus) / (2 * eps)
        loss = float(np.mean(values))
    elif scheme == "forward":
        cand = np.concatenate([theta[None, :], theta + eps * u])
        values = np.asarray(losses(cand), dtype=float)
        delta = (values[1:] - values[0]) / eps
        loss = float(values[0])
    else:
        raise ValueError(f"unknown difference scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    grad = d * (delta @ u) / n_dirs
    return Estimate(grad=grad, loss=loss, n_settings=len(cand))
