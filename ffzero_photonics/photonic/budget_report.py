"""The power budget of a physical chip, per layer: losses, detector powers (dBm), photocurrents, SNR, heater power.

Detector powers are simulated (noise-free) for a batch of inputs at the committed heater settings, next
to what the budget alone predicts; the SNR is the detector's single-sample SNR at the mean power.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import UserInputError
from .physics.budget import dbm
from .physics.heaters import global_phase_shift_rad, substrate_temperature_rise_K

__all__ = ["format_budget", "power_budget"]


def _dbm(power_mW: float) -> float | None:
    """dBm of a power, None for no light (JSON has no -inf)."""
    return float(dbm(power_mW)) if power_mW > 0 else None


def power_budget(chip, x: np.ndarray) -> dict[str, Any]:
    """The budget of a physical ``PhotonicChip`` for inputs ``x`` (B, n_inputs); JSON-able."""
    phys = chip.physical
    if phys is None:
        raise UserInputError("[chip] model = 'paper' has no physical units; a power budget needs model = 'physical'")
    det, heaters, thermal = phys.physics.detector, phys.physics.heaters, phys.physics.thermal
    powers = chip.detector_powers(x)
    heater_W = float(chip.heater_power_W()[0])
    layers = []
    for l, (lb, p) in enumerate(zip(phys.layers, powers)):
        mean = float(p.mean())
        layers.append({
            "layer": l,
            "readout": "monitor taps" if l < chip.n_layers - 1 else "output detectors",
            "mesh_loss_dB": lb.loss_dB,
            "route_length_mm": phys.route_um[l] * 1e-3,
            "input_power_dBm": _dbm(lb.input_mW),
            "expected_detector_power_dBm": lb.mean_detector_dBm,
            "mean_detector_power_dBm": _dbm(mean),
            "min_detector_power_dBm": _dbm(float(p.min())),
            "max_detector_power_dBm": _dbm(float(p.max())),
            "mean_photocurrent_uA": float(det.photocurrent_uA(mean)),
            "snr_dB": phys.snr_dB(l, mean),
            "tia_gain_ohm": phys.detectors[l].tia_gain_ohm,
            "detector_full_scale_dBm": _dbm(phys.detectors[l].full_scale_power_mW),
            "fraction_above_full_scale": float(np.mean(p > phys.detectors[l].full_scale_power_mW)),
            "activation_gain_rad_per_mW": None if lb.activation is None else lb.activation.gain,
        })
    return {
        "laser_power_mW": phys.physics.budget.laser_power_mW,
        "on_chip_power_dBm": _dbm(phys.input_mW),
        "expected_mesh_input_dBm": _dbm(phys.mesh_input_mW),
        "mean_mesh_input_dBm": _dbm(float(np.mean(np.sum(np.abs(chip.input_fields(x)) ** 2, axis=-1)))),
        "integration_time_s": det.integration_time_s,
        "heater_power_W": heater_W,
        "max_total_power_W": heaters.max_total_power_W,
        "heater_phase_range_rad": phys.theta_max,
        "substrate_rise_K": float(substrate_temperature_rise_K(heater_W, thermal.substrate_K_per_W)),
        "global_phase_rad": float(global_phase_shift_rad(heater_W, thermal.substrate_K_per_W,
                                                         heaters.heated_length_um, phys.wavelength_um)),
        "n_inputs_simulated": int(len(x)),
        "layers": layers,
    }


def format_budget(report: dict[str, Any]) -> str:
    """The budget as a few lines of text (what ``ffzero chip budget`` prints)."""
    def f(v, spec=".1f"):
        return "-inf" if v is None else format(v, spec)

    lines = [
        f"laser {report['laser_power_mW']:g} mW -> {f(report['on_chip_power_dBm'])} dBm on chip -> coherent input "
        f"-> {f(report['mean_mesh_input_dBm'])} dBm into layer 0 (budget {f(report['expected_mesh_input_dBm'])}); "
        f"integration {report['integration_time_s'] * 1e9:.0f} ns/sample",
        f"{'layer':>5} {'readout':<17} {'loss dB':>7} {'mean dBm':>8} {'min dBm':>8} {'budget dBm':>10} "
        f"{'I uA':>8} {'SNR dB':>6} {'FS dBm':>6} {'>FS':>5}",
    ]
    for r in report["layers"]:
        lines.append(
            f"{r['layer']:>5} {r['readout']:<17} {r['mesh_loss_dB']:>7.1f} {f(r['mean_detector_power_dBm']):>8} "
            f"{f(r['min_detector_power_dBm']):>8} {f(r['expected_detector_power_dBm']):>10} "
            f"{r['mean_photocurrent_uA']:>8.3g} {r['snr_dB']:>6.1f} {f(r['detector_full_scale_dBm']):>6} "
            f"{r['fraction_above_full_scale']:>5.0%}")
    lines.append(
        f"heaters {report['heater_power_W']:.2f} W of {report['max_total_power_W']:g} W allowed (range "
        f"{report['heater_phase_range_rad'] / math.pi:.2f} pi); substrate +{report['substrate_rise_K']:.1f} K, "
        f"common phase {report['global_phase_rad']:.2f} rad per heated length on every path (cancels in balanced MZIs)")
    return "\n".join(lines)
