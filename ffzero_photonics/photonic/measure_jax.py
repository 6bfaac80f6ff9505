"""A chip's ``query`` as a pure jax function, for the compiled DD engine: the ideal chip, a fabricated one and a physical one.

Everything random in a query (detector noise, the heaters' drift over the calls) is drawn on the host from the chip's
own streams, in the order that many ``query`` calls would draw it (:func:`lab_draws`), and passed in; the rest (DAC
rounding, per-heater P_pi and offsets, crosstalk, couplers, losses, activations, ADC) is traced. So a compiled run
reads the same numbers as the numpy path's queries, and leaves the chip's lab state where they would. The chip's
differentiable twin (nominal or calibrated, for the autodiff paradigms) is the same forward pass in jax
(:func:`twin_powers`).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from ..blackbox import SettingPower
from ..errors import UserInputError
from . import mesh_jit
from .effects import apply_crosstalk, detect_with, drive_phases, is_noisy
from .encoding import NORM_FLOOR
from .forward import forward_powers, layer_cells

__all__ = ["fabricated_query", "heater_power_W", "ideal_query", "ideal_stage", "input_fields", "lab_draws", "setting_power", "twin_powers"]


def ideal_query(chip: Any, params: list[Any], x: Any, layer: int) -> Any:
    """The ideal chip's detector powers of ``layer`` for ``params[l]`` (P,) or candidate stacks (M, P)."""
    fields = input_fields(chip, x)
    transfers = [_through(chip.meshes[l], params[l]) for l in range(layer + 1)]
    return forward_powers(fields, transfers, chip.activation, chip.n_layers, xp=jnp)


def ideal_stage(chip: Any, layer: int):
    """The ideal chip's ``ideal_query`` of ``layer`` split at that layer: (the fields entering mesh ``layer`` from x
    through committed ``params[0..layer-1]``, the readings of ``layer`` for ``params`` (P,) or (M, P) from them)."""
    cells = layer_cells(chip.activation, chip.n_layers)

    def stage_input(params: list[Any], x: Any) -> Any:
        fields = input_fields(chip, x)
        for l in range(layer):
            fields = cells[l].apply(mesh_jit.propagate(chip.meshes[l], params[l], fields), jnp)
        return fields

    def stage_query(params: Any, fields: Any) -> Any:
        return forward_powers(fields, [_through(chip.meshes[layer], params)], cells, chip.n_layers, xp=jnp, first=layer)

    return stage_input, stage_query


def fabricated_query(chip: Any, params: list[Any], x: Any, layer: int, lab: dict | None = None) -> Any:
    """Readings of ``layer`` of a fabricated (or physical) chip, as ``query`` reads them.

    ``lab`` is one call's slice of :func:`lab_draws` (drift of every layer, the detectors' standard normals, the input
    fields of x); without it, the optical powers on the detectors at the drift so far (``detector_powers``' view: no
    noise, responsivity or ADC).
    """
    phys = chip.physical
    drift = None if lab is None else lab["drift"]
    fields = lab["fields"] if lab is not None else input_fields(chip, x)

    def transfer(l):
        phases = chip.physical_phases(l, params[l], drift=None if drift is None else drift[l], xp=jnp)
        inner, amp = _through(chip._phys_meshes[l], phases), chip.field_amplitude(l)
        return lambda f: inner(f) * amp

    cells = chip.activation if phys is None else phys.activations
    power = forward_powers(fields, [transfer(l) for l in range(layer + 1)], cells, chip.n_layers, xp=jnp)
    if lab is None:
        return power
    normals = lab["normals"]
    if phys is not None:
        return phys.detectors[layer].read_with(power, normals, jnp)[0]
    det = chip.nonideal.detection
    if not det.enabled:
        return power
    return detect_with(power, det, normals, responsivity=chip._responsivity[layer],
                       reference_power=chip.reference_power, full_scale=chip.full_scale[layer], xp=jnp)


def twin_powers(chip: Any, params: list[Any], x: Any, calibrated: bool) -> list[Any]:
    """Every layer's detector powers of the chip's differentiable twin: the nominal design, or (``calibrated``) this
    fabricated instance with its static errors known exactly (no noise, no DAC rounding)."""
    phys = chip.physical
    if phys is None:
        fields = _unit_fields(chip, x) * np.sqrt(chip.input_power)
    else:
        fields = chip.encoder.encode_jax(x) * np.sqrt(phys.input_mW)
    amps = [1.0 if phys is None else phys.loss_amplitude(l) for l in range(chip.n_layers)]

    def transfer(l):
        if not calibrated:
            return lambda fields: chip.meshes[l].propagate_jax(params[l][None, :], fields)[0] * amps[l]
        phases = chip._with_static_errors(l, phys.calibrated_phases(l, params[l]) if phys is not None else apply_crosstalk(
            drive_phases(params[l], chip.nonideal.drive, xp=jnp, dac=False), chip._crosstalk[l], jnp))
        return lambda fields: chip._phys_meshes[l].propagate_jax(phases[None, :], fields)[0] * chip.field_amplitude(l)

    cells = chip.activation if phys is None else phys.activations
    out = forward_powers(fields, [transfer(l) for l in range(chip.n_layers)], cells, chip.n_layers,
                         xp=jnp, every_layer=True)
    resp = chip._responsivity if calibrated and phys is None else [None] * chip.n_layers
    return [o if r is None else o * r for o, r in zip(out, resp)]


