"""Non-ideal photonic hardware: fabrication, heater drive, thermal crosstalk, detection, drift, dispersion.

Every effect is a frozen dataclass that is OFF by default; :class:`NonIdealConfig`
groups them and round-trips through dicts, TOML and JSON. Each effect is one
pure function below; :class:`~ffzero_photonics.photonic.chip.PhotonicChip`
strings them together inside ``query``. Random draws come from
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

import json
import math
import zlib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = [
    "DESIGN_WAVELENGTH_UM",
    "EFFECTS",
    "LEVELS",
    "PRESET_VALUES",
    "Crosstalk",
    "Detection",
    "Dispersion",
    "Drift",
    "Drive",
    "EnergyModel",
    "Fabrication",
    "NonIdealConfig",
    "apply_crosstalk",
    "column_loss_amplitude",
    "couplings_at_wavelength",
    "crosstalk_matrix",
    "detect",
    "draw_couplings",
    "draw_mzi_loss",
    "draw_phase_offsets",
    "draw_responsivity",
    "drift_step",
    "drive_phases",
    "effect_rng",
    "grid_heater_positions",
    "heater_power_mW",
    "layout_heater_positions",
    "load_nonideal",
    "phase_scale",
    "phase_to_voltage",
    "quantize",
    "save_nonideal",
    "severity_preset",
    "voltage_to_phase",
]

DESIGN_WAVELENGTH_UM = 1.55
TWO_PI = 2 * math.pi


# ---------------------------------------------------------------- validation
def _real(owner: str, name: str, value: Any, *, lo: float | None = None, hi: float | None = None,
          lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}.{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{owner}.{name} must be finite, got {value!r}")
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ValueError(f"{owner}.{name} must be {'>' if lo_open else '>='} {lo}, got {value!r}")
    if hi is not None and value > hi:
        raise ValueError(f"{owner}.{name} must be <= {hi}, got {value!r}")
    return value


def _bits(owner: str, name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= 32:
        raise ValueError(f"{owner}.{name} must be None or an integer number of bits in 1..32, got {value!r}")
    return int(value)


def _optional_real(owner: str, name: str, value: Any) -> float | None:
    return None if value is None else _real(owner, name, value)


class _Section:
    """dict round trip with unknown-key errors, shared by every effect section."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, *, where: str | None = None):
        d = dict(d or {})
        names = {f.name for f in fields(cls)}
        where = where or cls.__name__
        for key in d:
            if key not in names:
                raise ValueError(f"unknown key {where}.{key!r}; {where} takes {', '.join(sorted(names))}")
        return cls(**d)

    @property
    def enabled(self) -> bool:
        return self != type(self)()


@dataclass(frozen=True)
class Fabrication(_Section):
    """Static errors of one fabricated chip: coupler ratios, MZI and waveguide loss, heater phase offsets."""

    coupler_std: float = 0.0
    mzi_loss_dB: float = 0.0
    mzi_loss_std_dB: float = 0.0
    column_loss_dB: float = 0.0
    phase_offset_std: float = 0.0

    def __post_init__(self):
        o = "fabrication"
        object.__setattr__(self, "coupler_std", _real(o, "coupler_std", self.coupler_std, lo=0, hi=0.5))
        for name in ("mzi_loss_dB", "mzi_loss_std_dB", "column_loss_dB", "phase_offset_std"):
            object.__setattr__(self, name, _real(o, name, getattr(self, name), lo=0))


