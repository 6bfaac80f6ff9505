"""Resistive thermo-optic heaters in SI units: bounded voltage drive, per-heater P_pi, power limit, settling, global heating.

A heater driven at V (a ``dac_bits`` DAC over [0, v_max]) dissipates P = V^2 / R and adds the
phase offset + pi P / P_pi. The drive domain is bounded and never wraps: the trainer's parameter
is a voltage in [0, v_max] (or the nominal phase pi V^2 / (R P_pi) in [0, phase_range]), so a
probe near zero stays near zero power instead of jumping to 2 P_pi. A setting whose total power
exceeds the chip's limit is refused, never clipped. Heat from all heaters warms the substrate by
R_th P_total, which shifts every heated waveguide by (2 pi / lambda) dn/dT dT L.
Defaults and their sources: docs/platform_defaults.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...errors import UserInputError
from ..config_fields import Section, check_bits, check_real

__all__ = [
    "DN_DT_SILICON_PER_K",
    "HeaterInstance",
    "HeaterPowerLimitError",
    "Heaters",
    "global_phase_shift_rad",
    "substrate_temperature_rise_K",
]

DN_DT_SILICON_PER_K = 1.8e-4


class HeaterPowerLimitError(UserInputError):
    """A heater setting whose total electrical power exceeds ``[heaters] max_total_power_W``."""


@dataclass(frozen=True)
class HeaterInstance:
    """Per-heater draws of one fabricated chip: P_pi (mW) and the phase at zero drive (rad)."""

    p_pi_mW: np.ndarray
    offsets_rad: np.ndarray


@dataclass(frozen=True)
class Heaters(Section):
    """Thermo-optic phase shifters and their DAC drive ([heaters] table)."""

    TABLE = "heaters"

    resistance_ohm: float = 1000.0
    p_pi_mW: float = 25.0
    p_pi_spread: float = 0.05
    v_max_V: float = 7.5
    dac_bits: int | None = 16
    settle_tau_s: float = 1.2e-6
    max_total_power_W: float = 15.0
    phase_offset_std_rad: float = 0.0
    heated_length_um: float = 61.6

    def __post_init__(self):
        t = self.TABLE
        for name in ("resistance_ohm", "p_pi_mW", "v_max_V", "settle_tau_s", "max_total_power_W", "heated_length_um"):
            object.__setattr__(self, name, check_real(t, name, getattr(self, name), lo=0, lo_open=True))
        object.__setattr__(self, "p_pi_spread", check_real(t, "p_pi_spread", self.p_pi_spread, lo=0, hi=0.5))
        object.__setattr__(self, "phase_offset_std_rad",
                           check_real(t, "phase_offset_std_rad", self.phase_offset_std_rad, lo=0))
        object.__setattr__(self, "dac_bits", check_bits(t, "dac_bits", self.dac_bits))

    # ------------------------------------------------------------ nominal law
    @property
    def v_pi_V(self) -> float:
        """Voltage of a pi phase shift on a nominal heater: sqrt(P_pi R)."""
        return math.sqrt(self.p_pi_mW * 1e-3 * self.resistance_ohm)

    @property
    def phase_range_rad(self) -> float:
        """Largest nominal phase the drive reaches: pi P(v_max) / P_pi."""
        return math.pi * self.power_W(self.v_max_V) * 1e3 / self.p_pi_mW

    def power_W(self, volts, xp=np):
        """Electrical power (W) per heater: V^2 / R."""
        return xp.asarray(volts, dtype=float) ** 2 / self.resistance_ohm

    def dac(self, volts, xp=np) -> np.ndarray:
        """Voltage the DAC outputs for a requested one: clipped to [0, v_max], rounded to 2^bits levels."""
        volts = xp.clip(xp.asarray(volts, dtype=float), 0.0, self.v_max_V)
        if self.dac_bits is None:
            return volts
        lsb = self.v_max_V / (2**self.dac_bits - 1)
        return xp.round(volts / lsb) * lsb

    def volts_for_phase(self, phase_rad, xp=np) -> np.ndarray:
        """Drive voltage for a nominal phase in [0, phase_range] (clipped to that domain, never wrapped)."""
        phase = xp.clip(xp.asarray(phase_rad, dtype=float), 0.0, self.phase_range_rad)
        return xp.sqrt(phase / math.pi * self.p_pi_mW * 1e-3 * self.resistance_ohm)

    def phases(self, volts, instance: HeaterInstance | None = None, xp=np) -> np.ndarray:
        """Phase (rad) each heater adds at drive ``volts`` (last axis = heater) after the DAC.

        Without ``instance``: the nominal pi P / P_pi; with it: offset_i + pi P / P_pi_i.
        """
        power_mW = self.power_W(self.dac(volts, xp), xp) * 1e3
        if instance is None:
            return math.pi * power_mW / self.p_pi_mW
        return instance.offsets_rad + math.pi * power_mW / instance.p_pi_mW

    def draw_instance(self, n_heaters: int, rng: np.random.Generator) -> HeaterInstance:
        """Per-heater P_pi = P_pi (1 + spread z) (kept >= 10 % of nominal) and offsets N(0, std^2)."""
        spread = np.clip(1.0 + self.p_pi_spread * rng.standard_normal(n_heaters), 0.1, None)
        offsets = self.phase_offset_std_rad * rng.standard_normal(n_heaters)
        return HeaterInstance(p_pi_mW=self.p_pi_mW * spread, offsets_rad=offsets)

    # ------------------------------------------------------------ chip limits and timing
    def total_power_W(self, volts) -> np.ndarray:
        """Total electrical power (W) of each setting (sum over the last axis, after the DAC)."""
        return self.power_W(self.dac(volts)).sum(axis=-1)

    def check_total_power(self, volts) -> np.ndarray:
        """Total power of each setting; raises HeaterPowerLimitError if any exceeds ``max_total_power_W``."""
        total = np.asarray(self.total_power_W(volts))
        worst = float(np.max(total)) if total.size else 0.0
        if worst > self.max_total_power_W:
            raise HeaterPowerLimitError(
                f"[heaters] max_total_power_W = {self.max_total_power_W} W is exceeded: a setting draws "
                f"{worst:.3f} W; lower the drive or raise the limit (settings are refused, never clipped)"
            )
        return total

    def settle_time_s(self, phase_step_rad, tolerance_rad: float = 1e-3) -> np.ndarray:
        """Time for a first-order (tau) heater to come within ``tolerance_rad`` of a phase step: tau ln(|step| / tol)."""
        tolerance_rad = check_real(self.TABLE, "tolerance_rad", tolerance_rad, lo=0, lo_open=True)
        step = np.abs(np.asarray(phase_step_rad, dtype=float))
        return self.settle_tau_s * np.log(np.maximum(step, tolerance_rad) / tolerance_rad)


def substrate_temperature_rise_K(total_power_W, thermal_resistance_K_per_W: float):
    """Chip temperature rise (K) above the heat sink from all heaters together: R_th P_total."""
    return np.asarray(total_power_W, dtype=float) * thermal_resistance_K_per_W


def global_phase_shift_rad(total_power_W, thermal_resistance_K_per_W: float, heated_length_um: float,
                           wavelength_um: float = 1.55, dn_dT_per_K: float = DN_DT_SILICON_PER_K):
    """Common phase (rad) on ``heated_length_um`` of waveguide from global heating: (2 pi / lambda) dn/dT R_th P L.

    Only its difference between interfering paths is observable; a balanced mesh cancels most of it.
    """
    rise = substrate_temperature_rise_K(total_power_W, thermal_resistance_K_per_W)
    return 2 * math.pi / (wavelength_um * 1e-6) * dn_dT_per_K * rise * heated_length_um * 1e-6
