"""Digital multilayer perceptron behind the :class:`~ffzero_photonics.blackbox.LayeredBlackBox` protocol.

Also a jax :class:`~ffzero_photonics.blackbox.DifferentiableTwin` of itself,
so the autodiff baselines train the same network.
"""

from __future__ import annotations

import abc

import operator
from typing import Any, Mapping, Sequence

import numpy as np

from ffzero_photonics.blackbox import (
    LayerInfo,
    ParamState,
    QueryCounter,
    check_inputs,
    check_settings,
)
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.digital.layers import (
    Dense,
    activation_fn,
    check_activation,
    check_positive_int,
    check_seed,
)


class SequentialNet(abc.ABC):
    """Shared black-box / twin / persistence machinery for a chain of layers, each followed by one activation.

    Implements ``LayeredBlackBox``, ``DifferentiableTwin`` and ``PersistentModel``.

    Subclasses set ``_layers`` (objects with ``n_params``, ``in_dim``,
    ``out_shape``, ``init``, ``forward``, ``forward_batched``), ``_n_inputs``
    and ``activation``, then call :meth:`_init_params`.
    """

    counter: QueryCounter
    activation: str
    seed: int
    _layers: list[Any]
    _n_inputs: int

    def _init_params(self) -> None:
        self._act = activation_fn(self.activation)
        self._infos = [
            LayerInfo(n_params=lay.n_params, out_shape=tuple(lay.out_shape), domain="real", readout="activation")
            for lay in self._layers
        ]
        rng = np.random.default_rng(self.seed)
        self._state = ParamState(self._infos, [lay.init(rng) for lay in self._layers])
        self.counter = QueryCounter()
        self._clear_cache()

    def _clear_cache(self) -> None:
        """Drop the committed-prefix cache (activations of the last input batch)."""
        self._cache_x: np.ndarray | None = None
        self._cache_h: list[np.ndarray] = []

    def _committed_prefix(self, x: np.ndarray, n: int) -> np.ndarray:
        """Output of layer n-1 under committed parameters (x itself for n=0), reusing cached activations.

        Simulation shortcut only: the counter still charges the full depth.
        The cache holds one input batch; set_params(l) invalidates layers >= l.
        """
        if n == 0:
            return x
        cx = self._cache_x
        if cx is None or cx.shape != x.shape or not np.array_equal(cx, x):
            self._cache_x = x.copy()
            self._cache_h = []
        hs = self._cache_h
        h = hs[-1] if hs else x
        act, layers, committed = self._act, self._layers, self._state.params
        for l in range(len(hs), n):
            h = act(layers[l].forward(committed[l], h, np), np)
            hs.append(h)
        return hs[n - 1]

    @property
    def n_layers(self) -> int:
        return len(self._layers)

    @property
    def n_inputs(self) -> int:
        return self._n_inputs

    def _check_layer(self, layer: Any) -> int:
        try:
            l = operator.index(layer)
        except TypeError:
            raise ValueError(f"layer must be an integer, got {layer!r}") from None
        if not 0 <= l < len(self._layers):
            raise ValueError(f"layer {layer} out of range 0..{len(self._layers) - 1}")
        return int(l)

    def layer_info(self, layer: int) -> LayerInfo:
        return self._infos[self._check_layer(layer)]

    def get_params(self, layer: int) -> np.ndarray:
        return self._state.get(self._check_layer(layer))

    def set_params(self, layer: int, params: np.ndarray) -> None:
        layer = self._check_layer(layer)
        self._state.set(layer, np.array(params, dtype=float, copy=True))
        del self._cache_h[layer:]

    def query(
        self, x: np.ndarray, layer: int, settings: Mapping[int, np.ndarray] | None = None
    ) -> np.ndarray:
        """Measured output (M, B, *out_shape) of ``layer``; layers before the first perturbed one run once."""
        layer = self._check_layer(layer)
        x = check_inputs(x, self._n_inputs)
        cand, m = check_settings(self._infos, layer, settings)
        first = min(cand) if cand else layer + 1
        h = self._committed_prefix(x, first)
        if first > layer:
            h = h[None].copy()
        committed = self._state.params
        act, layers = self._act, self._layers
        for l in range(first, layer + 1):
            p = cand.get(l)
            h = act(layers[l].forward_batched(committed[l][None] if p is None else p, h, np), np)
        n = x.shape[0]
        self.counter.record(n_settings=m, n_samples=n, depth=layer + 1)
        return h.reshape((h.shape[0], n) + self._infos[layer].out_shape)

    def twin_params(self) -> list[Any]:
        """Committed parameters as a list of flat jax arrays, one per layer."""
        import jax.numpy as jnp

        return [jnp.asarray(p) for p in self._state.params]

    def twin_forward(self, params: Sequence[Any], x: Any) -> list[Any]:
        """Differentiable jax forward pass: every layer's output (B, *out_shape)."""
        import jax.numpy as jnp

        if len(params) != len(self._layers):
            raise ValueError(f"expected {len(self._layers)} parameter arrays, got {len(params)}")
        h = jnp.asarray(x)
        if h.ndim != 2 or h.shape[1] != self._n_inputs:
            raise ValueError(f"inputs must have shape (B, {self._n_inputs}), got {h.shape}")
        outs = []
        for lay, p in zip(self._layers, params):
            h = self._act(lay.forward(jnp.asarray(p), h, jnp), jnp)
            outs.append(h.reshape((h.shape[0],) + tuple(lay.out_shape)))
        return outs

    def compiled_query(self, params: Sequence[Any], x: Any, layer: int) -> Any:
        """``query``'s measurement as a pure jax function (jit-able, uncounted: the caller records the cost).

        ``params[l]`` is (P_l,) or a candidate stack (M, P_l) for layers 0..layer; the output is
        (M, B, *out_shape), or (B, *out_shape) when no layer has candidates.
        """
        layer = self._check_layer(layer)
        h = self._compiled_layers(params, x, 0, layer + 1)
        return h.reshape(h.shape[:-1] + self._infos[layer].out_shape)

    def compiled_stage(self, layer: int) -> Any:
        """:meth:`compiled_query` of ``layer`` split where that layer starts: (stage_input(params, x): the activations
        entering it, stage_query(params[layer], h): its outputs from them); committed layers compute the same each time."""
        layer = self._check_layer(layer)
        shape = self._infos[layer].out_shape

        def stage_query(p: Any, h: Any) -> Any:
            h = self._compiled_layers([p], h, layer, layer + 1)
            return h.reshape(h.shape[:-1] + shape)

        return (lambda params, x: self._compiled_layers(params, x, 0, layer)), stage_query

    def _compiled_layers(self, params: Sequence[Any], h: Any, first: int, stop: int) -> Any:
        """Layers first..stop-1 on h as jax operations; ``params`` holds theirs, in order."""
        import jax.numpy as jnp

        h = jnp.asarray(h)
        for lay, p in zip(self._layers[first:stop], params):
            p = jnp.asarray(p)
            h = self._act(lay.forward_batched(p, h, jnp) if p.ndim == 2 else lay.forward(p, h, jnp), jnp)
        return h

    def load_twin_params(self, params: Sequence[Any]) -> None:
        """Commit twin parameters (validated like :meth:`set_params`)."""
        if len(params) != len(self._layers):
            raise ValueError(f"expected {len(self._layers)} parameter arrays, got {len(params)}")
        for l, p in enumerate(params):
            self.set_params(l, np.asarray(p, dtype=float))

    @abc.abstractmethod
    def to_config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild the model."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]):
        """Rebuild a model (with freshly seeded parameters) from :meth:`to_config`."""
        if not isinstance(config, Mapping):
            raise UserInputError(f"{cls.__name__} config must be a mapping, got {config!r}")
        return cls(**config)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Committed parameters as ``{"layer_0": array, ...}`` (copies; ``np.savez``-ready)."""
        return {f"layer_{l}": p.copy() for l, p in enumerate(self._state.params)}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Commit parameters from :meth:`state_dict` output; keys and shapes must match exactly."""
        expected = {f"layer_{l}" for l in range(len(self._layers))}
        if set(state) != expected:
            raise ValueError(f"state keys {sorted(state)} do not match {sorted(expected)}")
        for l in range(len(self._layers)):
            self.set_params(l, state[f"layer_{l}"])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_config().items())
        return f"{type(self).__name__}({args})"


class MLP(SequentialNet):
    """Fully connected net: layer l maps widths[l] -> widths[l+1], output activation(h W + b).

    The same activation follows every layer, including the last
    (``activation="none"`` gives a linear network).
    """

    def __init__(self, widths: Sequence[int] = (64, 100, 100, 100), activation: str = "tanh", seed: int = 0):
        if isinstance(widths, (str, bytes)) or not hasattr(widths, "__len__"):
            raise UserInputError(f"widths must be a sequence of positive integers, got {widths!r}")
        if len(widths) < 2:
            raise UserInputError(f"widths needs at least 2 entries (inputs, outputs), got {tuple(widths)!r}")
        self.widths = tuple(check_positive_int(w, f"widths[{i}]") for i, w in enumerate(widths))
        self.activation = check_activation(activation)
        self.seed = check_seed(seed)
        self._n_inputs = self.widths[0]
        self._layers = [Dense(a, b) for a, b in zip(self.widths[:-1], self.widths[1:])]
        self._init_params()

    def to_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-friendly): ``MLP(**model.to_config())`` rebuilds the model."""
        return {"widths": list(self.widths), "activation": self.activation, "seed": self.seed}
