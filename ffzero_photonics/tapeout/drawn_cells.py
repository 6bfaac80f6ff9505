"""The drawn activation and input cells of an extracted chip, simulated with their models, against the trained run.

Each ``ffzero_eo_activation`` found in the layout is evaluated with ``cell_models.eo_activation_model``
at its drawn geometry (tap gap and length, modulator length), driven so that its phase follows
the run's activation law; its transmitted power must match the run's activation at every
test power. The coherent input must feed as many ports as the run's encoder.
"""

from __future__ import annotations

import math

import jax
import numpy as np

from ffzero_photonics.components.cell_models import coupling_from_geometry, eo_activation_model, tap_coupler_length
from ffzero_photonics.layouts.extract import LayoutExtraction

__all__ = ["drawn_activation_power", "drawn_cell_errors", "run_activations"]

TEST_POWERS = np.array([0.0, 0.25, 1.0, 2.0, 4.0, 8.0])
"""Input powers (chip units; a physical chip's: multiples of each layer's expected mean input, mW) at which a drawn
activation is compared with the run's."""
_V_PI = 10.0
_R = 0.8


def drawn_activation_power(settings: dict, activation, power, *, wl: float = 1.55) -> np.ndarray:
    """Output power of a drawn activation cell (its ``settings``) whose drive follows ``activation``'s phase law.

    ``activation`` is an ``EOActivation`` (phase gain * P + phase_bias at input power P): the
    off-chip TIA gain and bias are chosen so the drawn modulator sees that phase.
    """
    gap, tap = float(settings.get("tap_gap", 0.3)), float(settings.get("tap_fraction", 0.1))
    kappa = float(coupling_from_geometry(gap, tap_coupler_length(tap, gap), wl=wl))
    gain_ohm = activation.gain * _V_PI / (math.pi * _R * kappa * 1e-3)
    bias_V = activation.phase_bias * _V_PI / math.pi
    out = []
    with jax.enable_x64(True):
        for p in np.atleast_1d(power):
            s = eo_activation_model(wl=wl, input_power_mW=float(p), tap_fraction=tap, tap_gap=gap,
                                    modulator_length=float(settings.get("modulator_length", 2000.0)),
                                    responsivity_A_per_W=_R, tia_gain_ohm=gain_ohm, v_pi_V=_V_PI, bias_V=bias_V)
            out.append(abs(complex(s["o1", "o2"])) ** 2 * p)
    return np.array(out)


def run_activations(chip) -> list:
    """The run's activation after each layer but the last (``EOActivation``s; a physical chip's per layer)."""
    physical = getattr(chip, "physical", None)
    if physical is not None and hasattr(physical, "activations"):
        return list(physical.activations)
    return [chip.activation] * (chip.n_layers - 1)


def _power_scale(chip, stage: int) -> float:
    """1 (chip units), or a physical chip's expected mean power (mW) entering activation ``stage``."""
    physical = getattr(chip, "physical", None)
    if physical is None:
        return 1.0
    layer = physical.layers[stage]
    return layer.mean_detector_mW / layer.activation.alpha


def drawn_cell_errors(extraction: LayoutExtraction, chip, *, wl: float = 1.55, rel_tol: float = 0.01) -> list[str]:
    """Where the drawn activation / input cells do not compute the run's activation / feed its ports (empty = agree)."""
    errors: list[str] = []
    insts = {inst.name: inst for inst in extraction.component.insts}
    acts = run_activations(chip)
    stages = [layer.sinks for layer in extraction.layers[:-1]]
    for stage, sinks in enumerate(stages):
        if stage >= len(acts):
            break
        act = acts[stage]
        powers = TEST_POWERS * _power_scale(chip, stage)
        expected = np.abs(act(np.sqrt(powers).astype(complex))) ** 2
        scale = max(float(np.max(expected)), 1e-12)
        for node in sinks:
            if node is None:
                continue
            tap = extraction.netlist["connections"].get(node, "").split(",")[0]
            if extraction.kinds.get(tap) != "activation":
                continue
            drawn = drawn_activation_power(insts[tap].cell.settings, act, powers, wl=wl)
            worst = float(np.max(np.abs(drawn - expected))) / scale
            if worst > rel_tol:
                drawn_tap = float(insts[tap].cell.settings.get("tap_fraction", 0.1))
                errors.append(f"activation: drawn cell {tap} (tap_fraction {drawn_tap:.6g}) "
                              f"deviates from the run's layer-{stage} activation (alpha {act.alpha:.4g}) by {worst:.3g} of its peak power")
    for name, kind in sorted(extraction.kinds.items()):
        if kind == "input":
            n = int(insts[name].cell.settings.get("n_ports", 0))
            if n != extraction.n_ports:
                errors.append(f"input: coherent input {name} feeds {n} ports, the chip has {extraction.n_ports}")
    return errors
