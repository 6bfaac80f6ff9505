"""A model in one file: a trainable tanh readout on fixed random Fourier features of the inputs.

``pip install -e examples/custom_model`` registers it (see pyproject.toml); then
``ffzero train --model rff --features 64`` trains it forward-only like any built-in model.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ffzero_photonics.blackbox import LayerInfo, ParamState, QueryCounter, check_inputs, check_settings
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.registry import ModelEntry, OptionSpec


class RandomFeatures:
    """One layer: tanh(cos(x R + c) W + b); R, c are fixed by the seed, W and b are trained."""

    def __init__(self, n_inputs: int, n_outputs: int, features: int = 64, seed: int = 0):
        for name, value in (("n_inputs", n_inputs), ("n_outputs", n_outputs), ("features", features)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise UserInputError(f"{name} must be a positive integer, got {value!r}")
        self.n_outputs, self.features, self.seed = int(n_outputs), int(features), int(seed)
        self._n_inputs = int(n_inputs)
        rng = np.random.default_rng(seed)
        self._proj = rng.normal(size=(self._n_inputs, self.features))
        self._phase = rng.uniform(0, 2 * np.pi, self.features)
        n_params = (self.features + 1) * self.n_outputs
        self._infos = [LayerInfo(n_params=n_params, out_shape=(self.n_outputs,))]
        self._state = ParamState(self._infos, [rng.normal(scale=1 / np.sqrt(self.features), size=n_params)])
        self.counter = QueryCounter()

    @classmethod
    def for_data(cls, data: Any, *, seed: int = 0, features: int = 64) -> "RandomFeatures":
        return cls(data.X_train.shape[1], max(data.n_classes, 1), features=features, seed=seed)

    # LayeredBlackBox
    n_layers = 1

    @property
    def n_inputs(self) -> int:
        return self._n_inputs

    def layer_info(self, layer: int) -> LayerInfo:
        return self._infos[layer]

    def get_params(self, layer: int) -> np.ndarray:
        return self._state.get(layer)

    def set_params(self, layer: int, params: np.ndarray) -> None:
        self._state.set(layer, params)

    def query(self, x: np.ndarray, layer: int, settings: Mapping[int, np.ndarray] | None = None) -> np.ndarray:
        x = check_inputs(x, self._n_inputs)
        cand, m = check_settings(self._infos, layer, settings)
        params = cand.get(0, self._state.params[0][None])  # (M, P)
        weights = params[:, : self.features * self.n_outputs].reshape(-1, self.features, self.n_outputs)
        bias = params[:, self.features * self.n_outputs :][:, None, :]
        out = np.tanh(np.cos(x @ self._proj + self._phase) @ weights + bias)
        self.counter.record(n_settings=m, n_samples=len(x), depth=1)
        return out

    # PersistentModel
    def to_config(self) -> dict[str, Any]:
        return {"n_inputs": self._n_inputs, "n_outputs": self.n_outputs, "features": self.features, "seed": self.seed}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "RandomFeatures":
        return cls(**config)


ENTRY = ModelEntry(
    name="rff", description="trainable readout on fixed random Fourier features (example plug-in)",
    build=RandomFeatures.for_data, from_config=RandomFeatures.from_config,
    options=(OptionSpec("features", int, 64, "number of random Fourier features"),),
    recipe={"lr": 1e-2}, model_types=("ffzero_rff:RandomFeatures",),
)
