"""Figures of the chip physics for a run directory: the EO activation's output-vs-input power curve."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..config_fields import check_real
from .activation import Activation

__all__ = ["activation_curve_figure"]


def activation_curve_figure(path: str | os.PathLike, activation: Activation, mean_input_mW: float,
                            *, decades_below: float = 2.0, decades_above: float = 1.0) -> Path:
    """Write output vs input power (mW, log axes) of ``activation`` with its operating point at ``mean_input_mW``.

    The linear reference (1 - alpha) P shows where the cell is transparent; the format
    follows the file suffix. Drawn on a bare matplotlib Figure (no pyplot state).
    """
    from matplotlib.figure import Figure

    if not isinstance(activation, Activation):
        raise TypeError(f"activation must be a physics.Activation, got {type(activation).__name__}")
    mean = check_real("activation", "mean_input_mW", mean_input_mW, lo=0, lo_open=True)
    lo = check_real("activation", "decades_below", decades_below, lo=0, lo_open=True)
    hi = check_real("activation", "decades_above", decades_above, lo=0, lo_open=True)
    p_in = np.logspace(np.log10(mean) - lo, np.log10(mean) + hi, 600)
    p_out = activation.output_power_mW(p_in)
    floor = 1e-6 * p_out.max()
    fig = Figure(figsize=(5.5, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ax.loglog(p_in, np.where(p_out > floor, p_out, np.nan), color="C0", label="activation")
    ax.loglog(p_in, (1 - activation.tap_fraction) * p_in, color="0.6", ls="--", label="(1 - α) P, transparent")
    ax.plot([mean], [max(float(activation.output_power_mW(mean)), floor)], "o", color="C3",
            label=f"operating point {mean:.3g} mW")
    ax.set_xlabel("input power (mW)")
    ax.set_ylabel("output power (mW)")
    ax.set_title(f"EO activation: g = {activation.gain_rad_per_mW:.3g} rad/mW, φ_b = {activation.bias_phase_rad:.3g} rad",
                 fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    path = Path(path)
    fig.savefig(path)
    return path
