"""The compiled DD engine: a run of DD steps (candidates, measurement, local loss, estimate, optax update) as one jax program.

It applies to a model that declares a jax-traceable measurement (``compiled_query``, see
:class:`~ffzero_photonics.blackbox.CompiledMeasurement`). The trainer draws the random directions with its
numpy rng and passes them in, and everything runs in float64 under ``jax.enable_x64`` (the global flag is left
alone), so the numbers match the numpy path's within float tolerance. A run of S steps is one ``lax.scan``:
Python is entered once per run, not once per step. The query cost is recorded by the trainer, step by step.

When one layer is trained after committed ones, and the model says its committed layers compute the same for the same
input (``compiled_stage``: an ideal chip, a digital net), what enters the trained layer is computed once per stage for
the whole data set and each step runs the trained layer alone: the same numbers, the same queries counted.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..errors import UserInputError
from .domains import FlatDomain
from .objectives import LayerObjective

BACKENDS = ("numpy", "jax")


class PartialRun(Exception):
    """A compiled run the system stopped at a refused setting: theta after the ``steps`` steps whose queries ran and
    after the one before, and the optimizer state (the system's error is the cause), for the trainer to commit both as
    the numpy path did, step by step."""

    def __init__(self, theta_before: np.ndarray, theta: np.ndarray, state: Any, steps: int):
        super().__init__(f"stopped after {steps} steps")
        self.theta_before, self.theta, self.state, self.steps = theta_before, theta, state, steps


def has_compiled_measurement(model: Any) -> bool:
    """True when ``model.compiled_query`` traces every layer's measurement (a digital net, a simulated chip).

    A model may declare the member and still refuse it for one instance by raising ``NotImplementedError`` when
    traced; this probe traces abstractly, without running anything.
    """
    measure = getattr(model, "compiled_query", None)
    if not callable(measure):
        return False
    last = model.n_layers - 1
    with jax.enable_x64(True):
        params = [jax.ShapeDtypeStruct((2, model.layer_info(l).n_params), jnp.float64) for l in range(last + 1)]
        x = jax.ShapeDtypeStruct((1, model.n_inputs), jnp.float64)
        try:
            jax.eval_shape(lambda p, xb: measure(p, xb, last), params, x)
        except NotImplementedError:
            return False
    return True


def require_compiled_measurement(model: Any) -> None:
    """Refuse ``backend="jax"`` for a model without a compiled measurement, naming the model and the way out."""
    if not has_compiled_measurement(model):
        raise UserInputError(
            f"backend 'jax' needs a model with a jax-traceable measurement (compiled_query); "
            f"{type(model).__name__} has none here (a remote system, or one without a jax model): use backend 'numpy'"
        )


class CompiledDD:
    """S directional-derivative steps of one training stage as one jitted ``lax.scan`` in float64.

    ``committed`` (every layer's committed parameters) fixes the layers that are not trained; ``trainable``
    layers are the flat vector ``theta`` (their parameters concatenated, in order), updated with ``tx``.
    """

    def __init__(
        self,
        model: Any,
        objective: LayerObjective,
        trainable: Sequence[int],
        readout: int,
        tx: optax.GradientTransformation,
        *,
        eps: float,
        n_dirs: int,
        scheme: str,
    ):
        if scheme not in ("central", "forward"):
            raise ValueError(f"unknown difference scheme {scheme!r}; choose one of central, forward")
        self.trainable = [int(l) for l in trainable]
        self.readout = int(readout)
        infos = [model.layer_info(l) for l in self.trainable]
        sizes = [info.n_params for info in infos]
        self.offsets = np.cumsum([0] + sizes)
        self.dim = int(self.offsets[-1])
        self.n_settings = 2 * n_dirs if scheme == "central" else n_dirs + 1
        domain = FlatDomain.from_infos(infos)
        self._low, self._high = (domain.low, domain.high) if domain.bounded.any() else (None, None)
        self._period = domain.period if domain.periodic.any() else None
        measure, eps, scale = model.compiled_query, float(eps), self.dim
        self._lab = getattr(model, "lab_draws", None)
        split = getattr(model, "compiled_stage", None)
        split = split(self.readout) if callable(split) and self.trainable == [self.readout] and self.readout > 0 else None
        self._stage_input = None if split is None else jax.jit(split[0])
        self._stage_key, self._stage_inputs = None, None
        power = getattr(model, "compiled_setting_power", None)
        self._power = power() if callable(power) else None

        def settings(cand, committed):
            params = list(committed)
            for i, l in enumerate(self.trainable):
                params[l] = cand[:, self.offsets[i] : self.offsets[i + 1]]
            return params

        def losses(params, xb, tb, lab):
            if split is not None:  # xb: what enters the trained layer
                out = split[1](params[self.readout], xb)
            else:
                out = measure(params, xb, self.readout) if self._lab is None else measure(params, xb, self.readout, lab)
            return objective.losses(jnp, out, tb)

        def step(carry, batch, committed):
            theta, state = carry
            xb, tb, u, lab = batch
            if scheme == "central":
                params = settings(self._project(jnp.concatenate([theta + eps * u, theta - eps * u])), committed)
                values = losses(params, xb, tb, lab)
                delta = (values[:n_dirs] - values[n_dirs:]) / (2 * eps)
                loss = jnp.mean(values)
            else:
                params = settings(self._project(jnp.concatenate([theta[None, :], theta + eps * u])), committed)
                values = losses(params, xb, tb, lab)
                delta = (values[1:] - values[0]) / eps
                loss = values[0]
            grad = scale * (delta @ u) / n_dirs
            updates, state = tx.update(grad, state, theta)
            theta = self._wrap(self._project(optax.apply_updates(theta, updates)))
            if self._power is None:
                spent = (jnp.zeros(self.n_settings), jnp.zeros(()))
            else:
                committed_W = self._power.power_W(settings(theta[None, :], committed))[0] if self._power.refuses \
                    else jnp.zeros(())
                spent = (self._power.power_W(params), committed_W)
            return (theta, state), (loss, spent)

        def run(theta, state, committed, xs, ts, us, labs):
            (theta, state), (loss, spent) = jax.lax.scan(lambda c, b: step(c, b, committed), (theta, state),
                                                         (xs, ts, us, labs))
            return theta, state, loss, spent

        self._run = jax.jit(run)

    def _project(self, flat):
        """Candidates and updates clipped into interval domains (as the numpy path's ``project``)."""
        return flat if self._low is None else jnp.clip(flat, self._low, self._high)

    def _wrap(self, flat):
        """Committed phases wrapped into [0, period) (as ``set_params`` does)."""
        if self._period is None:
            return flat
        periodic = np.isfinite(self._period)
        return jnp.where(periodic, jnp.mod(flat, np.where(periodic, self._period, 1.0)), flat)

    def run(
        self, theta: np.ndarray, state: Any, committed: Sequence[np.ndarray],
        X: np.ndarray, idx: np.ndarray, ts: np.ndarray, us: np.ndarray,
    ) -> tuple[np.ndarray, Any, np.ndarray]:
        """S steps from ``theta`` and optimizer ``state`` on the batches X[idx] (idx (S, B) rows of the data X):
        targets ts (S, B, ...), directions us (S, K, d). Returns the new theta, the new optimizer state and the S
        step losses.

        A system with lab state draws the S calls' noise and drift first (its state moves on by S calls); the S steps'
        query and committed setting powers go to the system after the run, which meters the queries' energy and refuses
        a setting above its limit as the numpy path would: then :class:`PartialRun` carries the state after the steps
        whose queries ran (the system's error its cause).
        """
        idx = np.asarray(idx)
        with jax.enable_x64(True):
            if self._stage_input is not None:
                xs, labs = jnp.take(self._inputs(committed, X), jnp.asarray(idx), axis=0), None
            else:
                xs = np.asarray(X)[idx]
                labs = None if self._lab is None else self._lab(xs, self.n_settings, self.readout)
                xs = jnp.asarray(xs, dtype=jnp.float64)
            start = (jnp.asarray(theta, dtype=jnp.float64), state, [jnp.asarray(p, dtype=jnp.float64) for p in committed])
            theta, state, loss, spent = self._run(
                *start, xs, jnp.asarray(ts, dtype=jnp.float64), jnp.asarray(us, dtype=jnp.float64),
                jax.tree_util.tree_map(jnp.asarray, labs),
            )
            if self._power is not None:
                try:
                    self._power.after_run(np.asarray(spent[0]), np.asarray(spent[1]), idx.shape[1])
                except Exception as err:
                    steps = getattr(err, "steps_run", None)
                    if steps is None:
                        raise
                    raise PartialRun(*self._first_steps(steps, start, xs, ts, us, labs)) from err
            return np.asarray(theta), state, np.asarray(loss)

    def _first_steps(self, steps: int, start: tuple, xs: Any, ts: Any, us: Any, labs: Any) -> tuple:
        """(theta after steps - 1 steps, theta and optimizer state after ``steps``, steps) of a run again, on its draws."""
        theta, state, committed = start
        batches = (xs, jnp.asarray(ts, dtype=jnp.float64), jnp.asarray(us, dtype=jnp.float64),
                   jax.tree_util.tree_map(jnp.asarray, labs))
        before = theta
        for lo, hi in ((0, steps - 1), (steps - 1, steps)):
            if hi > lo:
                before = theta
                theta, state, _, _ = self._run(theta, state, committed,
                                               *jax.tree_util.tree_map(lambda v: v[lo:hi], batches))
        return np.asarray(before), np.asarray(theta), state, steps

    def _inputs(self, committed: Sequence[np.ndarray], X: np.ndarray) -> Any:
        """What enters the trained layer for every row of X, computed once for these committed layers and this data
        array (the same object, not changed in place: the trainer's training split)."""
        fixed = [np.array(p, dtype=np.float64) for p in committed[: self.readout]]
        known = self._stage_key
        if known is None or known[0] is not X or not all(np.array_equal(a, b) for a, b in zip(known[1], fixed)):
            self._stage_inputs = self._stage_input([jnp.asarray(p) for p in fixed], jnp.asarray(X, dtype=jnp.float64))
            self._stage_key = (X, fixed)
        return self._stage_inputs
