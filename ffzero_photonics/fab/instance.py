"""One fabricated instance of an exported chip as a black box: heater drives in, detector readings out.

The trainer sees the run's ``LayerInfo`` (heater names, drive domain), sets drives and reads powers; the instance's
errors (:class:`~ffzero_photonics.fab.spread.InstanceErrors`) stay hidden. A drive is the heater table's nominal
phase theta = pi P / P_pi,0 set by voltage for the nominal resistance; heater j dissipates theta_j (R0 / R_j) P_pi,0 / pi
and heater i gets pi sum_j K_ij P_j / P_pi,i (K: thermal crosstalk over the drawn positions) plus its drift. The mesh
is the drawn one: every route and cell path at the instance's index, each MMI at its own ratio. A physical run's
detectors read with their noise; every query advances the lab clock (latency + settings x (settling + samples x
integration), the run's [clock], [heaters] and [detector] tables; a paper chip's defaults) and a physical run's
heaters drift with those seconds.
"""

from __future__ import annotations

import numpy as np

from ffzero_photonics.blackbox import (
    PERIODIC,
    ParamState,
    QueryCounter,
    check_inputs,
    check_settings,
)
from ffzero_photonics.photonic.compiled import CompiledMesh
from ffzero_photonics.photonic.forward import forward_powers
from ffzero_photonics.photonic.physical import SETTLE_STEP_RAD
from ffzero_photonics.photonic.physics.clock import drift_offsets
from ffzero_photonics.tapeout.drawn_cells import run_activations
from ffzero_photonics.tapeout.paths import path_phases

from .design import FabDesign
from .spread import FabSpread, InstanceErrors, draw_errors

__all__ = ["FabricatedChip"]


