"""Physics of non-ideal photonic hardware: fabrication draws, heater drive, thermal crosstalk, detection, drift, dispersion.

Each effect is one pure function below, parameterized by its section of
:class:`~ffzero_photonics.photonic.nonideal_config.NonIdealConfig`;
:class:`~ffzero_photonics.photonic.chip.PhotonicChip` strings them together inside ``query``. Random draws come from
:func:`effect_rng`, one independent stream per (chip seed, instance seed,
effect), so switching one effect on never changes another effect's draws.

Physical models (all phases in rad, powers in the chip's units where the laser
delivers ``input_power``):

- fabrication: coupler power coupling ``0.5 + coupler_std * z``; MZI insertion
  loss ``mzi_loss_dB + mzi_loss_std_dB * z`` (clipped at 0); a waveguide loss of
  ``column_loss_dB`` every time light passes a mesh column (every port, so it
  scales all fields alike); a static phase ``phase_offset_std * z`` per heater
  (the heater's phase at zero drive).
- drive: phase = phase0 + pi (V / V_pi)^2 (resistive heater, P = V^2 / R,
  P_pi = V_pi^2 / R). The controller converts a requested phase (wrapped into
  [0, 2 pi), clipped to ``phase_range``) into V on [0, V_max], V_max =
  V_pi sqrt(phase_range / pi), quantizes it with a ``dac_bits`` DAC over
  [0, V_max] and the heater produces the phase of the quantized voltage.
- thermal crosstalk: heater powers mix as P_eff = K P with K_ii = 1,
  K_ij = kappa exp(-d_ij / decay_length_um), within one mesh. Phase is linear in
  power, so drive phases mix with the same K.
- detection: reading = clip(ADC(r P + n), 0); r per-detector responsivity
  ``1 + responsivity_std * z``; n Gaussian with variance
  ``P_ref 10^(-shot_snr_dB/10) r P`` (shot, proportional to the mean power) plus
  ``(P_ref 10^(-thermal_snr_dB/20))^2`` (thermal/dark, constant). SNRs are
  20 log10(P/sigma) at the reference power P_ref = full_scale / N of that
  readout, the mean reading when the full-scale power spreads evenly over its
  N detectors; the ADC (``adc_bits``) spans [0, full_scale], full_scale being
  the most power one detector of that readout can receive.
- drift: each query call adds ``sigma * z`` to every heater's phase offset
  (a random walk: variance n sigma^2 after n calls).
- dispersion (wavelength lambda, design lambda0 = 1.55 um): every heater and
  offset phase scales by lambda0 / lambda; a coupler of power coupling
  k0 = sin^2(t0) at lambda0 has k = sin^2(t0 (1 + coupling_slope_per_um
  (lambda - lambda0))) (its coupling coefficient grows with wavelength; the
  default 2.5 / um takes a 50:50 coupler to ~60:40 at +50 nm).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .nonideal_config import DESIGN_WAVELENGTH_UM, TWO_PI, Detection, Drive

__all__ = [
    "EnergyModel",
    "apply_crosstalk",
    "column_loss_amplitude",
    "couplings_at_wavelength",
    "crosstalk_matrix",
    "detect",
    "detect_with",
    "draw_couplings",
    "draw_mzi_loss",
    "draw_phase_offsets",
    "draw_responsivity",
    "drift_step",
    "drive_phases",
    "effect_rng",
    "grid_heater_positions",
    "heater_power_mW",
    "is_noisy",
    "phase_scale",
    "phase_to_voltage",
    "quantize",
    "voltage_to_phase",
]


# ---------------------------------------------------------------- random streams
def effect_rng(seed: int, instance_seed: int, effect: str) -> np.random.Generator:
    """Independent seeded stream for one effect of one fabricated instance of a design."""
    return np.random.default_rng([int(seed), int(instance_seed), zlib.crc32(effect.encode())])


# ---------------------------------------------------------------- fabrication
def draw_couplings(n_mzis: int, std: float, rng: np.random.Generator) -> np.ndarray:
    """(n_mzis, 2) power couplings (input, output coupler) 0.5 + std z, clipped to [0, 1]."""
    return np.clip(0.5 + std * rng.standard_normal((n_mzis, 2)), 0.0, 1.0)


def draw_mzi_loss(n_mzis: int, mean_dB: float, std_dB: float, rng: np.random.Generator) -> np.ndarray:
    """(n_mzis,) insertion losses (dB) mean + std z, clipped at 0 (no gain)."""
    return np.clip(mean_dB + std_dB * rng.standard_normal(n_mzis), 0.0, None)


def draw_phase_offsets(n_heaters: int, std: float, rng: np.random.Generator) -> np.ndarray:
    """(n_heaters,) static phases at zero drive, N(0, std^2) rad."""
    return std * rng.standard_normal(n_heaters)


def draw_responsivity(n_detectors: int, std: float, rng: np.random.Generator) -> np.ndarray:
    """(n_detectors,) relative responsivities 1 + std z, clipped at 0."""
    return np.clip(1.0 + std * rng.standard_normal(n_detectors), 0.0, None)


def column_loss_amplitude(n_columns: int, column_loss_dB: float) -> float:
    """Field amplitude left after passing ``n_columns`` columns of ``column_loss_dB`` each."""
    return 10 ** (-n_columns * column_loss_dB / 20)


# ---------------------------------------------------------------- drive
def phase_to_voltage(phase, drive: Drive, xp=np):
    """Drive voltage (V) for a heater phase in [0, phase_range]: V = V_pi sqrt(phase / pi)."""
    return drive.v_pi * xp.sqrt(xp.asarray(phase, dtype=float) / math.pi)


def voltage_to_phase(voltage, drive: Drive, xp=np):
    """Heater phase (rad, without the static offset) at drive voltage V: pi (V / V_pi)^2."""
    return math.pi * (xp.asarray(voltage, dtype=float) / drive.v_pi) ** 2


def quantize(value, bits: int | None, full_scale: float, xp=np):
    """Round to the nearest of 2^bits levels on [0, full_scale] (clipping outside); None = no quantization."""
    value = xp.asarray(value, dtype=float)
    if bits is None:
        return value
    steps = 2**bits - 1
    return xp.round(xp.clip(value, 0.0, full_scale) / full_scale * steps) * (full_scale / steps)


def drive_phases(requested, drive: Drive, *, xp=np, dac: bool = True):
    """Phase a heater actually adds for requested phases: wrap to [0, 2 pi), clip to the range, V -> DAC -> phase.

    ``dac=False`` leaves out the DAC's rounding (a perfect calibration's view, for the calibrated twin).
    """
    phase = xp.minimum(xp.mod(xp.asarray(requested, dtype=float), TWO_PI), drive.phase_range)
    if drive.dac_bits is None or not dac:
        return phase
    volts = quantize(phase_to_voltage(phase, drive, xp), drive.dac_bits, drive.v_max, xp)
    return voltage_to_phase(volts, drive, xp)


def heater_power_mW(drive_phase, p_pi_mW: float = 20.0, *, xp=np):
    """Electrical power (mW) a heater dissipates to add ``drive_phase``: P_pi phase / pi."""
    return p_pi_mW * xp.asarray(drive_phase, dtype=float) / math.pi


@dataclass(frozen=True)
class EnergyModel:
    """Heater energy of chip queries: each evaluated setting holds all heaters for settle_s + B sample_s.

    20 us is a typical thermo-optic settling time of a silicon heater; 1 us per
    sample is the input-modulator/ADC cycle of modest-speed drive electronics.
    """

    settle_s: float = 20e-6
    sample_s: float = 1e-6

    def setting_time_s(self, batch: int) -> float:
        return self.settle_s + batch * self.sample_s


# ---------------------------------------------------------------- crosstalk
def grid_heater_positions(spec, pitch_x_um: float = 100.0, pitch_y_um: float = 127.0) -> dict[str, tuple[float, float]]:
    """Heater name -> (x, y) um on the mesh grid: column c spans x in [c, c+1) pitch_x, port p sits at y = -p pitch_y.

    MZI (c, r): phi on the upper input arm at (c px, -r py), theta on the upper
    internal arm at ((c + 1/2) px, -(r + 1/4) py); screen heater p at (C px, -p py).
    The layout engineer's floorplan is the same grid with px ~ 760 um, py = 100 um.
    """
    out: dict[str, tuple[float, float]] = {}
    for site in spec.mzis:
        theta, phi = site.heaters
        out[phi] = (site.column * pitch_x_um, -site.row * pitch_y_um)
        out[theta] = ((site.column + 0.5) * pitch_x_um, -(site.row + 0.25) * pitch_y_um)
    for p, name in enumerate(spec.screen_heaters):
        out[name] = (spec.n_columns * pitch_x_um, -p * pitch_y_um)
    return out


def crosstalk_matrix(names, positions: Mapping[str, tuple[float, float]], kappa: float, decay_length_um: float,
                     *, floor: float = 1e-9):
    """Sparse (P, P) K with K_ii = 1, K_ij = kappa exp(-d_ij / decay) (entries below ``floor`` dropped)."""
    from scipy import sparse

    missing = [n for n in names if n not in positions]
    if missing:
        raise ValueError(f"no position for heater {missing[0]!r} ({len(missing)} missing)")
    xy = np.array([positions[n] for n in names], dtype=float)
    n = len(names)
    if kappa == 0:
        return sparse.identity(n, format="csr")
    reach = decay_length_um * math.log(kappa / floor) if kappa > floor else 0.0
    from scipy.spatial import cKDTree

    pairs = cKDTree(xy).query_pairs(reach, output_type="ndarray") if reach > 0 else np.zeros((0, 2), int)
    d = np.linalg.norm(xy[pairs[:, 0]] - xy[pairs[:, 1]], axis=1)
    w = kappa * np.exp(-d / decay_length_um)
    rows = np.concatenate([pairs[:, 0], pairs[:, 1], np.arange(n)])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0], np.arange(n)])
    vals = np.concatenate([w, w, np.ones(n)])
    return sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))


def apply_crosstalk(drive_phase, K, xp=np):
    """Phases of heaters whose powers mix through K: (M, P) drive phases -> (M, P) K @ phase per row."""
    if K is None:
        return drive_phase
    if xp is np:
        return np.asarray((K @ np.asarray(drive_phase).T).T)
    return drive_phase @ xp.asarray(K.toarray() if hasattr(K, "toarray") else K).T


def detector_scales(activation, input_power: float, n_layers: int, n_ports: int) -> tuple[list[float], float]:
    """ADC full scale of each layer's readout (most power one of its detectors can get) and the SNR reference P_in / N."""
    grid, p, scales = np.linspace(0.0, 1.0, 4097), input_power, []
    for l in range(n_layers):
        scales.append(activation.alpha * p if l < n_layers - 1 else p)
        q = grid * p
        p = float(np.max((1 - activation.alpha) * np.cos(activation.phase(q)) ** 2 * q))
    return scales, input_power / n_ports


