"""How a training run is set: the paradigms, their tuned defaults and the validated :class:`TrainConfig`.

One place for every training default: a field the user did not set resolves to the model's own recipe (the registry),
then to :data:`PARADIGM_DEFAULTS`, so the Python API and ``ffzero train`` resolve the same recipe.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

import numpy as np

from .errors import UserInputError
from .method.engine_jax import BACKENDS
from .method.estimators import DIRECTIONS, SCHEMES
from .method.losses import LOSSES
from .method.optim import OPTIMIZERS, SCHEDULES
from .method.prototypes import PROTOTYPE_KINDS
from .method.search import ESTIMATOR_DEFAULTS, ESTIMATORS

PARADIGMS = ("ffzero", "bp-dd", "ff-ad", "bp-ad")
LOCAL = {"ffzero": True, "bp-dd": False, "ff-ad": True, "bp-ad": False}
AUTODIFF = {"ffzero": False, "bp-dd": False, "ff-ad": True, "bp-ad": True}
TWINS = ("nominal", "calibrated")  # autodiff through the design, or through the fabricated instance (a perfect calibration)

# The tuned recipes of benchmarks/paradigms.py (lr picked on validation): what a field the user did not set
# resolves to, after the model's own recipe (e.g. a photonic chip's eps). Small batches give forward-only
# training many more steps per chip query.
_COMMON = {"batch_size": 16, "optimizer": "adam", "schedule": "cosine", "eps": 1e-3}
PARADIGM_DEFAULTS: dict[str, dict[str, Any]] = {
    "ffzero": {**_COMMON, "epochs": 300, "lr": 3e-3},  # epochs per layer
    "bp-dd": {**_COMMON, "epochs": 1200, "lr": 3e-4},  # in total: FFzero's query budget on a 4-layer MLP
    "ff-ad": {**_COMMON, "epochs": 50, "lr": 1e-2},
    "bp-ad": {**_COMMON, "epochs": 200, "lr": 3e-3},
}
RECIPE_FIELDS = ("epochs", "batch_size", "lr", "eps", "optimizer", "schedule")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a training run; validated on construction.

    Recipe fields left ``None`` resolve at :meth:`resolved` (``Trainer.fit`` calls it) from the model's
    recipe, then the paradigm's defaults, so ``Trainer(paradigm=p).fit(model, data)`` runs the same
    recipe as ``ffzero train``. :meth:`paper` is the paper's recipe.
    """

    paradigm: str = "ffzero"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    eps: float | None = None
    n_dirs: int = 1
    scheme: str = "central"
    directions: str = "sphere"
    optimizer: str | None = None
    schedule: str | None = None
    loss: str = "auto"
    prototypes: str = "auto"
    proj_dim: int = 10
    margin: float = 0.3
    temperature: float = 0.1  # of the ce loss: softmax over cosines / T
    seed: int = 0
    eval_train_max: int = 2000
    checkpoint_every: int = 0  # steps between mid-epoch checkpoints (0: after every epoch only)
    backend: str = "numpy"  # DD engine: "numpy" (query by query) or "jax" (compiled; the model needs compiled_query)
    estimator: str = "dd"  # forward-only update: dd, spsa, cma or coordinate (method/search.py)
    twin: str = "nominal"  # what autodiff differentiates: the design, or a fabricated chip's exact model (TWINS)
    layer_epochs: tuple[int, ...] | None = None  # each layer's own stage budget (local paradigms); None: epochs each

    def __post_init__(self) -> None:
        _choice("paradigm", self.paradigm, PARADIGMS)
        _choice("backend", self.backend, BACKENDS)
        _choice("estimator", self.estimator, ESTIMATORS)
        _choice("twin", self.twin, TWINS)
        if self.twin != "nominal" and not AUTODIFF[self.paradigm]:
            raise UserInputError(f"twin {self.twin!r} is for the autodiff paradigms (ff-ad, bp-ad), got {self.paradigm!r}")
        if self.estimator != "dd" and (AUTODIFF[self.paradigm] or self.backend == "jax"):
            raise UserInputError(f"estimator {self.estimator!r} runs on forward-only paradigms (ffzero, bp-dd) with "
                                 f"backend numpy, got paradigm {self.paradigm!r}, backend {self.backend!r}")
        _choice("scheme", self.scheme, SCHEMES)
        _choice("directions", self.directions, DIRECTIONS)
        _choice("optimizer", self.optimizer, OPTIMIZERS, unset_ok=True)
        _choice("schedule", self.schedule, SCHEDULES, unset_ok=True)
        _choice("loss", self.loss, ("auto",) + LOSSES)
        _choice("prototypes", self.prototypes, ("auto",) + PROTOTYPE_KINDS)
        for name in ("epochs", "batch_size", "n_dirs", "proj_dim", "eval_train_max"):
            value = getattr(self, name)
            if value is None and name in RECIPE_FIELDS:
                continue
            if not _positive_int(value):
                raise UserInputError(f"{name} must be a positive integer, got {value!r}")
        for name in ("lr", "eps", "temperature"):
            value = getattr(self, name)
            if value is None and name in RECIPE_FIELDS:
                continue
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
                raise UserInputError(f"{name} must be a positive finite number, got {value!r}")
        if self.layer_epochs is not None:
            if not LOCAL[self.paradigm]:
                raise UserInputError(f"layer_epochs is for the layer-wise paradigms (ffzero, ff-ad), got {self.paradigm!r}")
            values = tuple(self.layer_epochs) if isinstance(self.layer_epochs, (list, tuple)) else ()
            if not values or not all(_positive_int(v) for v in values):
                raise UserInputError(f"layer_epochs must be positive integers, one per layer, got {self.layer_epochs!r}")
            object.__setattr__(self, "layer_epochs", tuple(int(v) for v in values))
        for name in ("checkpoint_every", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise UserInputError(f"{name} must be a non-negative integer, got {value!r}")
        if isinstance(self.margin, bool) or not isinstance(self.margin, (int, float)) \
                or not (np.isfinite(self.margin) and self.margin >= 0):
            raise UserInputError(f"margin must be >= 0, got {self.margin!r}")

    @classmethod
    def paper(cls, **overrides: Any) -> "TrainConfig":
        """The paper's recipe: batch 256, plain SGD, constant lr, 100 epochs, eps 1e-3.

        The paper's loss sums over the batch; ours averages, so its lr 1e-3 is our 0.256.
        """
        base = dict(batch_size=256, optimizer="sgd", lr=0.256, schedule="constant", epochs=100, eps=1e-3)
        return cls(**{**base, **overrides})

    @property
    def is_resolved(self) -> bool:
        return all(getattr(self, name) is not None for name in RECIPE_FIELDS)

    def stage_epochs(self, n_stages: int) -> list[int]:
        """Epochs of each training stage (a local paradigm's layers, or a global paradigm's one stage)."""
        if self.layer_epochs is None:
            return [int(self.epochs)] * n_stages
        if len(self.layer_epochs) != n_stages:
            raise UserInputError(f"layer_epochs has {len(self.layer_epochs)} entries but the model trains "
                                 f"{n_stages} layers: give one per layer")
        return list(self.layer_epochs)

    def resolved(self, model_recipe: Mapping[str, Any] | None = None) -> "TrainConfig":
        """This config with unset recipe fields filled from ``model_recipe``, then the paradigm's defaults."""
        recipe = dict(model_recipe or {})
        unknown = sorted(set(recipe) - {f.name for f in fields(self)})
        if unknown:
            raise UserInputError(f"model recipe sets unknown training field {unknown[0]!r}")
        defaults = default_train(self.paradigm, recipe, self.estimator)
        unset = {k: v for k, v in defaults.items() if getattr(self, k, None) is None}
        return replace(self, **unset) if unset else self

    def to_dict(self) -> dict[str, Any]:
        """All fields; ``estimator``, ``twin`` and ``layer_epochs`` only off their defaults, so older run directories
        resume."""
        at_default = {f.name for f in fields(self)
                      if f.name in ("estimator", "twin", "layer_epochs") and getattr(self, f.name) == f.default}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if k not in at_default}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def default_train(paradigm: str, model_recipe: Mapping[str, Any] | None = None, estimator: str = "dd") -> dict[str, Any]:
    """The recipe fields a run starts from: the paradigm's defaults, the model's recipe, then the estimator's."""
    _choice("paradigm", paradigm, PARADIGMS)
    _choice("estimator", estimator, ESTIMATORS)
    return {**PARADIGM_DEFAULTS[paradigm], **(model_recipe or {}), **ESTIMATOR_DEFAULTS[estimator]}


def _positive_int(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value >= 1


def _choice(name: str, value: Any, allowed: tuple[str, ...], unset_ok: bool = False) -> None:
    if value is None and unset_ok:
        return
    if value not in allowed:
        raise UserInputError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")