@dataclass(frozen=True)
class Drive(_Section):
    """Heater drive electronics: quadratic V-to-phase law, limited phase range, DAC resolution."""

    dac_bits: int | None = None
    phase_range: float = TWO_PI
    p_pi_mW: float = 20.0
    resistance_ohm: float = 1000.0

    def __post_init__(self):
        o = "drive"
        object.__setattr__(self, "dac_bits", _bits(o, "dac_bits", self.dac_bits))
        object.__setattr__(self, "phase_range", _real(o, "phase_range", self.phase_range, lo=0, lo_open=True))
        object.__setattr__(self, "p_pi_mW", _real(o, "p_pi_mW", self.p_pi_mW, lo=0, lo_open=True))
        object.__setattr__(self, "resistance_ohm", _real(o, "resistance_ohm", self.resistance_ohm, lo=0, lo_open=True))

    @property
    def enabled(self) -> bool:
        return self.dac_bits is not None or self.phase_range < TWO_PI

    @property
    def v_pi(self) -> float:
        """Voltage (V) of a pi phase shift: V_pi = sqrt(P_pi R)."""
        return math.sqrt(self.p_pi_mW * 1e-3 * self.resistance_ohm)

    @property
    def v_max(self) -> float:
        """Largest drive voltage (V): the one that reaches ``phase_range``."""
        return self.v_pi * math.sqrt(self.phase_range / math.pi)


CROSSTALK_POSITIONS = ("grid", "layout")


@dataclass(frozen=True)
class Crosstalk(_Section):
    """Thermal crosstalk K_ij = kappa exp(-d_ij / decay_length_um) between heaters of one mesh.

    ``positions="grid"`` places heaters on the MeshSpec grid (:func:`grid_heater_positions`,
    pitches ``pitch_x_um`` per column and ``pitch_y_um`` per port); ``"layout"``
    reads them from the GDS layout (slow: imports gdsfactory).
    """

    kappa: float = 0.0
    decay_length_um: float = 50.0
    positions: str = "grid"
    pitch_x_um: float = 100.0
    pitch_y_um: float = 127.0

    def __post_init__(self):
        o = "crosstalk"
        object.__setattr__(self, "kappa", _real(o, "kappa", self.kappa, lo=0, hi=1))
        for name in ("decay_length_um", "pitch_x_um", "pitch_y_um"):
            object.__setattr__(self, name, _real(o, name, getattr(self, name), lo=0, lo_open=True))
        if self.positions not in CROSSTALK_POSITIONS:
            raise ValueError(f"crosstalk.positions must be one of {', '.join(CROSSTALK_POSITIONS)}, got {self.positions!r}")

    @property
    def enabled(self) -> bool:
        return self.kappa > 0


@dataclass(frozen=True)
class Detection(_Section):
    """Photodetector readout: shot and thermal noise (as SNR in dB at P_ref), ADC bits, responsivity spread."""

    shot_snr_dB: float | None = None
    thermal_snr_dB: float | None = None
    adc_bits: int | None = None
    responsivity_std: float = 0.0

    def __post_init__(self):
        o = "detection"
        object.__setattr__(self, "shot_snr_dB", _optional_real(o, "shot_snr_dB", self.shot_snr_dB))
        object.__setattr__(self, "thermal_snr_dB", _optional_real(o, "thermal_snr_dB", self.thermal_snr_dB))
        object.__setattr__(self, "adc_bits", _bits(o, "adc_bits", self.adc_bits))
        object.__setattr__(self, "responsivity_std", _real(o, "responsivity_std", self.responsivity_std, lo=0))

    def shot_scale(self, reference_power: float) -> float:
        """Shot-noise variance per unit mean power: P_ref 10^(-SNR/10) (0 when off)."""
        return 0.0 if self.shot_snr_dB is None else reference_power * 10 ** (-self.shot_snr_dB / 10)

    def thermal_std(self, reference_power: float) -> float:
        """Constant thermal/dark noise std: P_ref 10^(-SNR/20) (0 when off)."""
        return 0.0 if self.thermal_snr_dB is None else reference_power * 10 ** (-self.thermal_snr_dB / 20)


@dataclass(frozen=True)
class Drift(_Section):
    """Slow random walk of every heater's phase offset: a N(0, sigma^2) step (rad) per query call."""

    sigma: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "sigma", _real("drift", "sigma", self.sigma, lo=0))


@dataclass(frozen=True)
class Dispersion(_Section):
    """Wavelength dependence: coupler coupling-coefficient slope (1/um); phases scale as lambda0/lambda."""

    coupling_slope_per_um: float = 2.5

    def __post_init__(self):
        object.__setattr__(
            self, "coupling_slope_per_um", _real("dispersion", "coupling_slope_per_um", self.coupling_slope_per_um)
        )

    @property
    def enabled(self) -> bool:
        return False  # inert at the design wavelength; the chip's wavelength switches it on