# ---------------------------------------------------------------- detection
def detect(power: np.ndarray, detection: Detection, rng: np.random.Generator, *, responsivity=None,
           reference_power: float = 1.0, full_scale: float = 1.0) -> np.ndarray:
    """Readings of detectors (last axis) receiving ``power``: responsivity, shot + thermal noise, ADC, clip at 0."""
    normals = rng.standard_normal(np.shape(power)) if is_noisy(detection, reference_power) else None
    return detect_with(power, detection, normals, responsivity=responsivity, reference_power=reference_power,
                       full_scale=full_scale)


def is_noisy(detection: Detection, reference_power: float) -> bool:
    """True when the readout adds noise (then each reading takes one standard normal draw)."""
    return detection.shot_snr_dB is not None or detection.thermal_std(reference_power) > 0


def detect_with(power, detection: Detection, normals, *, responsivity=None, reference_power: float = 1.0,
                full_scale: float = 1.0, xp=np):
    """:func:`detect` for given standard normals (``power``'s shape; None when the readout is noiseless), in numpy or jax."""
    signal = xp.asarray(power, dtype=float)
    if responsivity is not None:
        signal = signal * responsivity
    if normals is not None:
        var = detection.shot_scale(reference_power) * xp.clip(signal, 0.0, None) + detection.thermal_std(reference_power) ** 2
        signal = signal + xp.sqrt(var) * normals
    return quantize(xp.clip(signal, 0.0, None), detection.adc_bits, full_scale, xp)


