"""A multi-layer photonic chip as a black box: heater phases in, detector powers out.

Layer l is an N-port MZI mesh (Clements or Reck) with an output phase screen;
between layers sits the electro-optic activation, whose tap detectors are
layer l's monitor readout. The last layer is read by a detector on every
output port. The trainer sees only ``LayerInfo``, heater settings and powers.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from ..blackbox import INTERVAL, PERIODIC, LayerInfo, ParamState, QueryCounter, check_inputs, check_settings
from ..errors import UserInputError
from .activation import EOActivation
from .compiled import CompiledMesh, route_kwargs
from .decompose import initial_phases
from .encoding import CoherentInput, encoder_for
from .mesh_spec import MeshSpec, build_mesh
from .effects import (EnergyModel, apply_crosstalk, column_loss_amplitude, couplings_at_wavelength,
                      crosstalk_matrix, detect, detector_scales, draw_couplings, draw_mzi_loss, draw_phase_offsets,
                      draw_responsivity, drift_step, drive_phases, effect_rng, grid_heater_positions, heater_power_mW,
                      phase_scale)
from .forward import forward_powers
from .nonideal_config import DESIGN_WAVELENGTH_UM, NonIdealConfig, as_config
from .physical import Physics, PhysicalInstance, bounded_initial, check_physical, grid_positions

INITS = ("haar", "identity", "uniform")


class PhotonicChip:
    """An L-layer chip of N-port meshes implementing ``LayeredBlackBox`` and ``DifferentiableTwin``.

    Without ``physics`` it is the paper's normalized chip (unit input power, periodic phases, ``gain`` per
    unit power). With ``physics`` (the [budget], [detector], [heaters], [thermal], [clock], [activation]
    tables) it is the chip in SI units: fields in sqrt(mW), readings in mW, each heater a bounded drive
    (nominal phase in [0, theta_max]). ``heater_positions(spec) -> {heater: (x_um, y_um)}`` places the
    heaters for thermal crosstalk with ``positions = "layout"`` (the layout package provides it).
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
        physics: Physics | Mapping[str, Any] | None = None,
        fold: int = 1,
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
        self.physics = None if physics is None else Physics.from_dict(physics)
        if self.physics is not None:
            check_physical(self.nonideal, dict(alpha=alpha, gain=gain, phase_bias=phase_bias, input_power=input_power))
        self.heater_positions = heater_positions
        self.wavelength_um = float(wavelength_um)
        self.instance_seed = int(instance_seed)
        self.specs: list[MeshSpec] = [build_mesh(mesh, int(ports)) for _ in range(int(layers))]
        if route_lengths is not None and len(route_lengths) != len(self.specs):
            raise UserInputError(f"route_lengths needs one (n_columns + 1, N) array per layer ({len(self.specs)}), got {len(route_lengths)}")
        self.route_lengths = None if route_lengths is None else [np.asarray(r, dtype=float) for r in route_lengths]
        self.activation = EOActivation(alpha=alpha, gain=gain, phase_bias=phase_bias)
        self.encoder = encoder_for(int(n_features), int(ports), image_shape)
        if self.physics is not None:  # the drawn coherent input: fields per unit on-chip power
            self.encoder = CoherentInput(self.encoder, self.physics.input)
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
        if self.physics is not None:
            self._config["physics"] = self.physics.to_dict(compact=True)
        if fold != 1:  # the drawn layout's serpentine: kept so a reloaded run rebuilds its positions and routes
            self._config["fold"] = int(fold)
        theta_max = None if self.physics is None else self.physics.heaters.phase_range_rad
        domain = dict(domain=PERIODIC) if theta_max is None else dict(domain=INTERVAL, low=0.0, high=float(theta_max))
        self._infos = [
            LayerInfo(
                n_params=spec.n_params, out_shape=(spec.n_ports,), readout="power",
                param_names=tuple(f"L{l}_{h}" for h in spec.heater_names), **domain,
            )
            for l, spec in enumerate(self.specs)
        ]
        rng = np.random.default_rng(seed)
        initial = [initial_phases(spec, init, rng) for spec in self.specs]
        if theta_max is not None:
            initial = [bounded_initial(p, theta_max, rng) for p in initial]
        self._state = ParamState(self._infos, initial)
        self.counter = QueryCounter()
        self.energy_model = EnergyModel()
        self.heater_energy_J: float | None = None  # metered from meter_heater_energy() on
        self._draws_start: tuple | None = None  # a compiled run's lab state before its draws: a refusal rewinds to it
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

    def sim_state(self) -> dict[str, Any]:
        """Noise and drift streams, drift so far and lab clock (JSON-able): a checkpoint keeps them for exact resume."""
        state = {"noise": self._noise_rng.bit_generator.state, "drift_rng": self._drift_rng.bit_generator.state,
                 "drift": [d.tolist() for d in self._drift]}
        return state if self.physical is None else {**state, "physical": self.physical.sim_state()}

    def load_sim_state(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`sim_state` of this chip."""
        self._noise_rng.bit_generator.state = state["noise"]
        self._drift_rng.bit_generator.state = state["drift_rng"]
        self._drift = [np.asarray(d, dtype=float) for d in state["drift"]]
        if self.physical is not None:
            self.physical.load_sim_state(state["physical"])

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
        """Commit one layer's parameters; on a physical chip a setting above the power limit is refused."""
        before = self._state.params[layer]
        self._state.set(layer, params)
        if self.physical is not None:
            try:
                self.physical.check_power(self.heater_power_W())
            except UserInputError:
                self._state.params[layer] = before
                raise

    def query(self, x: np.ndarray, layer: int, settings=None) -> np.ndarray:
        """Detector powers of ``layer`` (monitor taps, or the output detectors of the last layer); mW on a physical chip."""
        x = check_inputs(x, self.n_inputs)
        settings, m = check_settings(self._infos, layer, settings)
        metered = self.heater_energy_J is not None and bool(settings)
        total_W = self.heater_power_W(settings) if self.physical is not None or metered else None
        if self.physical is not None:
            self.physical.check_power(total_W)  # a refused setting is neither run nor metered (as compiled)
        if metered:
            self.heater_energy_J += float(total_W.sum() * self.energy_model.setting_time_s(len(x)))
        if self.physical is not None:
            return self._physical_query(x, layer, settings, m)
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

    def _physical_query(self, x: np.ndarray, layer: int, settings: dict, m: int) -> np.ndarray:
        """Readings (mW) of a physical chip, its power checked: lab time (settling, integration, drift), fields, detectors."""
        phys = self.physical
        phys.advance_call(m, len(x))
        transfers = [self._transfer(l, settings) for l in range(layer + 1)]
        power = forward_powers(self.input_fields(x)[None], transfers, phys.activations, self.n_layers)
        self.counter.record(m, len(x), layer + 1)
        return phys.read(layer, power)

    def _transfer(self, layer: int, settings: dict):
        """Fields -> fields through mesh ``layer`` at its candidate (or committed) settings; the fabricated
        instance (drive, crosstalk, offsets, drift, dispersion, column loss) unless the chip is ideal."""
        params = settings.get(layer, self._state.params[layer][None, :])
        if self._ideal_path:
            return lambda fields: _propagate(self.meshes[layer], params, fields)
        amp = self.field_amplitude(layer)

        def run(fields):
            phases = self.physical_phases(layer, np.atleast_2d(params))
            fields = _propagate(self._phys_meshes[layer], phases, fields)
            return fields if amp == 1.0 else fields * amp

        return run

    def input_fields(self, x: np.ndarray) -> np.ndarray:
        """Complex fields (B, N) the laser and input modulators put on the first mesh for features x (B, n_inputs).

        Each sample carries the input power (on a physical chip: the coherent input's fields x sqrt(laser after its IO
        coupler, in mW), so the splitter tree and the modulators' losses are counted there once).
        """
        return self.encoder.encode(x) * np.sqrt(self.input_power if self.physical is None else self.physical.input_mW)

    def detector_powers(self, x: np.ndarray) -> list[np.ndarray]:
        """Noise-free optical power (B, N) on every layer's detectors at the committed settings (a simulation view;
        no query is counted and no lab time passes). mW on a physical chip."""
        x = check_inputs(x, self.n_inputs)
        transfers = [self._transfer(l, {}) for l in range(self.n_layers)]
        cells = self.activation if self.physical is None else self.physical.activations
        return [p[0] for p in forward_powers(self.input_fields(x)[None], transfers, cells, self.n_layers, every_layer=True)]

    # ---------- DifferentiableTwin ----------
    def twin_params(self) -> list[Any]:
        import jax.numpy as jnp

        return [jnp.asarray(p) for p in self._state.params]

    def twin_forward(self, params: list[Any], x: Any) -> list[Any]:
        """Every layer's detector powers for the nominal design, differentiable in jax (the digital-twin path).

        Runs in the dtype jax is set to; call it under ``jax.enable_x64(True)`` for float64.
        """
        from . import measure_jax

        return measure_jax.twin_powers(self, params, x, calibrated=False)

    def calibrated_twin_forward(self, params: list[Any], x: Any) -> list[Any]:
        """:meth:`twin_forward` of this fabricated instance, its static errors known exactly (couplers, losses, heater
        P_pi and offsets, crosstalk, drift so far; no noise, no DAC rounding): a perfect calibration's twin."""
        from . import measure_jax

        return measure_jax.twin_powers(self, params, x, calibrated=not self._ideal_path)

    def load_twin_params(self, params: list[Any]) -> None:
        for l, p in enumerate(params):
            self.set_params(l, np.asarray(p))

    def compiled_query(self, params: list[Any], x: Any, layer: int, lab: Any = None) -> Any:
        """``query`` as a pure jax function (jit-able, uncounted: the caller records the cost).

        ``params[l]`` is (P,) or a candidate stack (M, P) for layers 0..layer; returns (M, B, N) readings, or (B, N)
        when no layer has candidates. A fabricated or physical chip takes one call's slice of :meth:`lab_draws` as
        ``lab`` (its noise and drift); without it, the optical powers on its detectors at the drift so far.
        """
        from . import measure_jax

        if self._ideal_path:
            return measure_jax.ideal_query(self, params, x, layer)
        return measure_jax.fabricated_query(self, params, x, layer, lab)

    def compiled_stage(self, layer: int) -> Any:
        """None, or :meth:`compiled_query` of ``layer`` split where that layer starts (the ideal chip, whose committed
        layers read the same for the same input): (stage_input(params, x), stage_query(params[layer], z))."""
        from . import measure_jax

        return measure_jax.ideal_stage(self, layer) if self._ideal_path else None

    def lab_draws(self, xs: np.ndarray, n_settings: int, layer: int) -> Any:
        """The noise, drift and input fields of queries of inputs xs (S, B, n_in), for :meth:`compiled_query`; the lab
        state moves on as theirs would (None for the ideal chip)."""
        from . import measure_jax

        return measure_jax.lab_draws(self, xs, n_settings, layer)

    def compiled_setting_power(self) -> Any:
        """None, or a :class:`~ffzero_photonics.blackbox.SettingPower`: heater power (W) per setting, and the host
        function that refuses a physical chip's over-limit setting as ``query`` does and meters energy."""
        from . import measure_jax

        return measure_jax.setting_power(self)

    def meter_heater_energy(self) -> None:
        """From now on add up the heater energy (J) of every query with candidate settings (the training queries) in
        :attr:`heater_energy_J`, on either engine (``EnergyModel``: settling plus sampling time per setting)."""
        self.heater_energy_J = 0.0

    # ---------- the fabricated instance (simulation-only views and controls) ----------
    def _fabricate(self, seed: int) -> None:
        """Draw this instance's static errors once and build the physical meshes at the chip's wavelength."""
        cfg, fab, inst = self.nonideal, self.nonideal.fabrication, self.instance_seed
        self._ideal_path = cfg.is_ideal and self.wavelength_um == DESIGN_WAVELENGTH_UM and self.physics is None
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
        self.full_scale, self.reference_power = detector_scales(self.activation, self.input_power, n_layers, n)
        self.physical = None
        if self.physics is not None:
            self.physical = PhysicalInstance(
                self.physics, self.specs, positions=[self._physics_positions(s) for s in self.specs],
                rngs={k: effect_rng(seed, inst, f"physics_{k}") for k in ("heaters", "drift", "noise")},
                wavelength_um=self.wavelength_um,
            )
            self.physical.check_power(self.heater_power_W())

    def _physics_positions(self, spec: MeshSpec) -> Mapping[str, tuple[float, float]]:
        th = self.physics.thermal
        if th.positions == "grid":
            return grid_positions(spec, th.grid_pitch_x_um, th.grid_pitch_y_um)
        if self.heater_positions is None:
            raise UserInputError(
                "[thermal] positions = 'layout' needs the drawn layout's heater positions: build the chip with "
                "ffzero_photonics.chip_factory (or heater_positions=<layout function>), got None")
        return self.heater_positions(spec)

    def _heater_positions(self, spec: MeshSpec) -> Mapping[str, tuple[float, float]]:
        if self.heater_positions is None:
            raise UserInputError(
                "[nonideal.crosstalk] positions = 'layout' needs the layout's heater positions: "
                "build the chip with heater_positions=<layout function>, got None"
            )
        return self.heater_positions(spec)

    @property
    def is_ideal(self) -> bool:
        """True when the chip is the ideal design at 1.55 um (no non-ideality acts)."""
        return self._ideal_path

    def physical_phases(self, layer: int, params: Any, *, total_W=None, drift: Any = None, xp=np) -> Any:
        """Phases the heaters of ``layer`` really produce for requested params (M, P) or (P,): drive, crosstalk, offsets, drift, dispersion.

        On a physical chip ``total_W`` (M,) is the chip's heater power of each setting: the global heating it causes is
        a common phase that leaves these phases unchanged (see ``PhysicalInstance.phases``). ``drift`` (P,) replaces
        the heaters' drift so far (the compiled measurement passes each call's); ``xp`` is numpy or jax.numpy.
        """
        params = xp.asarray(params, dtype=float)
        if self._ideal_path:
            return params
        p2 = xp.atleast_2d(params)
        if self.physical is not None:
            phases = self._with_static_errors(layer, self.physical.phases(layer, p2, total_W, drift=drift, xp=xp))
        else:
            phases = apply_crosstalk(drive_phases(p2, self.nonideal.drive, xp=xp), self._crosstalk[layer], xp)
            phases = self._with_static_errors(layer, phases, drift)
        return phases if params.ndim == 2 else phases[0]

    def field_amplitude(self, layer: int) -> float:
        """Field amplitude mesh ``layer`` of this instance keeps: its column loss (and a physical chip's path loss)."""
        return self._column_amp[layer] * (1.0 if self.physical is None else self.physical.loss_amplitude(layer))

    def _with_static_errors(self, layer: int, phases: Any, drift: Any = None) -> Any:
        """Heater phases plus this instance's fabrication offsets and drift (``drift``: a given one), scaled to the
        operating wavelength."""
        phases = phases + (self._offsets[layer] + (self._drift[layer] if drift is None else drift))
        return phases * phase_scale(self.wavelength_um) if self.wavelength_um != DESIGN_WAVELENGTH_UM else phases

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
        return self.total_power_W([settings.get(l, self._state.params[l][None, :]) for l in range(self.n_layers)])

    def total_power_W(self, thetas: list[Any], xp=np) -> Any:
        """Total heater power (W) of each setting (M,) for every layer's (M or 1, P) requested phases, numpy or jax."""
        if self.physical is not None:
            return self.physical.total_power_W(thetas, xp)
        drive = self.nonideal.drive
        mW = sum(heater_power_mW(drive_phases(t, drive, xp=xp), drive.p_pi_mW, xp=xp).sum(axis=1) for t in thetas)
        return xp.atleast_1d(mW) * 1e-3

    def _clone(self, **overrides: Any) -> "PhotonicChip":
        chip = PhotonicChip.from_config({**self.to_config(), "heater_positions": self.heater_positions, **overrides})
        for l in range(self.n_layers):
            chip.set_params(l, self._state.params[l])
        return chip

    def ideal_copy(self) -> "PhotonicChip":
        """The ideal design (no non-idealities, 1.55 um; a physical chip's nominal phases on the paper chip) with this
        chip's committed phases."""
        return self._clone(nonideal=None, wavelength_um=DESIGN_WAVELENGTH_UM, physics=None)

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
        return u * self.field_amplitude(layer)

    def heater_table(self) -> list[dict[str, Any]]:
        """Heater name and committed phase of every heater on the chip."""
        return [{"heater": name, "layer": l, "phase_rad": float(phase)} for l, info in enumerate(self._infos)
                for name, phase in zip(info.param_names, self._state.params[l])]


def _propagate(mesh, params: np.ndarray, fields: np.ndarray) -> np.ndarray:
    """Fields (M or 1, B, N) through M or 1 settings; a committed layer after perturbed ones is shared."""
    if fields.shape[0] == 1:
        return mesh.propagate(params, fields[0])
    if params.shape[0] == 1:
        params = np.broadcast_to(params, (fields.shape[0], params.shape[1]))
    return mesh.propagate(params, fields)