def heater_power_W(chip: Any, params: list[Any]) -> Any:
    """Total heater power (W) of each candidate setting (M,): ``params[l]`` for the layers given, the committed drive
    for the others (what ``PhotonicChip.heater_power_W`` computes; a physical chip refuses a setting above
    ``[heaters] max_total_power_W``)."""
    thetas = [jnp.atleast_2d(jnp.asarray(params[l])) if l < len(params) else chip.get_params(l)[None, :]
              for l in range(chip.n_layers)]
    return chip.total_power_W(thetas, jnp)


def setting_power(chip: Any):
    """``PhotonicChip.compiled_setting_power``: None when nothing is limited or metered.

    A refused setting leaves the chip as the numpy path leaves it: the lab state where the calls before the refusal put
    it, their energy metered, and the error raised with ``steps_run`` (how many steps' queries ran) for the engine.
    """
    if chip.physical is None and chip.heater_energy_J is None:
        return None

    def meter(power_W: np.ndarray, n_samples: int) -> None:
        if chip.heater_energy_J is not None:
            chip.heater_energy_J += float(np.sum(power_W)) * chip.energy_model.setting_time_s(n_samples)

    def after_run(power_W: np.ndarray, committed_W: np.ndarray, n_samples: int) -> None:
        refused = _first_refused(chip, power_W, committed_W)
        if refused is None:
            meter(power_W, n_samples)
            return
        calls, setting = refused
        _rewind_draws(chip, calls)
        meter(power_W[:calls], n_samples)
        try:
            chip.physical.check_power(setting)
        except UserInputError as err:
            err.steps_run = calls
            raise

    return SettingPower(lambda params: heater_power_W(chip, params), after_run, refuses=chip.physical is not None)


def _first_refused(chip: Any, power_W: np.ndarray, committed_W: np.ndarray) -> tuple[int, np.ndarray] | None:
    """The first setting a physical chip refuses in the numpy path's order (step k's query (S, M), then its commit (S,)):
    (the queries run before it, its power), or None."""
    if chip.physical is None:
        return None
    try:
        chip.physical.check_power(np.concatenate([np.ravel(power_W), np.ravel(committed_W)]))
        return None
    except UserInputError:
        pass
    for step, (query, commit) in enumerate(zip(power_W, committed_W)):
        for calls, setting in ((step, query), (step + 1, np.atleast_1d(commit))):
            try:
                chip.physical.check_power(setting)
            except UserInputError:
                return calls, setting
    return None


def _rewind_draws(chip: Any, n_calls: int) -> None:
    """Put the chip's lab state where the first ``n_calls`` queries of its last :func:`lab_draws` leave it."""
    state, xs, n_settings, layer = chip._draws_start
    chip.load_sim_state(state)
    if n_calls:
        lab_draws(chip, xs[:n_calls], n_settings, layer)


def lab_draws(chip: Any, xs: np.ndarray, n_settings: int, layer: int) -> dict | None:
    """What S queries of ``layer`` (inputs xs (S, B, n_in), ``n_settings`` settings each) draw at random, stacked per
    call: drift of layers 0..layer after each call's advance, detector normals (M, B, N), and the input fields the
    chip's DACs set (host-computed, so a DAC code at a rounding edge is the numpy path's). The chip's lab state
    (drift, clock, noise streams) moves on as those queries would move it. None for an ideal chip."""
    if chip.is_ideal:
        return None
    if chip.physical is not None:  # a physical chip may refuse a setting of the run: where to rewind to
        chip._draws_start = (chip.sim_state(), xs, n_settings, layer)
    n_steps, n_samples = np.shape(xs)[:2]
    shape = (n_settings, n_samples, chip.specs[layer].n_ports)
    phys = chip.physical
    drift: list[list[np.ndarray]] = [[] for _ in range(layer + 1)]
    normals = []
    noisy = phys is not None or (chip.nonideal.detection.enabled and is_noisy(chip.nonideal.detection, chip.reference_power))
    for _ in range(n_steps):
        if phys is not None:
            phys.advance_call(n_settings, n_samples)
            now = phys.drift
        else:
            chip.advance_drift(1)
            now = chip._drift
        for l in range(layer + 1):
            drift[l].append(np.array(now[l]))
        if noisy:
            rng = phys._noise_rng if phys is not None else chip._noise_rng
            normals.append(rng.standard_normal(shape))
    fields = chip.input_fields(np.reshape(xs, (n_steps * n_samples, -1))).reshape(n_steps, n_samples, -1)
    return {"drift": [np.stack(d) for d in drift], "normals": np.stack(normals) if noisy else None, "fields": fields}


def input_fields(chip: Any, x: Any) -> Any:
    """The input fields of x as jax operations (what ``chip.input_fields`` computes; a physical chip's DAC-set ones)."""
    if chip.physical is not None:
        return chip.encoder.encode_jax(x, dac=True) * np.sqrt(chip.physical.input_mW)
    return _unit_fields(chip, x) * np.sqrt(chip.input_power)


def _through(mesh: Any, params: Any):
    return lambda f: mesh_jit.propagate(mesh, params, f)


def _unit_fields(chip: Any, x: Any) -> Any:
    """The linear encoders' unit-power fields as jax operations (what ``encode`` computes)."""
    a = jnp.asarray(x) @ chip.encoder.matrix.T
    return (a / jnp.maximum(jnp.linalg.norm(a, axis=-1, keepdims=True), NORM_FLOOR)) + 0j
