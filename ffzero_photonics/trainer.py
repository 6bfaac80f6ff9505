"""One trainer, four paradigms: FFzero (local + DD), BP+DD, FF+AD, BP+AD.

The trainer talks to a system only through :class:`LayeredBlackBox` (and, for
the autodiff baselines, :class:`DifferentiableTwin`); it never imports a
concrete model. Local paradigms train layer by layer, greedily; global ones
train all layers against the last layer's prototypes. How a run is set (the
paradigms, their defaults, :class:`TrainConfig`) lives in :mod:`.train_config`.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import jax
import numpy as np

from .blackbox import INTERVAL, DifferentiableTwin, LayeredBlackBox, QueryCounter, project_params
from .errors import UserInputError
from .method.autodiff import autodiff_grad
from .method.engine_jax import CompiledDD, PartialRun, require_compiled_measurement
from .method.estimators import directional_gradient, sample_directions
from .method.objectives import LayerObjective, build_objectives
from .method.optim import Stepper, make_optimizer
from .method.search import make_search
from .method.scoring import r2_score, vote_predictions
from .registry import recipe_for
from .train_config import (  # noqa: F401  (the public names stay importable from here)
    AUTODIFF, LOCAL, PARADIGM_DEFAULTS, PARADIGMS, RECIPE_FIELDS, TWINS, TrainConfig, default_train,
)

MAX_COMPILED_STEPS = 256  # steps per compiled call: bounds the batches copied to the device at once


class Trainer:
    """Trains a layered black box with one of the four paradigms; resumable epoch by epoch.

    Recipe fields not given resolve in :meth:`fit` from the model's recipe and the paradigm's defaults.
    """

    def __init__(self, config: TrainConfig | None = None, **overrides: Any):
        base = config.to_dict() if config is not None else {}
        self.config = TrainConfig.from_dict({**base, **overrides})
        self.history: list[dict[str, Any]] = []
        self.train_cost = QueryCounter()
        self.objectives: list[LayerObjective] = []
        self._rng = np.random.default_rng(self.config.seed)
        self._position = (0, 0)  # (stage, epoch) of the next epoch to run
        self._opt_leaves: list[np.ndarray] | None = None
        self._elapsed = 0.0
        self._n_stages: int | None = None
        self._partial: tuple[np.ndarray, int, list[float]] | None = None  # (perm, next batch, losses) mid-epoch
        self._val_cache: dict[int, np.ndarray] = {}  # validation scores of finished layers, for the local vote

    # ---------- public verbs ----------
    def fit(self, model: LayeredBlackBox, data: Any, *, progress: bool = False,
            on_epoch: Callable[["Trainer"], None] | None = None,
            on_step: Callable[["Trainer"], None] | None = None) -> list[dict[str, Any]]:
        """Train ``model`` on ``data`` (train/val splits); returns the per-epoch history.

        ``on_epoch`` runs after every epoch (the CLI saves its checkpoint there), ``on_step``
        every ``config.checkpoint_every`` steps inside an epoch (0: never);
        calling ``fit`` again on a trainer restored with :meth:`load_state`
        continues where it stopped.
        """
        if not isinstance(model, LayeredBlackBox):
            raise TypeError(f"{type(model).__name__} does not implement the LayeredBlackBox protocol")
        self.config = cfg = self.config.resolved(recipe_for(model))
        if AUTODIFF[cfg.paradigm] and not isinstance(model, DifferentiableTwin):
            raise UserInputError(f"paradigm {cfg.paradigm!r} needs a differentiable twin; {type(model).__name__} has none")
        if cfg.twin == "calibrated" and not callable(getattr(model, "calibrated_twin_forward", None)):
            raise UserInputError(f"twin 'calibrated' needs a simulated photonic chip, got {type(model).__name__}")
        if cfg.backend == "jax" and not AUTODIFF[cfg.paradigm]:
            require_compiled_measurement(model)
        if data.X_train.shape[1] != model.n_inputs:
            raise UserInputError(f"the model takes {model.n_inputs} inputs but the data has {data.X_train.shape[1]} features")
        self.bind(model, data.n_classes)
        stages = list(range(model.n_layers)) if LOCAL[cfg.paradigm] else [None]
        self._n_stages = len(stages)
        n_train = len(data.X_train)
        bs = min(cfg.batch_size, n_train)
        n_batches = n_train // bs
        targets = self._targets(data, data.y_train)
        epochs = cfg.stage_epochs(len(stages))
        start_stage, start_epoch = self._position
        bar = _progress(sum(epochs) * n_batches, (sum(epochs[:start_stage]) + start_epoch) * n_batches, progress)
        t0 = time.perf_counter() - self._elapsed
        try:
            for s in range(start_stage, len(stages)):
                trainable = [stages[s]] if stages[s] is not None else list(range(model.n_layers))
                readout = trainable[-1]
                step = self._make_step(model, trainable, readout, epochs[s] * n_batches)
                if s == start_stage and self._opt_leaves is not None:
                    step.stepper.load_state_leaves(self._opt_leaves)
                first_epoch = start_epoch if s == start_stage else 0
                for epoch in range(first_epoch, epochs[s]):
                    if self._partial is not None:  # resuming inside this epoch
                        perm, first_batch, losses = self._partial
                        self._partial = None
                    else:
                        perm, first_batch, losses = self._rng.permutation(n_train), 0, []
                    if step.engine is not None:
                        self._compiled_batches(step, model, data.X_train, targets, perm, (first_batch, n_batches, bs),
                                               losses, bar, on_step, t0)
                    else:
                        for b in range(first_batch, n_batches):
                            idx = perm[b * bs : (b + 1) * bs]
                            before = model.counter.snapshot()
                            try:
                                losses.append(step(data.X_train[idx], targets[idx]))
                            finally:  # a step whose commit is refused still ran its queries
                                self._add_cost(model, before, step, len(idx))
                            bar.update(1)
                            if on_step is not None and cfg.checkpoint_every and (b + 1) % cfg.checkpoint_every == 0 \
                                    and b + 1 < n_batches:
                                self._opt_leaves = step.stepper.state_leaves()
                                self._partial = (perm, b + 1, list(losses))
                                self._elapsed = time.perf_counter() - t0
                                on_step(self)
                                self._partial = None
                    if epoch + 1 < epochs[s]:
                        self._position, self._opt_leaves = (s, epoch + 1), step.stepper.state_leaves()
                    else:  # the next stage starts with a fresh optimizer for its own layers
                        self._position, self._opt_leaves = (s + 1, 0), None
                    row = self._epoch_row(model, data, readout, s, epoch, float(np.mean(losses)))
                    row["wall_time_s"] = time.perf_counter() - t0
                    self._elapsed = row["wall_time_s"]
                    self.history.append(row)
                    bar.set_postfix(layer=readout, loss=f"{row['loss']:.4f}", val=f"{row.get('val_score', 0):.3f}")
                    if on_epoch is not None:
                        on_epoch(self)
        finally:
            bar.close()
        return self.history

    def bind(self, model: LayeredBlackBox, n_classes: int) -> None:
        """Draw the per-layer objectives (prototypes, projections) for this model, from the seed."""
        cfg = self.config
        infos = [model.layer_info(l) for l in range(model.n_layers)]
        self.objectives = build_objectives(infos, n_classes, loss=cfg.loss, prototypes=cfg.prototypes,
                                           proj_dim=cfg.proj_dim, margin=cfg.margin, temperature=cfg.temperature,
                                           seed=cfg.seed)

    def layer_scores(self, model: LayeredBlackBox, X: np.ndarray) -> np.ndarray:
        """cos(h_l, p_c) of every layer for inputs X: (L, n, C)."""
        return np.stack([self._layer_scores(model, X, l) for l in range(model.n_layers)])

    def evaluate(self, model: LayeredBlackBox, data: Any, split: str = "test") -> dict[str, Any]:
        """Accuracy (vote, last layer, per layer) or R² of the committed model on a split."""
        X, y = getattr(data, f"X_{split}"), getattr(data, f"y_{split}")
        if len(self.objectives) != model.n_layers:
            self.bind(model, data.n_classes)
        scores = self.layer_scores(model, X)
        if data.task == "regression":
            pred = data.targets_from_unit(scores[-1][:, 0])
            per_layer = [r2_score(y, data.targets_from_unit(s[:, 0])) for s in scores]
            return {f"{split}_r2": per_layer[-1], f"{split}_r2_per_layer": per_layer, "predictions": pred}
        per_layer = [float(np.mean(np.argmax(s, axis=1) == y)) for s in scores]
        vote = vote_predictions(scores)
        out = {
            f"{split}_accuracy_vote": float(np.mean(vote == y)),
            f"{split}_accuracy_last": per_layer[-1],
            f"{split}_accuracy_per_layer": per_layer,
            "predictions": vote if LOCAL[self.config.paradigm] else np.argmax(scores[-1], axis=1),
        }
        out[f"{split}_accuracy"] = out[f"{split}_accuracy_vote"] if LOCAL[self.config.paradigm] else per_layer[-1]
        return out

    # ---------- checkpoint state ----------
    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able metadata and arrays that let a fresh trainer continue this run exactly."""
        meta = {
            "config": self.config.to_dict(),
            "position": list(self._position),
            "rng": self._rng.bit_generator.state,
            "history": self.history,
            "train_cost": self.train_cost.snapshot(),
            "elapsed_s": self._elapsed,
            "n_opt_leaves": 0 if self._opt_leaves is None else len(self._opt_leaves),
            "n_stages": self._n_stages,
            "partial": None if self._partial is None else {"next_batch": self._partial[1], "losses": self._partial[2]},
            "val_cache_layers": sorted(self._val_cache),
        }
        arrays = {f"opt_{i}": v for i, v in enumerate(self._opt_leaves or [])}
        arrays.update({f"val_scores_{l}": v for l, v in self._val_cache.items()})
        if self._partial is not None:
            arrays["partial_perm"] = self._partial[0]
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> "Trainer":
        trainer = cls(TrainConfig.from_dict(meta["config"]))
        trainer._position = tuple(meta["position"])
        trainer._rng.bit_generator.state = meta["rng"]
        trainer.history = list(meta["history"])
        trainer.train_cost.load(meta["train_cost"])
        trainer._elapsed = float(meta.get("elapsed_s", 0.0))
        trainer._n_stages = meta.get("n_stages")
        partial = meta.get("partial")
        if partial is not None:
            trainer._partial = (arrays["partial_perm"], int(partial["next_batch"]), list(partial["losses"]))
        n = int(meta.get("n_opt_leaves", 0))
        at_stage_start = trainer._position[1] == 0 and partial is None  # older checkpoints kept the last stage's leaves
        trainer._opt_leaves = [arrays[f"opt_{i}"] for i in range(n)] if n and not at_stage_start else None
        trainer._val_cache = {int(l): arrays[f"val_scores_{l}"] for l in meta.get("val_cache_layers", [])}
        return trainer

    @property
    def finished(self) -> bool:
        """True once every stage has run all its epochs."""
        return self._n_stages is not None and self._position[0] >= self._n_stages

    # ---------- internals ----------
    def _targets(self, data: Any, y: np.ndarray) -> np.ndarray:
        if data.task == "regression":
            return np.asarray(data.targets_to_unit(y), dtype=float)
        return np.eye(data.n_classes)[y]

    def _make_step(self, model, trainable: list[int], readout: int, total_steps: int):
        cfg = self.config
        sizes = [model.layer_info(l).n_params for l in trainable]
        offsets = np.cumsum([0] + sizes)
        theta0 = np.concatenate([model.get_params(l) for l in trainable])
        tx = make_optimizer(cfg.optimizer, cfg.lr, schedule=cfg.schedule, total_steps=total_steps)
        stepper = Stepper(tx, theta0)
        objective = self.objectives[readout]

        def split(flat):
            return {l: flat[..., offsets[i] : offsets[i + 1]] for i, l in enumerate(trainable)}

        infos = [model.layer_info(l) for l in trainable]
        bounded = any(info.domain == INTERVAL for info in infos)

        def project(flat):
            """Candidates and updates clipped into bounded (interval) domains; other domains untouched."""
            if not bounded:
                return flat
            return np.concatenate([project_params(info, p) for info, p in zip(infos, split(flat).values())], axis=-1)

        def commit(theta):
            for l, p in split(project(theta)).items():
                model.set_params(l, p)

        def current():
            return np.concatenate([model.get_params(l) for l in trainable])

        def measure(xb):
            """Candidate settings (M, d) -> the readout layer's measured outputs, in range of each domain."""
            return lambda cand: model.query(xb, readout, split(project(cand)))

        if AUTODIFF[cfg.paradigm]:
            forward = model.calibrated_twin_forward if cfg.twin == "calibrated" else model.twin_forward
            grad_fn = autodiff_grad(forward, objective, trainable, readout, offsets)

            def step(xb, tb):
                theta = current()
                with jax.enable_x64(True):  # the twin in float64, as before, without touching the user's flag
                    loss, grad = grad_fn(theta, model.twin_params(), xb, tb)
                commit(stepper.step(theta, np.asarray(grad)))
                return float(loss)

            step.settings_per_step = 1
        elif cfg.estimator != "dd":
            stepper = make_search(cfg.estimator, infos, theta0, self._rng, eps=cfg.eps, n_dirs=cfg.n_dirs, lr=cfg.lr,
                                  schedule=cfg.schedule, total_steps=total_steps, readout_is_trained=trainable == [readout])

            def step(xb, tb):
                theta, loss = stepper.step(current(), measure(xb), lambda out: objective.losses(np, out, tb))
                commit(theta)
                return loss
        else:

            def step(xb, tb):
                theta, query = current(), measure(xb)
                est = directional_gradient(
                    lambda cand: objective.losses(np, query(cand), tb), theta, self._rng, eps=cfg.eps,
                    n_dirs=cfg.n_dirs, scheme=cfg.scheme, directions=cfg.directions,
                )
                commit(stepper.step(theta, est.grad))
                return est.loss

        step.engine = None
        if cfg.backend == "jax" and not AUTODIFF[cfg.paradigm]:
            engine = CompiledDD(model, objective, trainable, readout, tx, eps=cfg.eps, n_dirs=cfg.n_dirs,
                                scheme=cfg.scheme)

            def run_compiled(X, idx, ts, us):
                """S steps on the batches X[idx] in one compiled call; returns their losses."""
                committed = [model.get_params(l) for l in range(readout + 1)]
                theta, stepper.state, loss = engine.run(current(), stepper.state, committed, X, idx, ts, us)
                commit(theta)
                return [float(v) for v in loss]

            def stopped(part):
                """The last two steps of a refused run whose queries ran, committed (a refused commit raises here)."""
                stepper.state = part.state
                commit(part.theta_before)
                commit(part.theta)

            step.engine, step.run_compiled, step.stopped = engine, run_compiled, stopped
        step.stepper = stepper
        step.depth = readout + 1
        return step

    def _compiled_batches(self, step, model, X, targets, perm, batches, losses, bar, on_step, t0) -> None:
        """Batches first..n-1 of an epoch on the compiled engine, in runs that end where a checkpoint is due.

        Directions come from the trainer's rng in the numpy path's order; each step records the cost its query would.
        """
        cfg, engine = self.config, step.engine
        first, n_batches, bs = batches
        every = cfg.checkpoint_every if on_step is not None else 0
        b = first
        while b < n_batches:
            end = min(n_batches, b + MAX_COMPILED_STEPS, (b // every + 1) * every if every else n_batches)
            idx = perm[b * bs : end * bs].reshape(end - b, bs)
            us = np.stack([sample_directions(self._rng, cfg.n_dirs, engine.dim, cfg.directions) for _ in range(end - b)])
            try:
                losses.extend(step.run_compiled(X, idx, targets[idx], us))
            except PartialRun as part:  # the steps before the refused setting cost what their queries would
                self._record_compiled(model, engine, step, bs, part.steps)
                step.stopped(part)
                raise part.__cause__ from None
            self._record_compiled(model, engine, step, bs, end - b)
            bar.update(end - b)
            b = end
            if every and b % every == 0 and b < n_batches:
                self._opt_leaves = step.stepper.state_leaves()
                self._partial = (perm, b, list(losses))
                self._elapsed = time.perf_counter() - t0
                on_step(self)
                self._partial = None

    def _record_compiled(self, model, engine, step, batch: int, n_steps: int) -> None:
        """The cost ``n_steps`` compiled steps' queries would have recorded, on the model and in ``train_cost``."""
        for _ in range(n_steps):
            before = model.counter.snapshot()
            model.counter.record(engine.n_settings, batch, step.depth)
            self._add_cost(model, before, step, batch)

    def _add_cost(self, model, before: dict[str, int], step, batch: int) -> None:
        if AUTODIFF[self.config.paradigm]:
            self.train_cost.record(1, batch, step.depth)
            return
        after = model.counter.snapshot()
        self.train_cost.calls += after["calls"] - before["calls"]
        self.train_cost.settings += after["settings"] - before["settings"]
        self.train_cost.sample_queries += after["sample_queries"] - before["sample_queries"]
        self.train_cost.layer_evals += after["layer_evals"] - before["layer_evals"]

    def _layer_scores(self, model, X: np.ndarray, layer: int, chunk: int = 2048) -> np.ndarray:
        parts = [self.objectives[layer].scores(model.query(X[i : i + chunk], layer)[0]) for i in range(0, len(X), chunk)]
        return np.concatenate(parts)

    def _epoch_row(self, model, data, readout, stage, epoch, loss) -> dict[str, Any]:
        cfg = self.config
        n_sub = min(len(data.X_train), cfg.eval_train_max)
        train_scores = self._layer_scores(model, data.X_train[:n_sub], readout)
        val_scores = self._layer_scores(model, data.X_val, readout)
        row: dict[str, Any] = {"paradigm": cfg.paradigm, "stage": stage, "layer": readout, "epoch": epoch, "loss": loss}
        if data.task == "regression":
            row["train_score"] = r2_score(data.y_train[:n_sub], data.targets_from_unit(train_scores[:, 0]))
            row["val_score"] = r2_score(data.y_val, data.targets_from_unit(val_scores[:, 0]))
            row["metric"] = "r2"
        else:
            row["train_score"] = float(np.mean(np.argmax(train_scores, 1) == data.y_train[:n_sub]))
            row["val_score"] = float(np.mean(np.argmax(val_scores, 1) == data.y_val))
            row["metric"] = "accuracy"
            if LOCAL[cfg.paradigm]:
                for l in range(readout):
                    if l not in self._val_cache:
                        self._val_cache[l] = self._layer_scores(model, data.X_val, l)
                stack = [self._val_cache[l] for l in range(readout)] + [val_scores]
                row["val_vote"] = float(np.mean(vote_predictions(np.stack(stack)) == data.y_val))
        row.update({f"train_{k}": v for k, v in self.train_cost.snapshot().items()})
        return row


def _progress(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, unit="step", dynamic_ncols=True, leave=False)
