"""Gradient-free baselines through the same black box: SPSA (Spall) and separable CMA-ES (the ``cma`` library).

Each is a search object: ``step(theta, measure, score) -> (new theta, loss seen)`` makes exactly one batched
``measure`` call (so the query count is what the model's counter records) and keeps its own state in
``state_leaves`` for exact resume. Bounded (``INTERVAL``) coordinates go through cma's clip-free box transformation
(identity inside, smooth and periodic beyond the bounds); periodic ones are wrapped.
"""

from __future__ import annotations

import io
import pickle
from typing import Callable

import numpy as np

from ..errors import UserInputError
from .domains import FlatDomain

Measure = Callable[[np.ndarray], np.ndarray]
Score = Callable[[np.ndarray], np.ndarray]
SPALL_ALPHA, SPALL_GAMMA = 0.602, 0.101  # Spall's gain and perturbation decays (a_k ~ k^-alpha, c_k ~ k^-gamma)


class BoxTransform:
    """cma's ``BoxConstraintsLinQuadTransformation`` on the bounded coordinates of a flat domain, identity elsewhere."""

    def __init__(self, domain: FlatDomain):
        self.domain = domain
        self._idx = np.flatnonzero(domain.bounded)
        self._box = None
        if self._idx.size:
            from cma.transformations import BoxConstraintsLinQuadTransformation

            self._box = BoxConstraintsLinQuadTransformation(
                [[lo, hi] for lo, hi in zip(domain.low[self._idx], domain.high[self._idx])])

    def to_params(self, latent: np.ndarray) -> np.ndarray:
        """Latent (unbounded) vectors (..., d) -> parameters inside the domain (bounded ones mapped, phases wrapped)."""
        out = np.array(latent, dtype=float)
        if self._box is not None:
            rows = out.reshape(-1, out.shape[-1])
            rows[:, self._idx] = [self._box.transform(r) for r in rows[:, self._idx]]
        return self.domain.wrap(out)

    def to_latent(self, params: np.ndarray) -> np.ndarray:
        """The latent vector whose parameters are ``params`` (the identity inside the box's linear part)."""
        out = np.array(params, dtype=float)
        if self._box is not None:
            out[self._idx] = np.asarray(self._box.inverse(out[self._idx]), dtype=float)
        return out


class SPSASearch:
    """Textbook SPSA (Spall): K Rademacher perturbations, 2K settings a step, Spall's decaying gains.

    Perturbation +-c_k Delta / sqrt(d) of norm c_k = eps / (k + 1)^0.101; estimate d * mean_k(delta_k u_k), which is
    Spall's (y+ - y-) / (2 c Delta_i) per coordinate; step a_k = lr ((1 + A) / (k + 1 + A))^0.602 with A a tenth of
    the stage's steps (ISSO, sec. 7.5), so ``lr`` is the first step's gain. The trainer's optimizer is not used.
    """

    def __init__(self, domain: FlatDomain, rng: np.random.Generator, *, lr: float, eps: float, n_dirs: int,
                 total_steps: int):
        self.box, self.rng = BoxTransform(domain), rng
        self.lr, self.eps, self.n_dirs, self.k = float(lr), float(eps), int(n_dirs), 0
        self.stability = 0.1 * max(int(total_steps), 1)

    def gain(self, k: int) -> float:
        return self.lr * ((1.0 + self.stability) / (k + 1.0 + self.stability)) ** SPALL_ALPHA

    def step(self, theta: np.ndarray, measure: Measure, score: Score) -> tuple[np.ndarray, float]:
        y = self.box.to_latent(theta)
        d, c = y.size, self.eps / (self.k + 1) ** SPALL_GAMMA
        u = (2.0 * self.rng.integers(0, 2, size=(self.n_dirs, d)) - 1.0) / np.sqrt(d)
        values = np.asarray(score(measure(self.box.to_params(np.concatenate([y + c * u, y - c * u])))), dtype=float)
        delta = (values[: self.n_dirs] - values[self.n_dirs :]) / (2 * c)
        grad = d * (delta @ u) / self.n_dirs
        new = y - self.gain(self.k) * grad
        self.k += 1
        return self.box.to_params(new), float(np.mean(values))

    def state_leaves(self) -> list[np.ndarray]:
        return [np.array([self.k])]

    def load_state_leaves(self, leaves: list[np.ndarray]) -> None:
        self.k = int(leaves[0][0])


class _Normal:
    """cma's ``randn`` option drawing from the trainer's generator (cma never touches numpy's global state then)."""

    def __init__(self, rng: np.random.Generator | None):
        self.rng = rng

    def __call__(self, *shape: int) -> np.ndarray:
        return self.rng.standard_normal(shape)

    def __getstate__(self) -> dict:
        return {"rng": None}  # the trainer's generator is checkpointed by the trainer


