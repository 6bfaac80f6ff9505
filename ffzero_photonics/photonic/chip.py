"""A multi-layer photonic chip as a black box: heater phases in, detector powers out.

Layer l is an N-port MZI mesh (Clements or Reck) with an output phase screen;
between layers sits the electro-optic activation, whose tap detectors are
layer l's monitor readout. The last layer is read by a detector on every
output port. The trainer sees only ``LayerInfo``, heater settings and powers.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from ..blackbox import PERIODIC, LayerInfo, ParamState, QueryCounter, check_inputs, check_settings
from ..errors import UserInputError
from .activation import EOActivation
from .compiled import CompiledMesh, route_kwargs
from .decompose import haar_phases
from .encoding import ImageEncoder, VectorEncoder
from .mesh_spec import MeshSpec, build_mesh
from .effects import (
    EnergyModel,
    apply_crosstalk,
    column_loss_amplitude,
    couplings_at_wavelength,
    crosstalk_matrix,
    detect,
    draw_couplings,
    draw_mzi_loss,
    draw_phase_offsets,
    draw_responsivity,
    drift_step,
    drive_phases,
    effect_rng,
    grid_heater_positions,
    heater_power_mW,
    phase_scale,
)
from .forward import forward_powers
from .nonideal_config import DESIGN_WAVELENGTH_UM, NonIdealConfig, as_config

INITS = ("haar", "identity", "uniform")


class PhotonicChip:
    """An L-layer chip of N-port meshes implementing ``LayeredBlackBox`` and ``DifferentiableTwin``.

    ``heater_positions(spec) -> {heater: (x_um, y_um)}`` places the heaters for
    thermal crosstalk with ``positions = "layout"`` (the layout package provides it).
    """

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
        nonideal: NonIdealConfig | dict | None = None,
        wavelength_um: float = DESIGN_WAVELENGTH_UM,
        instance_seed: int = 0,
        route_lengths: list | None = None,
        heater_positions: Callable[[MeshSpec], Mapping[str, tuple[float, float]]] | None = None,
    ):
        if not isinstance(layers, (int, np.integer)) or layers < 1:
            raise UserInputError(f"a chip needs at least one layer, got layers={layers!r}")
        if init not in INITS:
            raise UserInputError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
        if not (np.isfinite(input_power) and input_power > 0):
            raise UserInputError(f"input_power must be positive, got {input_power!r}")
        if isinstance(wavelength_um, bool) or not (np.isfinite(wavelength_um) and wavelength_um > 0):
            raise UserInputError(f"wavelength_um must be a positive number of micrometres, got {wavelength_um!r}")
        if isinstance(instance_seed, bool) or not isinstance(instance_seed, (int, np.integer)) or instance_seed < 0:
            raise UserInputError(f"instance_seed must be a non-negative integer, got {instance_seed!r}")
        self.nonideal = as_config(nonideal)
        self.heater_positions = heater_positions
        self.wavelength_um = float(wavelength_um)
        self.instance_seed = int(instance_seed)
        self.specs: list[MeshSpec] = [build_mesh(mesh, int(ports)) for _ in range(int(layers))]
        if route_lengths is not None and len(route_lengths) != len(self.specs):
            raise UserInputError(f"route_lengths needs one (n_columns + 1, N) array per layer ({len(self.specs)}), got {len(route_lengths)}")
        self.route_lengths = None if route_lengths is None else [np.asarray(r, dtype=float) for r in route_lengths]
        self.activation = EOActivation(alpha=alpha, gain=gain, phase_bias=phase_bias)
        self.encoder = _encoder(int(n_features), int(ports), image_shape)
        self.meshes = [CompiledMesh(spec, **route_kwargs(spec, self._layer_routes(l))) for l, spec in enumerate(self.specs)]
        self.input_power = float(input_power)
        self._config = dict(
            n_features=int(n_features), ports=int(ports), layers=int(layers), mesh=mesh,
            image_shape=list(image_shape) if image_shape else None, alpha=alpha, gain=gain,
            phase_bias=phase_bias, input_power=input_power, init=init, seed=seed,
            nonideal=self.nonideal.to_dict(compact=True) or None, wavelength_um=self.wavelength_um,
            instance_seed=self.instance_seed,
            route_lengths=None if self.route_lengths is None else [r.tolist() for r in self.route_lengths],
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
        self.energy_model = EnergyModel()
        self._fabricate(int(seed))

    def _layer_routes(self, layer: int):
        """Route lengths (n_columns + 1, N) µm of one mesh, or None for an unrouted chip."""
        return None if self.route_lengths is None else self.route_lengths[layer]

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
        if not self._ideal_path:
            self.advance_drift(1)
        transfers = [self._transfer(l, settings) for l in range(layer + 1)]
        power = forward_powers(self.input_fields(x)[None], transfers, self.activation, self.n_layers)
        self.counter.record(m, len(x), layer + 1)
        det = self.nonideal.detection
        if not det.enabled:
            return power
        return detect(
            power, det, self._noise_rng, responsivity=self._responsivity[layer],
            reference_power=self.reference_power, full_scale=self.full_scale[layer],
        )

    def _transfer(self, layer: int, settings: dict):
        """Fields -> fields through mesh ``layer`` at its candidate (or committed) settings; the fabricated
        instance (drive, crosstalk, offsets, drift, dispersion, column loss) unless the chip is ideal."""
        params = settings.get(layer, self._state.params[layer][None, :])
        if self._ideal_path:
            return lambda fields: _propagate(self.meshes[layer], params, fields)
        amp = self._column_amp[layer]

        def run(fields):
            fields = _propagate(self._phys_meshes[layer], self.physical_phases(layer, params), fields)
            return fields if amp == 1.0 else fields * amp

        return run

    def input_fields(self, x: np.ndarray) -> np.ndarray:
        """Complex fields (B, N) the laser and input modulators put on the first mesh for features x (B, n_inputs)."""
        return self.encoder.encode(x) * np.sqrt(self.input_power)

    # ---------- DifferentiableTwin ----------
    def twin_params(self) -> list[Any]:
        import jax.numpy as jnp

        return [jnp.asarray(p) for p in self._state.params]

    def twin_forward(self, params: list[Any], x: Any) -> list[Any]:
        """Every layer's detector powers, differentiable in jax (the digital-twin path).

        Runs in the dtype jax is set to; call it under ``jax.enable_x64(True)`` for float64.
        """
        import jax.numpy as jnp

        a = jnp.asarray(x) @ jnp.asarray(self.encoder.matrix).T
        a = a / jnp.sqrt(jnp.sum(a * a, axis=-1, keepdims=True) + 1e-24)
        fields = (a + 0j) * np.sqrt(self.input_power)

        def transfer(l):
            return lambda fields: self.meshes[l].propagate_jax(params[l][None, :], fields)[0]

        return forward_powers(fields, [transfer(l) for l in range(self.n_layers)], self.activation, self.n_layers,
                              xp=jnp, every_layer=True)

    def load_twin_params(self, params: list[Any]) -> None:
        for l, p in enumerate(params):
            self.set_params(l, np.asarray(p))

    # ---------- the fabricated instance (simulation-only views and controls) ----------
    def _fabricate(self, seed: int) -> None:
        """Draw this instance's static errors once and build the physical meshes at the chip's wavelength."""
        cfg, fab, inst = self.nonideal, self.nonideal.fabrication, self.instance_seed
        self._ideal_path = cfg.is_ideal and self.wavelength_um == DESIGN_WAVELENGTH_UM
        n, n_layers = self.specs[0].n_ports, len(self.specs)
        rng = {name: effect_rng(seed, inst, name) for name in ("coupler", "mzi_loss", "phase_offset", "responsivity")}
        self._coupling = [
            draw_couplings(s.n_mzis, fab.coupler_std, rng["coupler"]) if fab.coupler_std > 0 else np.full((s.n_mzis, 2), 0.5)
            for s in self.specs
        ]
        self._mzi_loss_dB = [
            draw_mzi_loss(s.n_mzis, fab.mzi_loss_dB, fab.mzi_loss_std_dB, rng["mzi_loss"]) for s in self.specs
        ]
        self._offsets = [draw_phase_offsets(s.n_params, fab.phase_offset_std, rng["phase_offset"]) for s in self.specs]
        std = cfg.detection.responsivity_std
        self._responsivity = [
            draw_responsivity(n, std, rng["responsivity"]) if std > 0 else None for _ in range(n_layers)
        ]
        self._column_amp = [column_loss_amplitude(s.n_columns, fab.column_loss_dB) for s in self.specs]
        self._drift = [np.zeros(s.n_params) for s in self.specs]
        self._drift_rng = effect_rng(seed, inst, "drift")
        self._noise_rng = effect_rng(seed, inst, "noise")
        xt = cfg.crosstalk
        self._crosstalk = [None] * n_layers
        if xt.enabled:
            for l, s in enumerate(self.specs):
                pos = self._heater_positions(s) if xt.positions == "layout" else grid_heater_positions(s, xt.pitch_x_um, xt.pitch_y_um)
                self._crosstalk[l] = crosstalk_matrix(s.heater_names, pos, xt.kappa, xt.decay_length_um)
        if self._ideal_path:
            self._phys_meshes = self.meshes
        else:
            slope = cfg.dispersion.coupling_slope_per_um
            self._phys_meshes = [
                CompiledMesh(
                    s, coupling=couplings_at_wavelength(c, self.wavelength_um, slope), mzi_loss_dB=loss,
                    **route_kwargs(s, self._layer_routes(l), wl=self.wavelength_um),
                )
                for l, (s, c, loss) in enumerate(zip(self.specs, self._coupling, self._mzi_loss_dB))
            ]
        self.full_scale, self.reference_power = self._detector_scales()

    def _heater_positions(self, spec: MeshSpec) -> Mapping[str, tuple[float, float]]:
        if self.heater_positions is None:
            raise UserInputError(
                "[nonideal.crosstalk] positions = 'layout' needs the layout's heater positions: "
                "build the chip with heater_positions=<layout function>, got None"
            )
        return self.heater_positions(spec)

    def _detector_scales(self) -> tuple[list[float], float]:
        """ADC full scale of each readout (most power one of its detectors can get) and the SNR reference P_in / N."""
        act, p = self.activation, self.input_power
        grid = np.linspace(0.0, 1.0, 4097)
        scales = []
        for l in range(len(self.specs)):
            scales.append(act.alpha * p if l < len(self.specs) - 1 else p)
            q = grid * p
            p = float(np.max((1 - act.alpha) * np.cos(act.phase(q)) ** 2 * q))
        return scales, self.input_power / self.specs[0].n_ports

    @property
    def is_ideal(self) -> bool:
        """True when the chip is the ideal design at 1.55 um (no non-ideality acts)."""
        return self._ideal_path

    def physical_phases(self, layer: int, params: np.ndarray) -> np.ndarray:
        """Phases the heaters of ``layer`` really produce for requested params (M, P) or (P,): drive, crosstalk, offsets, drift, dispersion."""
        params = np.asarray(params, dtype=float)
        if self._ideal_path:
            return params
        phases = apply_crosstalk(drive_phases(np.atleast_2d(params), self.nonideal.drive), self._crosstalk[layer])
        phases = phases + (self._offsets[layer] + self._drift[layer])
        if self.wavelength_um != DESIGN_WAVELENGTH_UM:
            phases = phases * phase_scale(self.wavelength_um)
        return phases if params.ndim == 2 else phases[0]

    def advance_drift(self, n_calls: int = 1) -> None:
        """Let the time of ``n_calls`` query calls pass: every heater offset takes that many random-walk steps."""
        sigma = self.nonideal.drift.sigma
        if sigma > 0:
            self._drift = [drift_step(d, sigma, self._drift_rng, n_calls) for d in self._drift]

    def drift_offsets(self, layer: int) -> np.ndarray:
        """Accumulated drift (rad) of every heater of one mesh."""
        return self._drift[layer].copy()

    def heater_power_W(self, settings=None) -> np.ndarray:
        """Total electrical heater power (W) of the chip for each candidate setting (M,); unset layers keep committed phases."""
        settings = {int(k): np.atleast_2d(np.asarray(v, dtype=float)) for k, v in (settings or {}).items()}
        drive = self.nonideal.drive
        total = 0.0
        for l in range(self.n_layers):
            params = settings.get(l, self._state.params[l][None, :])
            total = total + heater_power_mW(drive_phases(params, drive), drive.p_pi_mW).sum(axis=1)
        return np.atleast_1d(total) * 1e-3

    def query_energy_J(self, n_samples: int, settings=None) -> float:
        """Heater energy (J) of one query of ``n_samples`` inputs per setting (see ``EnergyModel``)."""
        return float(self.heater_power_W(settings).sum() * self.energy_model.setting_time_s(n_samples))

    def _clone(self, **overrides: Any) -> "PhotonicChip":
        chip = PhotonicChip.from_config({**self.to_config(), "heater_positions": self.heater_positions, **overrides})
        for l in range(self.n_layers):
            chip.set_params(l, self._state.params[l])
        return chip

    def ideal_copy(self) -> "PhotonicChip":
        """The ideal design (no non-idealities, 1.55 um) with this chip's committed phases."""
        return self._clone(nonideal=None, wavelength_um=DESIGN_WAVELENGTH_UM)

    def fabricate(self, instance_seed: int) -> "PhotonicChip":
        """Another fabricated instance of the same design and non-idealities, programmed with these phases."""
        return self._clone(instance_seed=instance_seed)

    def with_nonideal(self, nonideal: NonIdealConfig | dict | None) -> "PhotonicChip":
        """This design and instance seed under other non-idealities, programmed with these phases."""
        return self._clone(nonideal=as_config(nonideal).to_dict(compact=True) or None)

    def at_wavelength(self, wavelength_um: float) -> "PhotonicChip":
        """The same fabricated instance, phases and drift state, operated at ``wavelength_um``."""
        chip = self._clone(wavelength_um=float(wavelength_um))
        chip._drift = [d.copy() for d in self._drift]
        return chip

    # ---------- what users of a chip want besides training ----------
    def unitary(self, layer: int) -> np.ndarray:
        """The committed transfer matrix of one mesh (a simulation-only view, never used by the trainer).

        For a non-ideal chip this is the fabricated mesh at the current drift, loss included.
        """
        if self._ideal_path:
            return self.meshes[layer].unitary(self._state.params[layer])
        u = self._phys_meshes[layer].unitary(self.physical_phases(layer, self._state.params[layer]))
        return u * self._column_amp[layer]

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

        from ..runs.plots import heater_phase_map

        heater_phase_map([self.phase_grid(l) for l in range(self.n_layers)], Path(out_dir) / "heater_phases.png")


def _propagate(mesh, params: np.ndarray, fields: np.ndarray) -> np.ndarray:
    """Fields (M or 1, B, N) through M or 1 settings; a committed layer after perturbed ones is shared."""
    if fields.shape[0] == 1:
        return mesh.propagate(params, fields[0])
    if params.shape[0] == 1:
        params = np.broadcast_to(params, (fields.shape[0], params.shape[1]))
    return mesh.propagate(params, fields)


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