class FabricatedChip:
    """A ``LayeredBlackBox``: instance ``instance`` of ``design`` under ``spread``, programmed with the heater table."""

    def __init__(self, design: FabDesign, spread: FabSpread, *, seed: int, instance: int):
        self.design, self.spread = design, spread
        self.seed, self.instance = int(seed), int(instance)
        errors: InstanceErrors = draw_errors(design.specs, design.paths, spread, seed=seed, instance=instance)
        self._errors = errors
        self._infos = [design.model.layer_info(l) for l in range(design.n_layers)]
        self._state = ParamState(self._infos, [np.array(d, dtype=float) for d in design.drives])
        self.counter = QueryCounter()
        self.lab_seconds = 0.0
        self._meshes, self._theta_offset = [], []
        for l, (spec, lp) in enumerate(zip(design.specs, design.paths)):
            route, theta_offset = path_phases(lp, spec, dneff=errors.dneff[l])
            self._meshes.append(CompiledMesh(spec, coupling=errors.coupling[l], route_phase=route))
            self._theta_offset.append(theta_offset)
        self._arm_offset = []  # per layer (P,): each MZI cell's arm offset on its theta heater
        for spec, offset in zip(design.specs, self._theta_offset):
            arm = np.zeros(spec.n_params)
            arm[0 : 2 * spec.n_mzis : 2] = offset
            self._arm_offset.append(arm)
        self._crosstalk = design.crosstalk if spread.crosstalk else [None] * design.n_layers
        self._drift = [np.zeros(s.n_params) for s in design.specs]
        self._rng = np.random.default_rng([self.seed, self.instance, 99])
        phys = design.physics
        self._settle_s = float(phys.heaters.settle_time_s(SETTLE_STEP_RAD))
        self._cells = run_activations(design.model) if design.n_layers > 1 else design.model.activation
        physical = getattr(design.model, "physical", None)
        self._detectors = list(physical.detectors) if physical is not None else None

    # ---------- LayeredBlackBox ----------
    @property
    def n_layers(self) -> int:
        return self.design.n_layers

    @property
    def n_inputs(self) -> int:
        return self.design.model.n_inputs

    def layer_info(self, layer: int):
        return self._infos[layer]

    def get_params(self, layer: int) -> np.ndarray:
        return self._state.get(layer)

    def set_params(self, layer: int, params: np.ndarray) -> None:
        self._state.set(layer, params)

    def query(self, x: np.ndarray, layer: int, settings=None) -> np.ndarray:
        """Detector readings of ``layer`` (noisy on a physical run); counts the query and advances the lab clock."""
        x = check_inputs(x, self.n_inputs)
        settings, m = check_settings(self._infos, layer, settings)
        self._advance(self.call_duration_s(m, len(x)))
        transfers = [self._transfer(l, settings.get(l, self._state.params[l][None, :])) for l in range(layer + 1)]
        power = forward_powers(self.design.model.input_fields(x)[None], transfers, self._cells, self.n_layers)
        self.counter.record(m, len(x), layer + 1)
        if self._detectors is None:
            return power
        return self._detectors[layer].read(power, self._rng)[0]

    # ---------- the hidden physics ----------
    def heater_phases(self, layer: int, drives, *, drift=None, xp=np):
        """Phases (M, P) the heaters of ``layer`` really produce for drives (M, P), cell arm offsets included: at the
        drift so far, or at ``drift`` (P,); in numpy or jax (``xp``)."""
        theta = xp.atleast_2d(xp.asarray(drives, dtype=float))
        if self._infos[layer].domain == PERIODIC:
            theta = xp.mod(theta, 2 * np.pi)
        power = theta * self._errors.power_factor[layer]  # in units of P_pi,0 / pi
        K = self._crosstalk[layer]
        if K is not None:
            dense = K if xp is np else xp.asarray(K.toarray() if hasattr(K, "toarray") else np.asarray(K))
            power = xp.asarray(dense @ power.T).T
        phases = power / self._errors.p_pi_factor[layer] + (self._drift[layer] if drift is None else drift)
        return phases + self._arm_offset[layer]

    # ---------- the compiled engine (backend="jax"): the same query traced, its randomness drawn here ----------
    def compiled_query(self, params, x, layer: int, lab=None):
        """``query`` as a pure jax function (uncounted); ``lab`` one call's slice of :meth:`lab_draws`."""
        from .measure_jax import instance_query

        return instance_query(self, params, x, layer, lab)

    def lab_draws(self, xs: np.ndarray, n_settings: int, layer: int) -> dict:
        """Drift, detector normals and input fields of S queries of inputs xs (S, B, n_in), drawn as ``query`` draws
        them; the lab clock and drift move on as those queries would move them."""
        from .measure_jax import lab_draws

        return lab_draws(self, xs, n_settings, layer)

    def _transfer(self, layer: int, drives: np.ndarray):
        mesh, amp = self._meshes[layer], self.design.amplitudes[layer]
        phases = self.heater_phases(layer, drives)

        def run(fields):
            p = phases if fields.shape[0] == phases.shape[0] or fields.shape[0] == 1 else \
                np.broadcast_to(phases, (fields.shape[0], phases.shape[1]))
            return mesh.propagate(p, fields) * amp

        return run

    def call_duration_s(self, n_settings: int, n_samples: int) -> float:
        """Lab seconds of one query: latency + settings x (heater settling + samples x detector integration)."""
        phys = self.design.physics
        return phys.clock.call_latency_s + n_settings * (self._settle_s + n_samples * phys.detector.integration_time_s)

    def _advance(self, seconds: float) -> None:
        self.lab_seconds += seconds
        if self.design.physical:  # a paper chip is the ideal model: its heaters hold still
            self._drift = [drift_offsets(d, seconds, self.design.physics.clock, self._rng) for d in self._drift]

    # ---------- simulation-only views (never used by a trainer) ----------
    def unitaries(self) -> list[np.ndarray]:
        """Every mesh's transfer matrix at the committed drives and the current drift, loss included."""
        return [self._meshes[l].unitary(self.heater_phases(l, self._state.params[l])[0]) * self.design.amplitudes[l]
                for l in range(self.n_layers)]

    def test_accuracy(self) -> float:
        """Noise-free test accuracy of the instance at its committed drives (a test bench view: no query counted)."""
        return self.design.accuracy(self.unitaries())