SECTIONS: dict[str, type] = {
    "fabrication": Fabrication,
    "drive": Drive,
    "crosstalk": Crosstalk,
    "detection": Detection,
    "drift": Drift,
    "dispersion": Dispersion,
}


@dataclass(frozen=True)
class NonIdealConfig:
    """All non-idealities of a chip; the default (every section default) is the ideal chip."""

    fabrication: Fabrication = field(default_factory=Fabrication)
    drive: Drive = field(default_factory=Drive)
    crosstalk: Crosstalk = field(default_factory=Crosstalk)
    detection: Detection = field(default_factory=Detection)
    drift: Drift = field(default_factory=Drift)
    dispersion: Dispersion = field(default_factory=Dispersion)

    def __post_init__(self):
        for name, cls in SECTIONS.items():
            value = getattr(self, name)
            if isinstance(value, Mapping):
                object.__setattr__(self, name, cls.from_dict(value, where=name))
            elif not isinstance(value, cls):
                raise TypeError(f"NonIdealConfig.{name} must be a {cls.__name__} or a dict, got {value!r}")

    @property
    def is_ideal(self) -> bool:
        """True when no effect is switched on (the chip then takes the exact ideal path)."""
        return not any(getattr(self, name).enabled for name in SECTIONS)

    def active_effects(self) -> list[str]:
        return [name for name in SECTIONS if getattr(self, name).enabled]

    def to_dict(self, *, compact: bool = False) -> dict[str, Any]:
        """Nested plain dict; ``compact`` keeps only values that differ from the defaults."""
        out = {}
        for name, cls in SECTIONS.items():
            d = getattr(self, name).to_dict()
            if compact:
                default = cls().to_dict()
                d = {k: v for k, v in d.items() if v != default[k]}
                if not d:
                    continue
            out[name] = d
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "NonIdealConfig":
        """From a nested dict (sections optional); unknown sections or keys raise ValueError naming them."""
        d = dict(d or {})
        for key in d:
            if key not in SECTIONS:
                raise ValueError(f"unknown non-ideality section {key!r}; choose from {', '.join(SECTIONS)}")
        for key, value in d.items():
            if not isinstance(value, Mapping):
                raise ValueError(f"non-ideality section {key!r} must be a table of keys, got {value!r}")
        return cls(**{k: SECTIONS[k].from_dict(v, where=k) for k, v in d.items()})

    def merged(self, other: "NonIdealConfig") -> "NonIdealConfig":
        """This config with every non-default value of ``other`` laid over it."""
        mine = self.to_dict()
        for name, values in other.to_dict(compact=True).items():
            mine[name].update(values)
        return NonIdealConfig.from_dict(mine)

    def replace(self, **sections: Any) -> "NonIdealConfig":
        return replace(self, **sections)


def as_config(value: "NonIdealConfig | Mapping[str, Any] | None") -> NonIdealConfig:
    """A NonIdealConfig from a config, a nested dict or None (ideal)."""
    if value is None:
        return NonIdealConfig()
    if isinstance(value, NonIdealConfig):
        return value
    if isinstance(value, Mapping):
        return NonIdealConfig.from_dict(value)
    raise TypeError(f"nonideal must be a NonIdealConfig, a dict or None, got {type(value).__name__}")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A TOML (.toml) or JSON (any other suffix) file as a dict."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such configuration file: {path}")
    text = path.read_text()
    if path.suffix.lower() == ".toml":
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path} is not valid TOML: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def load_nonideal(path: str | Path) -> NonIdealConfig:
    """NonIdealConfig from a TOML or JSON file: sections at the top level or under a ``[nonideal]`` table."""
    data = read_config_file(path)
    if "nonideal" in data:
        extra = sorted(set(data) - {"nonideal", "chip"})
        if extra:
            raise ValueError(f"unknown key {extra[0]!r} in {path}; expected [nonideal] (and [chip])")
        data = data["nonideal"]
    return NonIdealConfig.from_dict(data)


