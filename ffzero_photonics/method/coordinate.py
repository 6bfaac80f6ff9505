"""The physics-aware coordinate estimator: every detector power is a sinusoid of any single heater phase.

On an ideal mesh a heater adds e^{i phi} to one arm, so each detector of the layer it sits in reads
A + B cos(phi) + C sin(phi). Three settings of one heater give A, B, C for every sample and detector, hence the
layer's local loss along that heater exactly; its 1-D minimum is then found without further queries (a grid,
then safeguarded Newton steps on the loss's finite-difference slope and curvature). A step measures a random block of K heaters in one call of 2K + 1 settings
(the current setting is shared) and moves each a fraction ``lr`` of the way to its own minimum. On a chip with
crosstalk, drift or detector noise the sinusoid is an approximation.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .domains import FlatDomain

THIRD = 2 * np.pi / 3
GRID = 32  # grid points per heater before refining
NEWTON_STEPS = 8
SLOPE_STEP = 1e-5  # rad, central differences of the reconstructed loss (no query)


def fit_sinusoids(phases: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Exact A, B, C of A + B cos(phi) + C sin(phi) through three points per heater.

    ``phases`` (K, 3) distinct modulo 2 pi, ``values`` (K, 3, ...) -> coefficients (K, 3, ...).
    """
    phases = np.asarray(phases, dtype=float)
    values = np.asarray(values, dtype=float)
    design = np.stack([np.ones_like(phases), np.cos(phases), np.sin(phases)], axis=-1)  # (K, 3, 3)
    flat = values.reshape(values.shape[0], 3, -1)
    return np.linalg.solve(design, flat).reshape(values.shape)


def sinusoid_values(coef: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """A + B cos + C sin at phases (K, M) for coefficients (K, 3, ...) -> (K, M, ...)."""
    extra = (1,) * (coef.ndim - 2)
    cos = np.cos(phases).reshape(phases.shape + extra)
    sin = np.sin(phases).reshape(phases.shape + extra)
    return coef[:, None, 0] + coef[:, None, 1] * cos + coef[:, None, 2] * sin


def minimize_along(coef: np.ndarray, low: np.ndarray, high: np.ndarray, score: Callable[[np.ndarray], np.ndarray],
                   *, periodic: np.ndarray, grid: int = GRID) -> np.ndarray:
    """Each heater's phase in [low, high] (a full period where ``periodic``) minimizing ``score`` of its sinusoids.

    ``score`` maps outputs (M, B, ...) to losses (M,). A grid locates the basin; Newton steps on the central-difference
    slope and curvature of the reconstructed loss, kept inside a shrinking bracket (else bisecting it), refine it to
    ~1e-10 rad. A minimum on a bound stays on the bound.
    """
    k = coef.shape[0]
    steps = np.arange(grid) / np.where(periodic, grid, grid - 1)[:, None]
    points = low[:, None] + (high - low)[:, None] * steps  # (K, G)

    def loss(phases: np.ndarray) -> np.ndarray:
        out = sinusoid_values(coef, phases)
        return np.asarray(score(out.reshape((-1,) + out.shape[2:])), dtype=float).reshape(phases.shape)

    best = np.argmin(loss(points), axis=1)
    spacing = (high - low) / np.where(periodic, grid, grid - 1)
    centre = points[np.arange(k), best]
    a = np.where(periodic, centre - spacing, np.maximum(centre - spacing, low))
    b = np.where(periodic, centre + spacing, np.minimum(centre + spacing, high))

    def slope_curvature(phases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        l = loss(phases[:, None] + SLOPE_STEP * np.array([-1.0, 0.0, 1.0]))
        return (l[:, 2] - l[:, 0]) / (2 * SLOPE_STEP), (l[:, 2] - 2 * l[:, 1] + l[:, 0]) / SLOPE_STEP**2

    interior = (slope_curvature(a)[0] < 0) & (slope_curvature(b)[0] > 0)
    x = centre
    for _ in range(NEWTON_STEPS):
        g, h = slope_curvature(x)
        a, b = np.where(g < 0, x, a), np.where(g < 0, b, x)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = x - g / h
        x = np.where((h > 0) & (newton > a) & (newton < b), newton, 0.5 * (a + b))
    refined = np.where(interior, x, centre)
    pair = loss(np.stack([refined, centre], axis=1))
    return np.where(pair[:, 0] <= pair[:, 1], refined, centre)


def third_points(theta: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Two more settings per heater, a third of a turn either side of ``theta`` (K,): (K, 2), inside [low, high].

    A point outside the range moves by a whole turn when that lands inside (the same reading on an ideal chip),
    else it is reflected off the bound (still distinct, so the fit stays exact).
    """
    out = np.stack([theta + THIRD, theta - THIRD], axis=1)
    lo, hi = low[:, None], high[:, None]
    turned = np.where(out > hi, out - 2 * np.pi, np.where(out < lo, out + 2 * np.pi, out))
    out = np.where((turned >= lo) & (turned <= hi), turned, out)
    return np.clip(np.where(out > hi, 2 * hi - out, np.where(out < lo, 2 * lo - out, out)), lo, hi)


class CoordinateSearch:
    """K random heaters per step, 2K + 1 settings in one call, each moved ``lr_k`` of the way to its 1-D minimum."""

    def __init__(self, domain: FlatDomain, rng: np.random.Generator, *, n_coords: int, rate):
        self.domain, self.rng, self.rate, self.k = domain, rng, rate, 0
        self.n_coords = min(int(n_coords), domain.dim)
        self.scale = domain.phase_scale()  # rad per unit

    def step(self, theta: np.ndarray, measure: Callable, score: Callable) -> tuple[np.ndarray, float]:
        dom, k = self.domain, self.n_coords
        idx = self.rng.choice(dom.dim, size=k, replace=False)
        scale = self.scale[idx]
        periodic = dom.periodic[idx]
        here = theta[idx] * scale
        low = np.where(periodic, here - np.pi, dom.low[idx] * scale)
        high = np.where(periodic, here + np.pi, dom.high[idx] * scale)
        others = third_points(here, low, high)  # (K, 2) in rad
        cand = np.repeat(theta[None, :], 2 * k + 1, axis=0)
        cand[1 + np.arange(k), idx] = others[:, 0] / scale
        cand[1 + k + np.arange(k), idx] = others[:, 1] / scale
        out = np.asarray(measure(cand), dtype=float)
        centre = np.broadcast_to(out[:1], (k,) + out.shape[1:])
        values = np.stack([centre, out[1 : k + 1], out[k + 1 :]], axis=1)  # (K, 3, B, ...)
        coef = fit_sinusoids(np.column_stack([here, others]), values)
        target = minimize_along(coef, low, high, score, periodic=periodic) / scale
        rate = float(self.rate(self.k) if callable(self.rate) else self.rate)
        new = np.array(theta, dtype=float)
        new[idx] += rate * dom.difference(target, theta[idx], idx)
        self.k += 1
        return dom.wrap(new), float(score(out[:1])[0])

    def state_leaves(self) -> list[np.ndarray]:
        return [np.array([self.k])]

    def load_state_leaves(self, leaves: list[np.ndarray]) -> None:
        self.k = int(leaves[0][0])
