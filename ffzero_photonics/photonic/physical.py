"""One fabricated chip in SI units: the physics tables (budget, heaters, thermal, detector, clock, activation) applied to a mesh stack.

PhotonicChip (``physics=...``) asks a :class:`PhysicalInstance` for the on-chip laser power, each mesh's
loss, each activation's operating point, the phases a bounded heater drive really produces (per-heater
P_pi and offset, thermal crosstalk from heater positions, global heating, drift over lab seconds), the
heater power of every setting (refused above the chip's limit) and the detectors' noisy readings in mW.
Fields carry sqrt(mW). Defaults and their sources: docs/platform_defaults.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import UserInputError
from .activation import EOActivation
from .config_fields import coerce_sections
from .encoding import CoherentInput, InputSection, VectorEncoder
from .mesh_spec import MeshSpec
from .nonideal_config import NonIdealConfig
from .physics.activation import Activation
from .physics.budget import Budget, dbm, mesh_path_counts
from .physics.clock import Clock, drift_offsets
from .physics.detection import Detector
from .physics.heaters import HeaterPowerLimitError, Heaters
from .physics.thermal import Thermal, crosstalk_matrix

__all__ = ["PHYSICS_COVERS", "PHYSICS_SECTIONS", "DrawnPositions", "LayerBudget", "Physics", "PhysicalInstance",
           "bounded_initial", "check_physical", "column_pitch_um", "grid_positions", "input_transmission",
           "route_length_um"]

PHYSICS_SECTIONS = {"budget": Budget, "detector": Detector, "heaters": Heaters, "thermal": Thermal,
                    "clock": Clock, "activation": Activation, "input": InputSection}
# effects of [nonideal.*] the physical model covers itself (table that replaces each)
PHYSICS_COVERS = {"drive": "[heaters]", "crosstalk": "[thermal]", "detection": "[detector]", "drift": "[clock]"}
# the paper's normalized knobs, which a physical chip takes from [budget] and [activation]
NORMALIZED_DEFAULTS = {"alpha": 0.1, "gain": 0.05 * np.pi, "phase_bias": np.pi, "input_power": 1.0}
CROSSTALK_FLOOR = 1e-6  # couplings below this are dropped from the crosstalk matrix
SETTLE_STEP_RAD = math.pi  # a setting waits for a pi step to settle to 1 mrad
_EXP_QUANTILES = -np.log1p(-(np.arange(256) + 0.5) / 256)  # quantiles of an exponential of mean 1


@dataclass(frozen=True)
class Physics:
    """The seven physics tables of a physical chip, each a validated section (see ``PHYSICS_SECTIONS``)."""

    budget: Budget = field(default_factory=Budget)
    detector: Detector = field(default_factory=Detector)
    heaters: Heaters = field(default_factory=Heaters)
    thermal: Thermal = field(default_factory=Thermal)
    clock: Clock = field(default_factory=Clock)
    activation: Activation = field(default_factory=Activation)
    input: InputSection = field(default_factory=InputSection)

    def __post_init__(self):
        coerce_sections(self, PHYSICS_SECTIONS)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "Physics":
        if d is None:
            return cls()
        if isinstance(d, Physics):
            return d
        if not isinstance(d, Mapping):
            raise UserInputError(f"physics must be a table of tables, got {d!r}")
        for key in d:
            if key not in PHYSICS_SECTIONS:
                raise UserInputError(f"unknown physics table [{key}]; allowed: {', '.join(PHYSICS_SECTIONS)}")
        return cls(**{k: PHYSICS_SECTIONS[k].from_dict(v) for k, v in d.items()})

    def to_dict(self, *, compact: bool = False) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            d = getattr(self, f.name).to_dict(compact=compact)
            if d or not compact:
                out[f.name] = d
        return out


@dataclass(frozen=True)
class LayerBudget:
    """Expected optical budget of one mesh layer: its loss, the power entering it and its mean detector power."""

    loss_dB: float
    input_mW: float
    mean_detector_mW: float
    activation: EOActivation | None  # after this mesh (None for the last one)

    @property
    def mean_detector_dBm(self) -> float:
        return float(dbm(self.mean_detector_mW))


def grid_positions(spec: MeshSpec, pitch_x_um: float, pitch_y_um: float) -> dict[str, tuple[float, float]]:
    """Heater name -> (x, y) um on a regular grid (the explicit ``[thermal] positions = "grid"`` option)."""
    from .effects import grid_heater_positions

    return grid_heater_positions(spec, pitch_x_um, pitch_y_um)


def column_pitch_um(spec: MeshSpec, positions: Mapping[str, tuple[float, float]]) -> float:
    """Mean x distance (um) between consecutive MZI columns of a mesh, from its heater positions.

    A mesh drawn folded (bands joined by U-turns) jumps between bands at a fold: then the median step between
    consecutive columns' mean x is the pitch, so a jump is not counted as a column step.
    """
    xs = [positions[site.heaters[1]][0] for site in spec.mzis]
    cols = [site.column for site in spec.mzis]
    if spec.n_columns < 2 or max(cols) == min(cols):
        return float(np.ptp([p[0] for p in positions.values()]) or 0.0)
    pitch = float((max(xs) - min(xs)) / (max(cols) - min(cols)))
    by_column: dict[int, list[float]] = {}
    for c, x in zip(cols, xs):
        by_column.setdefault(c, []).append(x)
    steps = np.abs(np.diff([np.mean(by_column[c]) for c in sorted(by_column)]))
    return pitch if np.allclose(steps, pitch, rtol=1e-9, atol=1e-9) else float(np.median(steps))


class DrawnPositions(dict):
    """Heater name -> (x, y) um of one mesh as drawn, plus ``extra_route_um``: waveguide a path runs beyond the
    straight links between columns (a folded layout's U-turns, mean over ports)."""

    def __init__(self, positions: Mapping[str, tuple[float, float]], extra_route_um: float = 0.0):
        super().__init__(positions)
        self.extra_route_um = float(extra_route_um)


def route_length_um(spec: MeshSpec, positions: Mapping[str, tuple[float, float]]) -> float:
    """Drawn waveguide length (um) of a path through a mesh: column pitch x columns, plus a fold's U-turns."""
    return column_pitch_um(spec, positions) * spec.n_columns + getattr(positions, "extra_route_um", 0.0)


def input_transmission(section: InputSection, n_ports: int) -> float:
    """Expected fraction of the on-chip power the coherent input puts on a mesh: tree and modulator losses x the mean
    fill of a Gaussian (standardized-feature) pattern scaled to its largest port, as ``CoherentInput`` scales it."""
    full = float(np.abs(CoherentInput(VectorEncoder(n_ports, n_ports), section).fields_from_drives(0.0, 0.0)) ** 2)
    a = np.random.default_rng(0).standard_normal((4096, n_ports))
    return full * n_ports * float(np.mean((a / np.abs(a).max(axis=1, keepdims=True)) ** 2))


class PhysicalInstance:
    """The physics of one fabricated chip of ``specs``; random draws come from the given generators."""

    def __init__(self, physics: Physics, specs: Sequence[MeshSpec], *, positions: Sequence[Mapping] ,
                 rngs: Mapping[str, np.random.Generator], wavelength_um: float = 1.55):
        self.physics = physics
        self.specs = list(specs)
        self.wavelength_um = float(wavelength_um)
        h, th = physics.heaters, physics.thermal
        self.theta_max = h.phase_range_rad
        self.heater_draws = [h.draw_instance(s.n_params, rngs["heaters"]) for s in self.specs]
        self.crosstalk = [
            crosstalk_matrix(s.heater_names, pos, th, floor=CROSSTALK_FLOOR) if th.effective_kappa > 0 else None
            for s, pos in zip(self.specs, positions)
        ]
        self.route_um = [route_length_um(s, pos) for s, pos in zip(self.specs, positions)]
        self.layers = self._budget()
        self.detectors = [physics.detector.ranged_for(lb.mean_detector_mW) for lb in self.layers]
        self.drift = [np.zeros(s.n_params) for s in self.specs]
        self.elapsed_s = 0.0
        self.settle_s = float(h.settle_time_s(SETTLE_STEP_RAD))
        self._drift_rng = rngs["drift"]
        self._noise_rng = rngs["noise"]

    # ---------- optical budget ----------
    @property
    def input_mW(self) -> float:
        """Laser power on the chip (mW): the laser after its IO coupler."""
        b = self.physics.budget
        return b.laser_power_mW * 10 ** (-b.io_coupler_loss_dB / 10)

    @property
    def mesh_input_mW(self) -> float:
        """Expected power the coherent input puts on the first mesh (mW), see :func:`input_transmission`."""
        return self.input_mW * input_transmission(self.physics.input, self.specs[0].n_ports)

    def _budget(self) -> list[LayerBudget]:
        """Each layer's loss (MMIs, heater sections, bends, routed length) and its operating point, in chip order."""
        b, cell = self.physics.budget, self.physics.activation
        power, out = self.mesh_input_mW, []
        for l, (s, route) in enumerate(zip(self.specs, self.route_um)):
            counts = mesh_path_counts(s.n_columns, route / max(s.n_columns, 1), io_couplers=0)
            loss = b.path_loss_dB(counts)
            port_mW = power * 10 ** (-loss / 10) / s.n_ports
            if l == len(self.specs) - 1:
                out.append(LayerBudget(loss, power, port_mW, None))
                break
            eo = EOActivation(**cell.operating_point(port_mW).eo_params())
            out.append(LayerBudget(loss, power, eo.alpha * port_mW, eo))
            through = (1 - eo.alpha) * np.cos(eo.phase(port_mW * _EXP_QUANTILES)) ** 2 * port_mW * _EXP_QUANTILES
            power = float(np.mean(through)) * s.n_ports
        return out

    def loss_amplitude(self, layer: int) -> float:
        return 10 ** (-self.layers[layer].loss_dB / 20)

    @property
    def activations(self) -> list[EOActivation]:
        return [lb.activation for lb in self.layers[:-1]]

    # ---------- heaters ----------
    def heater_power_mW(self, layer: int, theta: np.ndarray, xp=np) -> np.ndarray:
        """Electrical power (mW) of each heater for nominal phases theta (M, P) in [0, theta_max], after the DAC."""
        h = self.physics.heaters
        return h.power_W(h.dac(h.volts_for_phase(theta, xp), xp), xp) * 1e3

    def total_power_W(self, thetas: Sequence[np.ndarray], xp=np) -> np.ndarray:
        """Total heater power (W) of each setting (M,) for every layer's (M or 1, P) nominal phases."""
        return xp.atleast_1d(sum(self.heater_power_mW(l, t, xp).sum(axis=-1) for l, t in enumerate(thetas)) * 1e-3)

    def check_power(self, total_W: np.ndarray) -> None:
        """Refuse (never clip) settings whose total heater power exceeds ``[heaters] max_total_power_W``."""
        limit, worst = self.physics.heaters.max_total_power_W, float(np.max(total_W))
        if worst > limit:
            raise HeaterPowerLimitError(
                f"[heaters] max_total_power_W = {limit} W is exceeded: a setting draws {worst:.3f} W "
                "(settings are refused, never clipped)")

    def phases(self, layer: int, theta: np.ndarray, total_W: np.ndarray = None, *, drift=None, xp=np) -> np.ndarray:
        """Phases (M, P) the heaters of ``layer`` produce: own P_pi and offset, crosstalk, drift.

        Global heating (``total_W`` warms the whole substrate) shifts every waveguide of the same
        length by the same phase: both arms of a balanced MZI and both paths into it alike, so it is
        a common phase of the mesh's equal-length paths and leaves every detector power unchanged.
        It is reported by ``ffzero chip budget``; it is not added to the heaters' own phases. ``drift`` (P,) replaces
        the drift so far (the compiled measurement passes each call's); ``xp`` is numpy or jax.numpy.
        """
        return self._heated_phases(layer, self.heater_power_mW(layer, theta, xp), drift)

    def calibrated_phases(self, layer: int, theta: Any) -> Any:
        """:meth:`phases` as jax operations of nominal phases theta (P,), at the drift so far, without the DAC's rounding
        (a perfect calibration of this instance, for the calibrated twin)."""
        import jax.numpy as jnp

        return self._heated_phases(layer, jnp.clip(theta, 0.0, self.theta_max) * (self.physics.heaters.p_pi_mW / math.pi))

    def _heated_phases(self, layer: int, power_mW: Any, drift: Any = None) -> Any:
        """Phases of heaters dissipating ``power_mW`` (last axis): crosstalk, each heater's P_pi and offset, drift."""
        K = self.crosstalk[layer]
        if K is not None:
            power_mW = power_mW @ K.T
        draw = self.heater_draws[layer]
        return draw.offsets_rad + math.pi * power_mW / draw.p_pi_mW + (self.drift[layer] if drift is None else drift)

    # ---------- lab time and detection ----------
    def call_duration_s(self, n_settings: int, n_samples: int) -> float:
        """Lab seconds of one query: latency + per setting (settling + one integration per sample)."""
        integration = self.physics.detector.integration_time_s * n_samples
        return self.physics.clock.call_latency_s + n_settings * (self.settle_s + integration)

    def advance_call(self, n_settings: int, n_samples: int) -> None:
        """Let the lab time of one query (:meth:`call_duration_s`) pass."""
        self.advance(self.call_duration_s(n_settings, n_samples))

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of lab time pass: every heater's drift evolves (random walk + linear rate)."""
        self.elapsed_s += seconds
        self.drift = [drift_offsets(d, seconds, self.physics.clock, self._drift_rng) for d in self.drift]

    def sim_state(self) -> dict[str, Any]:
        """Noise and drift streams, drift so far and lab clock, JSON-able (see ``PhotonicChip.sim_state``)."""
        return {"noise": self._noise_rng.bit_generator.state, "drift_rng": self._drift_rng.bit_generator.state,
                "drift": [d.tolist() for d in self.drift], "elapsed_s": self.elapsed_s}

    def load_sim_state(self, state: Mapping[str, Any]) -> None:
        self._noise_rng.bit_generator.state = state["noise"]
        self._drift_rng.bit_generator.state = state["drift_rng"]
        self.drift = [np.asarray(d, dtype=float) for d in state["drift"]]
        self.elapsed_s = float(state["elapsed_s"])

    def read(self, layer: int, power_mW: np.ndarray) -> np.ndarray:
        """Noisy, quantized readings (mW) of ``layer``'s detectors for optical powers (mW)."""
        return self.detectors[layer].read(power_mW, self._noise_rng)[0]

    def snr_dB(self, layer: int, power_mW: float) -> float:
        """Single-sample SNR (dB) of ``layer``'s detectors at ``power_mW``."""
        return float(self.detectors[layer].snr_dB(power_mW))


def check_physical(nonideal: NonIdealConfig, normalized: Mapping[str, float]) -> None:
    """A physical chip models drive, crosstalk, detection and drift itself and takes no normalized knobs."""
    for name, table in PHYSICS_COVERS.items():
        if getattr(nonideal, name).enabled:
            raise UserInputError(f"[nonideal.{name}] does not apply to a physical chip: {table} models it")
    for name, default in NORMALIZED_DEFAULTS.items():
        if normalized[name] != default:
            raise UserInputError(f"[chip] {name} = {normalized[name]!r} does not apply to a physical chip: "
                                 "set the laser in [budget] and the activation in [activation]")


def bounded_initial(phases: np.ndarray, theta_max: float, rng: np.random.Generator) -> np.ndarray:
    """Initial phases as bounded drives: modulo 2 pi, and redrawn uniformly in [0, theta_max] where 2 pi exceeds the range."""
    phases = np.mod(phases, 2 * np.pi)
    out = phases > theta_max
    if out.any():
        phases[out] = rng.uniform(0.0, theta_max, int(out.sum()))
    return phases
