"""A multi-layer photonic chip as a black box: heater phases in, detector powers out.

Layer l is an N-port MZI mesh (Clements or Reck) with an output phase screen;
between layers sits the electro-optic activation, whose tap detectors are
layer l's monitor readout. The last layer is read by a detector on every
output port. The trainer sees only ``LayerInfo``, heater settings and powers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..blackbox import PERIODIC, LayerInfo, ParamState, QueryCounter, check_inputs, check_settings
from .activation import EOActivation
from .compiled import CompiledMesh
from .decompose import haar_phases
from .encoding import ImageEncoder, VectorEncoder
from .mesh_spec import MeshSpec, build_mesh

INITS = ("haar", "identity", "uniform")


class PhotonicChip:
    """An L-layer chip of N-port meshes implementing ``LayeredBlackBox`` and ``DifferentiableTwin``."""

    def __init__(
        self,
        n_features: int,
        *,
        ports: int = 16,
        layers: int = 2,
        mesh: str = "clements",
        image_shape: tuple[int, int] | None = None,
        alpha: float = 0.1,
        gain: float = 0.05 * np.pi,
        phase_bias: float = np.pi,
        input_power: float = 1.0,
        init: str = "haar",
        seed: int = 0,
    ):
        if not isinstance(layers, (int, np.integer)) or layers < 1:
            raise ValueError(f"a chip needs at least one layer, got layers={layers!r}")
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
        if not (np.isfinite(input_power) and input_power > 0):
            raise ValueError(f"input_power must be positive, got {input_power!r}")
        self.specs: list[MeshSpec] = [build_mesh(mesh, int(ports)) for _ in range(int(layers))]
        self.activation = EOActivation(alpha=alpha, gain=gain, phase_bias=phase_bias)
        self.encoder = _encoder(int(n_features), int(ports), image_shape)
        self.meshes = [CompiledMesh(spec) for spec in self.specs]
        self.input_power = float(input_power)
        self._config = dict(
            n_features=int(n_features), ports=int(ports), layers=int(layers), mesh=mesh,
            image_shape=list(image_shape) if image_shape else None, alpha=alpha, gain=gain,
            phase_bias=phase_bias, input_power=input_power, init=init, seed=seed,
        )
        self._infos = [
            LayerInfo(
                n_params=spec.n_params, out_shape=(spec.n_ports,), domain=PERIODIC,
                readout="power", param_names=tuple(f"L{l}_{h}" for h in spec.heater_names),
            )
            for l, spec in enumerate(self.specs)
        ]
        rng = np.random.default_rng(seed)
        self._state = ParamState(self._infos, [_initial_phases(spec, init, rng) for spec in self.specs])
        self.counter = QueryCounter()

    # ---------- construction ----------
    @classmethod
    def for_data(cls, data: Any, *, seed: int = 0, **options: Any) -> "PhotonicChip":
        """A chip sized for a dataset: image data is pooled/resampled onto the input ports."""
        shape = tuple(data.feature_shape)
        return cls(data.X_train.shape[1], image_shape=shape if len(shape) == 2 else None, seed=seed, **options)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "PhotonicChip":
        config = dict(config)
        n_features = config.pop("n_features")
        if config.get("image_shape"):
            config["image_shape"] = tuple(config["image_shape"])
        return cls(n_features, **config)

    def to_config(self) -> dict[str, Any]:
        return dict(self._config)

    # ---------- LayeredBlackBox ----------
    @property
    def n_layers(self) -> int:
        return len(self.specs)

    @property
    def n_inputs(self) -> int:
        return self.encoder.n_inputs

    def layer_info(self, layer: int) -> LayerInfo:
        return self._infos[layer]

    def get_params(self, layer: int) -> np.ndarray:
        return self._state.get(layer)

    def set_params(self, layer: int, params: np.ndarray) -> None:
        self._state.set(layer, params)

    def query(self, x: np.ndarray, layer: int, settings=None) -> np.ndarray:
        """Detector powers of ``layer`` (monitor taps, or the output detectors of the last layer)."""
        x = check_inputs(x, self.n_inputs)
        settings, m = check_settings(self._infos, layer, settings)
        fields = self.encoder.encode(x) * np.sqrt(self.input_power)
        fields = fields[None]
        for l in range(layer + 1):
            params = settings.get(l, self._state.params[l][None, :])
            fields = self.meshes[l].propagate(params, fields if fields.shape[0] > 1 else fields[0])
            if l < layer:
                fields = self.activation(fields)
        self.counter.record(m, len(x), layer + 1)
        return self._readout(np, fields, layer)

    def _readout(self, xp, fields, layer: int):
        if layer < self.n_layers - 1:
            return self.activation.monitor_power_jax(fields) if xp is not np else self.activation.monitor_power(fields)
        return xp.abs(fields) ** 2

    # ---------- DifferentiableTwin ----------
    def twin_params(self) -> list[Any]:
        import jax.numpy as jnp

        return [jnp.asarray(p) for p in self._state.params]

    def twin_forward(self, params: list[Any], x: Any) -> list[Any]:
        """Every layer's detector powers, differentiable in jax (the digital-twin path)."""
        import jax.numpy as jnp

        a = jnp.asarray(x) @ jnp.asarray(self.encoder.matrix).T
        a = a / jnp.sqrt(jnp.sum(a * a, axis=-1, keepdims=True) + 1e-24)
        fields = a.astype(jnp.complex128) * np.sqrt(self.input_power)
        outputs = []
        for l, mesh in enumerate(self.meshes):
            fields = mesh.propagate_jax(params[l][None, :], fields)[0]
            outputs.append(self._readout(jnp, fields, l))
            if l < self.n_layers - 1:
                fields = self.activation.apply_jax(fields)
        return outputs

    def load_twin_params(self, params: list[Any]) -> None:
        for l, p in enumerate(params):
            self.set_params(l, np.asarray(p))

    # ---------- what users of a chip want besides training ----------
    def unitary(self, layer: int) -> np.ndarray:
        """The committed transfer matrix of one mesh (a simulation-only view, never used by the trainer)."""
        return self.meshes[layer].unitary(self._state.params[layer])

    def heater_table(self) -> list[dict[str, Any]]:
        """Heater name and committed phase of every heater on the chip."""
        rows = []
        for l, info in enumerate(self._infos):
            for name, phase in zip(info.param_names, self._state.params[l]):
                rows.append({"heater": name, "layer": l, "phase_rad": float(phase)})
        return rows

    def phase_grid(self, layer: int) -> np.ndarray:
        """Heater phases of one mesh on a (ports, 2*columns + 1) grid (NaN where no heater sits)."""
        spec = self.specs[layer]
        theta, phi, screen = spec.split_params(self._state.params[layer])
        grid = np.full((spec.n_ports, 2 * spec.n_columns + 1), np.nan)
        for k, site in enumerate(spec.mzis):
            grid[site.row, 2 * site.column] = phi[k]
            grid[site.row + 1, 2 * site.column + 1] = theta[k]
        grid[:, -1] = screen
        return grid

    def write_figures(self, out_dir) -> None:
        from pathlib import Path

        from ..plots import heater_phase_map

        heater_phase_map([self.phase_grid(l) for l in range(self.n_layers)], Path(out_dir) / "heater_phases.png")


def _encoder(n_features: int, ports: int, image_shape):
    if image_shape is not None:
        k = int(round(np.sqrt(ports)))
        if k * k == ports:
            h, w = image_shape
            method = "pool" if h % k == 0 and w % k == 0 else "resize"
            return ImageEncoder(image_shape=tuple(image_shape), n_ports=ports, method=method)
    return VectorEncoder(n_features, ports)


def _initial_phases(spec: MeshSpec, init: str, rng: np.random.Generator) -> np.ndarray:
    if init == "haar":
        return haar_phases(spec, rng)
    if init == "identity":
        params = np.zeros(spec.n_params)
        params[0 : 2 * spec.n_mzis : 2] = np.pi
        return params
    return rng.uniform(0, 2 * np.pi, spec.n_params)
