"""Photodiode + TIA + ADC readout in SI units: photocurrent, physical noise variances, quantized readings.

Noise (one-sided, over the TIA bandwidth B; currents in A):
  shot     2 q (I + I_dark) B
  Johnson  4 k T B / R_f        (R_f = TIA feedback resistor = transimpedance gain)
  RIN      10^(RIN/10) I^2 B     (laser relative intensity noise, carried into the photocurrent)
The ADC quantizes the TIA output voltage G (I + I_dark + noise) over [0, full scale] (clipping
outside); the reading subtracts the mean dark current, a calibrated offset, so it estimates I.
Defaults and their sources: docs/platform_defaults.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ...errors import UserInputError
from ..config_fields import Section, check_bits, check_real

__all__ = ["ELEMENTARY_CHARGE_C", "BOLTZMANN_J_PER_K", "Detector"]

ELEMENTARY_CHARGE_C = 1.602176634e-19
BOLTZMANN_J_PER_K = 1.380649e-23


@dataclass(frozen=True)
class Detector(Section):
    """Ge-on-Si photodiode, transimpedance amplifier and ADC of one readout channel ([detector] table)."""

    TABLE = "detector"

    responsivity_A_per_W: float = 0.8
    dark_current_nA: float = 50.0
    tia_gain_ohm: float = 1e6
    bandwidth_Hz: float = 10e6
    temperature_K: float = 300.0
    rin_dB_per_Hz: float = -150.0
    adc_bits: int | None = 12
    adc_full_scale_V: float = 2.5
    auto_range: bool = True
    headroom_dB: float = 10.0

    def __post_init__(self):
        t = self.TABLE
        positive = ("responsivity_A_per_W", "tia_gain_ohm", "bandwidth_Hz", "temperature_K", "adc_full_scale_V")
        for name in positive:
            object.__setattr__(self, name, check_real(t, name, getattr(self, name), lo=0, lo_open=True))
        object.__setattr__(self, "dark_current_nA", check_real(t, "dark_current_nA", self.dark_current_nA, lo=0))
        object.__setattr__(self, "rin_dB_per_Hz", check_real(t, "rin_dB_per_Hz", self.rin_dB_per_Hz, hi=0))
        object.__setattr__(self, "adc_bits", check_bits(t, "adc_bits", self.adc_bits))
        object.__setattr__(self, "headroom_dB", check_real(t, "headroom_dB", self.headroom_dB, lo=0))
        if not isinstance(self.auto_range, bool):
            raise UserInputError(f"[{t}] auto_range must be true or false, got {self.auto_range!r}")

    def ranged_for(self, mean_power_mW: float) -> "Detector":
        """This readout with the TIA gain that puts the ADC full scale ``headroom_dB`` above ``mean_power_mW``
        (a designer sizes each readout bank's TIA for its expected light); unchanged when ``auto_range`` is off."""
        if not self.auto_range:
            return self
        mean_power_mW = check_real(self.TABLE, "mean_power_mW", mean_power_mW, lo=0, lo_open=True)
        full_scale_A = self.responsivity_A_per_W * mean_power_mW * 1e-3 * 10 ** (self.headroom_dB / 10)
        return replace(self, tia_gain_ohm=self.adc_full_scale_V / (full_scale_A + self.dark_current_A))

    # ------------------------------------------------------------ conversions
    @property
    def integration_time_s(self) -> float:
        """Time of one independent sample at bandwidth B (Nyquist): 1 / (2 B)."""
        return 1.0 / (2.0 * self.bandwidth_Hz)

    @property
    def dark_current_A(self) -> float:
        return self.dark_current_nA * 1e-9

    @property
    def full_scale_power_mW(self) -> float:
        """Optical power (mW) that drives the TIA output to the ADC full scale (dark current included)."""
        current = self.adc_full_scale_V / self.tia_gain_ohm - self.dark_current_A
        return max(current, 0.0) / self.responsivity_A_per_W * 1e3

    def photocurrent_uA(self, power_mW, xp=np):
        """Mean photocurrent (uA) for an optical power (mW): I = R P."""
        return self.responsivity_A_per_W * xp.asarray(power_mW, dtype=float) * 1e3

    # ------------------------------------------------------------ noise
    def noise_variances_A2(self, power_mW, xp=np) -> dict[str, np.ndarray]:
        """Current-noise variances (A^2) by source: ``shot``, ``johnson``, ``rin`` (same shape as ``power_mW``)."""
        current = xp.clip(self.photocurrent_uA(power_mW, xp) * 1e-6, 0.0, None)
        b = self.bandwidth_Hz
        return {
            "shot": 2 * ELEMENTARY_CHARGE_C * (current + self.dark_current_A) * b,
            "johnson": xp.full_like(current, 4 * BOLTZMANN_J_PER_K * self.temperature_K * b / self.tia_gain_ohm),
            "rin": 10 ** (self.rin_dB_per_Hz / 10) * current**2 * b,
        }

    def noise_std_A(self, power_mW, xp=np) -> np.ndarray:
        """Total current-noise standard deviation (A): the sources add in variance."""
        return xp.sqrt(sum(self.noise_variances_A2(power_mW, xp).values()))

    def snr_dB(self, power_mW) -> np.ndarray:
        """Electrical SNR 10 log10(I^2 / sigma^2) of one sample at ``power_mW`` (ADC quantization not included)."""
        current = self.photocurrent_uA(power_mW) * 1e-6
        with np.errstate(divide="ignore"):
            return 10 * np.log10(current**2 / self.noise_std_A(power_mW) ** 2)

    def power_for_snr(self, snr_dB: float) -> float:
        """Optical power (mW) at which one sample reaches ``snr_dB`` (inverse of :meth:`snr_dB`).

        Solves I^2 = s (a + b I + c I^2) for I with a = 2 q I_dark B + 4 k T B / R_f,
        b = 2 q B, c = 10^(RIN/10) B; the RIN term caps the reachable SNR at -RIN - 10 log10 B.
        """
        snr_dB = check_real("detector", "snr_dB", snr_dB)
        s = 10 ** (snr_dB / 10)
        bw = self.bandwidth_Hz
        johnson = 4 * BOLTZMANN_J_PER_K * self.temperature_K * bw / self.tia_gain_ohm
        a = 2 * ELEMENTARY_CHARGE_C * self.dark_current_A * bw + johnson
        b = 2 * ELEMENTARY_CHARGE_C * bw
        c = 10 ** (self.rin_dB_per_Hz / 10) * bw
        if s * c >= 1:
            cap = -10 * math.log10(c)
            raise UserInputError(
                f"[detector] an SNR of {snr_dB} dB is above the laser-RIN limit {cap:.1f} dB "
                f"(rin_dB_per_Hz = {self.rin_dB_per_Hz}, bandwidth_Hz = {self.bandwidth_Hz})"
            )
        q = 1 - s * c
        current = (s * b + math.sqrt((s * b) ** 2 + 4 * q * s * a)) / (2 * q)
        return current / self.responsivity_A_per_W * 1e3

    # ------------------------------------------------------------ readout
    def read(self, power_mW, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One noisy, quantized sample per detector: (power reading in mW, photocurrent reading in uA).

        The TIA output G (I + I_dark + n) is clipped to [0, full scale] and quantized by the
        ``adc_bits`` ADC; the reading subtracts the mean dark current and divides by R.
        """
        return self.read_with(power_mW, rng.standard_normal(np.shape(power_mW)))

    def read_with(self, power_mW, normals, xp=np) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`read` for given standard normals (``power_mW``'s shape), in numpy or jax (``xp``)."""
        power = xp.asarray(power_mW, dtype=float)
        current = self.photocurrent_uA(power, xp) * 1e-6
        noisy = current + self.dark_current_A + self.noise_std_A(power, xp) * normals
        volts = xp.clip(noisy * self.tia_gain_ohm, 0.0, self.adc_full_scale_V)
        if self.adc_bits is not None:
            lsb = self.adc_full_scale_V / (2**self.adc_bits - 1)
            volts = xp.round(volts / lsb) * lsb
        current_uA = (volts / self.tia_gain_ohm - self.dark_current_A) * 1e6
        return current_uA * 1e-3 / self.responsivity_A_per_W, current_uA