def save_nonideal(config: NonIdealConfig, path: str | Path) -> None:
    """Write a config as JSON (``.json``) or TOML (``.toml``; None values, i.e. 'off', are left out)."""
    path = Path(path)
    d = config.to_dict()
    if path.suffix.lower() == ".toml":
        lines = []
        for name, values in d.items():
            lines.append(f"[{name}]")
            for k, v in values.items():
                if v is not None:
                    lines.append(f"{k} = {json.dumps(v)}")
            lines.append("")
        path.write_text("\n".join(lines))
    else:
        path.write_text(json.dumps(d, indent=2) + "\n")


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
def phase_to_voltage(phase, drive: Drive):
    """Drive voltage (V) for a heater phase in [0, phase_range]: V = V_pi sqrt(phase / pi)."""
    return drive.v_pi * np.sqrt(np.asarray(phase, dtype=float) / math.pi)


def voltage_to_phase(voltage, drive: Drive):
    """Heater phase (rad, without the static offset) at drive voltage V: pi (V / V_pi)^2."""
    return math.pi * (np.asarray(voltage, dtype=float) / drive.v_pi) ** 2


def quantize(value, bits: int | None, full_scale: float):
    """Round to the nearest of 2^bits levels on [0, full_scale] (clipping outside); None = no quantization."""
    value = np.asarray(value, dtype=float)
    if bits is None:
        return value
    steps = 2**bits - 1
    return np.round(np.clip(value, 0.0, full_scale) / full_scale * steps) * (full_scale / steps)


def drive_phases(requested, drive: Drive) -> np.ndarray:
    """Phase a heater actually adds for requested phases: wrap to [0, 2 pi), clip to the range, V -> DAC -> phase."""
    phase = np.mod(np.asarray(requested, dtype=float), TWO_PI)
    phase = np.minimum(phase, drive.phase_range)
    if drive.dac_bits is None:
        return phase
    volts = quantize(phase_to_voltage(phase, drive), drive.dac_bits, drive.v_max)
    return voltage_to_phase(volts, drive)


def heater_power_mW(drive_phase, p_pi_mW: float = 20.0):
    """Electrical power (mW) a heater dissipates to add ``drive_phase``: P_pi phase / pi."""
    return p_pi_mW * np.asarray(drive_phase, dtype=float) / math.pi


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


_LAYOUT_CACHE: dict[tuple, dict[str, tuple[float, float]]] = {}


def layout_heater_positions(spec) -> dict[str, tuple[float, float]]:
    """Heater positions read from the mesh's GDS layout (``layouts.mesh_layout``); cached per mesh."""
    key = (spec.topology, spec.n_ports)
    if key not in _LAYOUT_CACHE:
        import inspect

        import gdsfactory as gf

        from ffzero_photonics.layouts import mesh_layout as ml

        gf.gpdk.PDK.activate()
        params = inspect.signature(ml.mesh_layout).parameters
        kwargs = {"wiring": "none"} if "wiring" in params else {"route_electrical": False} if "route_electrical" in params else {}
        _LAYOUT_CACHE[key] = dict(ml.heater_positions(ml.mesh_layout(spec, **kwargs)))
    return _LAYOUT_CACHE[key]


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


def apply_crosstalk(drive_phase: np.ndarray, K) -> np.ndarray:
    """Phases of heaters whose powers mix through K: (M, P) drive phases -> (M, P) K @ phase per row."""
    if K is None:
        return drive_phase
    return np.asarray((K @ np.asarray(drive_phase).T).T)