# ---------------------------------------------------------------- drift
def drift_step(offsets: np.ndarray, sigma: float, rng: np.random.Generator, n_calls: int = 1) -> np.ndarray:
    """Offsets after ``n_calls`` random-walk steps of std ``sigma`` each (one draw of std sigma sqrt(n))."""
    if sigma == 0 or n_calls == 0:
        return offsets
    return offsets + sigma * math.sqrt(n_calls) * rng.standard_normal(np.shape(offsets))


# ---------------------------------------------------------------- dispersion
def phase_scale(wavelength_um: float) -> float:
    """Factor lambda0 / lambda by which every heater and offset phase scales away from the design wavelength."""
    return DESIGN_WAVELENGTH_UM / wavelength_um


def couplings_at_wavelength(coupling, wavelength_um: float, slope_per_um: float) -> np.ndarray:
    """Power couplings at ``wavelength_um`` of couplers with ``coupling`` at 1.55 um: sin^2(t0 (1 + s (wl - wl0)))."""
    c = np.asarray(coupling, dtype=float)
    if wavelength_um == DESIGN_WAVELENGTH_UM:
        return c
    t0 = np.arcsin(np.sqrt(c))
    return np.sin(t0 * (1 + slope_per_um * (wavelength_um - DESIGN_WAVELENGTH_UM))) ** 2
