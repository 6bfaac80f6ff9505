"""Electro-optic activation of Williamson et al. from physical parameters (IEEE JSTQE 26(1) 7700412, 2020; arXiv:1903.04579).

A coupler taps a fraction alpha of the optical power onto a photodiode (responsivity R); a TIA of
gain G (V/A) turns the photocurrent into a voltage that, added to a bias V_b, drives an MZI
modulator of half-wave voltage V_pi on the remaining light. For a field z with |z|^2 in mW:
  f(z)  = j sqrt(1 - alpha) exp(-j dphi / 2) cos(dphi / 2) z
  dphi  = phi_b + g |z|^2,   g = pi alpha R G / V_pi (per W; x 1e-3 per mW),   phi_b = pi V_b / V_pi
(the same form as the authors' neuroptica ``ElectroOpticActivation``). Output power
(1 - alpha) cos^2(dphi / 2) |z|^2; with phi_b = pi the cell is dark at low power and opens as
power grows (ReLU-like). Defaults and their sources: docs/platform_defaults.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ...errors import UserInputError
from ..config_fields import Section, check_int, check_real

__all__ = ["Activation"]


@dataclass(frozen=True)
class Activation(Section):
    """Tap, photodiode, TIA and modulator of one electro-optic activation cell ([activation] table)."""

    TABLE = "activation"

    tap_fraction: float = 0.1
    responsivity_A_per_W: float = 0.8
    tia_gain_ohm: float = 10e3
    v_pi_V: float = 10.0
    bias_V: float = 10.0
    phase_swing_rad: float = math.pi / 4  # modulator swing at a layer's mean input power (sets its TIA gain)

    def __post_init__(self):
        t = self.TABLE
        object.__setattr__(self, "tap_fraction", check_real(t, "tap_fraction", self.tap_fraction, lo=0, hi=1, hi_open=True))
        for name in ("responsivity_A_per_W", "v_pi_V"):
            object.__setattr__(self, name, check_real(t, name, getattr(self, name), lo=0, lo_open=True))
        object.__setattr__(self, "tia_gain_ohm", check_real(t, "tia_gain_ohm", self.tia_gain_ohm, lo=0))
        object.__setattr__(self, "bias_V", check_real(t, "bias_V", self.bias_V))
        object.__setattr__(self, "phase_swing_rad", check_real(t, "phase_swing_rad", self.phase_swing_rad, lo=0, lo_open=True))

    @property
    def gain_rad_per_mW(self) -> float:
        """Phase gain g = pi alpha R G / V_pi per mW of optical power at the cell input."""
        return math.pi * self.tap_fraction * self.responsivity_A_per_W * self.tia_gain_ohm / self.v_pi_V * 1e-3

    @property
    def bias_phase_rad(self) -> float:
        """Bias phase phi_b = pi V_b / V_pi."""
        return math.pi * self.bias_V / self.v_pi_V

    def phase_rad(self, power_mW):
        """Modulator phase dphi = phi_b + g P for input power P (mW)."""
        return self.bias_phase_rad + self.gain_rad_per_mW * np.asarray(power_mW, dtype=float)

    def __call__(self, field_sqrt_mW) -> np.ndarray:
        """Output field f(z) for complex input fields z (|z|^2 in mW)."""
        z = np.asarray(field_sqrt_mW, dtype=np.complex128)
        half = 0.5 * self.phase_rad(z.real**2 + z.imag**2)
        return 1j * math.sqrt(1.0 - self.tap_fraction) * np.exp(-1j * half) * np.cos(half) * z

    def output_power_mW(self, input_mW) -> np.ndarray:
        """Transmitted power (1 - alpha) cos^2(dphi / 2) P (mW)."""
        p = np.asarray(input_mW, dtype=float)
        return (1.0 - self.tap_fraction) * np.cos(0.5 * self.phase_rad(p)) ** 2 * p

    def monitor_current_uA(self, input_mW) -> np.ndarray:
        """Photocurrent (uA) of the tap photodiode: R alpha P."""
        return self.responsivity_A_per_W * self.tap_fraction * np.asarray(input_mW, dtype=float) * 1e3

    def curve(self, max_input_mW: float, n_points: int = 201) -> tuple[np.ndarray, np.ndarray]:
        """(input mW, output mW) on [0, max_input_mW], for an output-vs-input figure."""
        max_input_mW = check_real(self.TABLE, "max_input_mW", max_input_mW, lo=0, lo_open=True)
        p_in = np.linspace(0.0, max_input_mW, check_int(self.TABLE, "n_points", n_points, 2))
        return p_in, self.output_power_mW(p_in)

    def operating_point(self, mean_input_mW: float, *, phase_swing_rad: float | None = None,
                        bias_phase_rad: float = math.pi) -> "Activation":
        """This cell with G and V_b chosen so ``mean_input_mW`` moves dphi by ``phase_swing_rad`` (default: the
        table's) from ``bias_phase_rad``.

        With bias pi and swing pi the cell is dark at zero power and fully open at the mean input power
        (dark again at twice it); a smaller swing keeps it monotonic over a wider range of port powers. The tap fraction, responsivity
        and V_pi (the hardware) are kept; only the electronics (TIA gain, bias voltage) change.
        """
        mean_input_mW = check_real(self.TABLE, "mean_input_mW", mean_input_mW, lo=0, lo_open=True)
        if phase_swing_rad is None:
            phase_swing_rad = self.phase_swing_rad
        phase_swing_rad = check_real(self.TABLE, "phase_swing_rad", phase_swing_rad, lo=0)
        bias_phase_rad = check_real(self.TABLE, "bias_phase_rad", bias_phase_rad)
        if self.tap_fraction == 0:
            raise UserInputError(
                f"[activation] tap_fraction must be > 0 to set an operating point, got {self.tap_fraction!r}")
        tapped_A = self.tap_fraction * self.responsivity_A_per_W * mean_input_mW * 1e-3
        gain_ohm = phase_swing_rad * self.v_pi_V / (math.pi * tapped_A)
        return replace(self, tia_gain_ohm=gain_ohm, bias_V=bias_phase_rad * self.v_pi_V / math.pi)

    def eo_params(self) -> dict[str, float]:
        """(alpha, gain, phase_bias) for ``photonic.activation.EOActivation`` with powers in mW.

        That class omits the constant factor j, a common phase of every port that no intensity sees.
        """
        return {"alpha": self.tap_fraction, "gain": self.gain_rad_per_mW, "phase_bias": self.bias_phase_rad}