# ---------------------------------------------------------------- detection
def detect(power: np.ndarray, detection: Detection, rng: np.random.Generator, *, responsivity=None,
           reference_power: float = 1.0, full_scale: float = 1.0) -> np.ndarray:
    """Readings of detectors (last axis) receiving ``power``: responsivity, shot + thermal noise, ADC, clip at 0."""
    signal = np.asarray(power, dtype=float)
    if responsivity is not None:
        signal = signal * responsivity
    var = detection.shot_scale(reference_power) * np.clip(signal, 0.0, None)
    th = detection.thermal_std(reference_power)
    if th > 0:
        var = var + th**2
    if detection.shot_snr_dB is not None or th > 0:
        signal = signal + np.sqrt(var) * rng.standard_normal(signal.shape)
    signal = np.clip(signal, 0.0, None)
    return quantize(signal, detection.adc_bits, full_scale)


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


# ---------------------------------------------------------------- presets
LEVELS = ("low", "medium", "high")

PRESET_VALUES: dict[str, dict[str, tuple[dict[str, dict[str, Any]], ...]]] = {
    "coupler": ({"fabrication": {"coupler_std": 0.005}}, {"fabrication": {"coupler_std": 0.01}},
                {"fabrication": {"coupler_std": 0.02}}),
    "loss": ({"fabrication": {"mzi_loss_dB": 0.1, "mzi_loss_std_dB": 0.02, "column_loss_dB": 0.01}},
             {"fabrication": {"mzi_loss_dB": 0.3, "mzi_loss_std_dB": 0.05, "column_loss_dB": 0.03}},
             {"fabrication": {"mzi_loss_dB": 0.5, "mzi_loss_std_dB": 0.1, "column_loss_dB": 0.06}}),
    "phase_offset": ({"fabrication": {"phase_offset_std": 0.05}}, {"fabrication": {"phase_offset_std": 0.2}},
                     {"fabrication": {"phase_offset_std": math.pi}}),
    "dac": ({"drive": {"dac_bits": 10}}, {"drive": {"dac_bits": 8}}, {"drive": {"dac_bits": 6}}),
    "crosstalk": ({"crosstalk": {"kappa": 0.01}}, {"crosstalk": {"kappa": 0.05}}, {"crosstalk": {"kappa": 0.1}}),
    "shot": ({"detection": {"shot_snr_dB": 40.0}}, {"detection": {"shot_snr_dB": 30.0}},
             {"detection": {"shot_snr_dB": 20.0}}),
    "thermal": ({"detection": {"thermal_snr_dB": 40.0}}, {"detection": {"thermal_snr_dB": 30.0}},
                {"detection": {"thermal_snr_dB": 20.0}}),
    "adc": ({"detection": {"adc_bits": 12}}, {"detection": {"adc_bits": 10}}, {"detection": {"adc_bits": 8}}),
    "responsivity": ({"detection": {"responsivity_std": 0.02}}, {"detection": {"responsivity_std": 0.05}},
                     {"detection": {"responsivity_std": 0.1}}),
    "drift": ({"drift": {"sigma": 1e-4}}, {"drift": {"sigma": 1e-3}}, {"drift": {"sigma": 1e-2}}),
}
PRESET_VALUES["noise"] = tuple(
    {"detection": {**s["detection"], **t["detection"]}} for s, t in zip(PRESET_VALUES["shot"], PRESET_VALUES["thermal"])
)
EFFECTS = tuple(PRESET_VALUES) + ("combined",)
_COMBINED = ("coupler", "loss", "phase_offset", "dac", "crosstalk", "noise", "adc", "responsivity", "drift")


def severity_preset(effect: str, level: str) -> NonIdealConfig:
    """Config with one effect at a documented severity ("low" | "medium" | "high"); "combined" = all of them.

    "noise" is shot + thermal noise together; see ``PRESET_VALUES`` for the numbers.
    """
    if effect not in EFFECTS:
        raise ValueError(f"unknown effect {effect!r}; choose one of {', '.join(EFFECTS)}")
    if level not in LEVELS:
        raise ValueError(f"unknown severity level {level!r}; choose one of {', '.join(LEVELS)}")
    i = LEVELS.index(level)
    if effect == "combined":
        config = NonIdealConfig()
        for name in _COMBINED:
            config = config.merged(NonIdealConfig.from_dict(PRESET_VALUES[name][i]))
        return config
    return NonIdealConfig.from_dict(PRESET_VALUES[effect][i])