def default_popsize(dim: int) -> int:
    """CMA-ES's default population 4 + floor(3 ln d)."""
    return 4 + int(3 * np.log(dim))


class CMASearch:
    """Separable CMA-ES (``CMA_diagonal``: O(d) per sample, for thousands of heaters), one generation per step.

    Every generation evaluates its lambda candidates on one mini-batch in one ``measure`` call; the committed
    parameters are the distribution mean. ``eps`` is the initial spread as a perturbation norm (sigma0 = eps /
    sqrt(d)); bounds use cma's own ``BoundTransform``; periodic coordinates are searched unwrapped and sent wrapped.
    """

    def __init__(self, domain: FlatDomain, theta0: np.ndarray, rng: np.random.Generator, *, eps: float,
                 popsize: int | None = None):
        import cma

        self.domain, self.rng = domain, rng
        d = theta0.size
        bounded = domain.bounded
        bounds = [None, None]
        if bounded.any():
            bounds = [np.where(bounded, domain.low, -np.inf).tolist(), np.where(bounded, domain.high, np.inf).tolist()]
        options = {
            "CMA_diagonal": True, "popsize": popsize or default_popsize(d), "bounds": bounds,
            "randn": _Normal(rng), "seed": np.nan, "verbose": -9, "verb_log": 0, "verb_disp": 0,
            "tolfun": 0, "tolfunhist": 0, "tolflatfitness": np.inf, "tolstagnation": np.inf, "tolx": 0,
        }
        self.es = cma.CMAEvolutionStrategy(np.asarray(theta0, dtype=float), eps / np.sqrt(d), options)

    @property
    def popsize(self) -> int:
        return int(self.es.popsize)

    def mean(self) -> np.ndarray:
        """The distribution mean inside the domain: what the chip is set to."""
        return self.domain.wrap(self.es.gp.pheno(self.es.mean, into_bounds=self.es.boundary_handler.repair))

    def step(self, theta: np.ndarray, measure: Measure, score: Score) -> tuple[np.ndarray, float]:
        solutions = self.es.ask()
        values = np.asarray(score(measure(self.domain.wrap(np.asarray(solutions)))), dtype=float)
        self.es.tell(solutions, values.tolist())
        return self.mean(), float(np.mean(values))

    def state_leaves(self) -> list[np.ndarray]:
        return [np.frombuffer(pickle.dumps(self.es), dtype=np.uint8).copy()]

    def load_state_leaves(self, leaves: list[np.ndarray]) -> None:
        self.es = _CMAStateUnpickler(io.BytesIO(np.asarray(leaves[0], dtype=np.uint8).tobytes())).load()
        self.es.opts["randn"].rng = self.rng


class _CMAStateUnpickler(pickle._Unpickler):
    """Rebuilds a pickled ``CMAEvolutionStrategy`` and nothing else: a checkpoint cannot run code on resume.

    Only cma's own classes, numpy arrays and scalars, and our ``_Normal`` may be named; objects are rebuilt
    without calling their constructors, and the only functions a pickle may call are numpy's rebuilders.
    """

    CALLABLE = {("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"), ("numpy", "dtype"),
                ("builtins", "range"), ("builtins", "slice"), ("builtins", "set"), ("builtins", "frozenset"),
                ("builtins", "complex"), ("collections", "OrderedDict")}
    NAMED = CALLABLE | {("numpy", "ndarray"), ("numpy.linalg", "eigh"), (__name__, "_Normal")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.NAMED and not (module == "cma" or module.startswith("cma.")):
            raise UserInputError(f"the checkpoint's CMA-ES state names {module}.{name}, which a CMA-ES state never "
                                 "holds; refusing to load it")
        obj = super().find_class(module, name)
        if (module, name) in self.CALLABLE:
            self._callables.add(id(obj))
        return obj

    def load(self):
        self._callables: set[int] = set()
        return super().load()

    def load_reduce(self):
        func = self.stack[-2]
        if id(func) not in self._callables:
            raise UserInputError(f"the checkpoint's CMA-ES state calls {getattr(func, '__qualname__', func)!r}, "
                                 "which a CMA-ES state never does; refusing to load it")
        super().load_reduce()

    def refuse_constructor_call(self):
        raise UserInputError("the checkpoint's CMA-ES state calls a constructor (a protocol 0/1 pickle), which a "
                             "CMA-ES state never does; refusing to load it")

    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.INST[0]] = dispatch[pickle.OBJ[0]] = refuse_constructor_call
