"""What a non-ideal chip is: one frozen section per effect, :class:`NonIdealConfig` grouping them, severity presets.

Every section is OFF by default (the default config is the ideal chip); the
physics each one parameterizes is in :mod:`ffzero_photonics.photonic.effects`.
A section's table in a CHIP.toml is ``[nonideal.<section>]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from ..errors import UserInputError
from .config_fields import Section, check_bits, check_choice, check_optional_real, check_real, coerce_sections

__all__ = [
    "DESIGN_WAVELENGTH_UM",
    "EFFECTS",
    "LEVELS",
    "PHYSICAL_EFFECTS",
    "PHYSICAL_PRESET_VALUES",
    "PRESET_VALUES",
    "SECTIONS",
    "Crosstalk",
    "Detection",
    "Dispersion",
    "Drift",
    "Drive",
    "Fabrication",
    "NonIdealConfig",
    "as_config",
    "merge_tables",
    "parse_preset",
    "physical_preset",
    "severity_preset",
]

DESIGN_WAVELENGTH_UM = 1.55
TWO_PI = 2 * math.pi


def _set(obj, name: str, value) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class Fabrication(Section):
    """Static errors of one fabricated chip: coupler ratios, MZI and waveguide loss, heater phase offsets."""

    TABLE = "nonideal.fabrication"
    coupler_std: float = 0.0
    mzi_loss_dB: float = 0.0
    mzi_loss_std_dB: float = 0.0
    column_loss_dB: float = 0.0
    phase_offset_std: float = 0.0

    def __post_init__(self):
        _set(self, "coupler_std", check_real(self.TABLE, "coupler_std", self.coupler_std, lo=0, hi=0.5))
        for name in ("mzi_loss_dB", "mzi_loss_std_dB", "column_loss_dB", "phase_offset_std"):
            _set(self, name, check_real(self.TABLE, name, getattr(self, name), lo=0))


@dataclass(frozen=True)
class Drive(Section):
    """Heater drive electronics: quadratic V-to-phase law, limited phase range, DAC resolution."""

    TABLE = "nonideal.drive"
    dac_bits: int | None = None
    phase_range: float = TWO_PI
    p_pi_mW: float = 20.0
    resistance_ohm: float = 1000.0

    def __post_init__(self):
        _set(self, "dac_bits", check_bits(self.TABLE, "dac_bits", self.dac_bits))
        for name in ("phase_range", "p_pi_mW", "resistance_ohm"):
            _set(self, name, check_real(self.TABLE, name, getattr(self, name), lo=0, lo_open=True))

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
class Crosstalk(Section):
    """Thermal crosstalk K_ij = kappa exp(-d_ij / decay_length_um) between heaters of one mesh.

    ``positions="grid"`` places heaters on the MeshSpec grid (pitches
    ``pitch_x_um`` per column, ``pitch_y_um`` per port); ``"layout"`` takes them
    from the GDS layout, through a positions function the caller passes to the chip.
    """

    TABLE = "nonideal.crosstalk"
    kappa: float = 0.0
    decay_length_um: float = 50.0
    positions: str = "grid"
    pitch_x_um: float = 100.0
    pitch_y_um: float = 127.0

    def __post_init__(self):
        _set(self, "kappa", check_real(self.TABLE, "kappa", self.kappa, lo=0, hi=1))
        for name in ("decay_length_um", "pitch_x_um", "pitch_y_um"):
            _set(self, name, check_real(self.TABLE, name, getattr(self, name), lo=0, lo_open=True))
        check_choice(self.TABLE, "positions", self.positions, CROSSTALK_POSITIONS)

    @property
    def enabled(self) -> bool:
        return self.kappa > 0


@dataclass(frozen=True)
class Detection(Section):
    """Photodetector readout: shot and thermal noise (as SNR in dB at P_ref), ADC bits, responsivity spread."""

    TABLE = "nonideal.detection"
    shot_snr_dB: float | None = None
    thermal_snr_dB: float | None = None
    adc_bits: int | None = None
    responsivity_std: float = 0.0

    def __post_init__(self):
        _set(self, "shot_snr_dB", check_optional_real(self.TABLE, "shot_snr_dB", self.shot_snr_dB))
        _set(self, "thermal_snr_dB", check_optional_real(self.TABLE, "thermal_snr_dB", self.thermal_snr_dB))
        _set(self, "adc_bits", check_bits(self.TABLE, "adc_bits", self.adc_bits))
        _set(self, "responsivity_std", check_real(self.TABLE, "responsivity_std", self.responsivity_std, lo=0))

    def shot_scale(self, reference_power: float) -> float:
        """Shot-noise variance per unit mean power: P_ref 10^(-SNR/10) (0 when off)."""
        return 0.0 if self.shot_snr_dB is None else reference_power * 10 ** (-self.shot_snr_dB / 10)

    def thermal_std(self, reference_power: float) -> float:
        """Constant thermal/dark noise std: P_ref 10^(-SNR/20) (0 when off)."""
        return 0.0 if self.thermal_snr_dB is None else reference_power * 10 ** (-self.thermal_snr_dB / 20)


@dataclass(frozen=True)
class Drift(Section):
    """Slow random walk of every heater's phase offset: a N(0, sigma^2) step (rad) per query call."""

    TABLE = "nonideal.drift"
    sigma: float = 0.0

    def __post_init__(self):
        _set(self, "sigma", check_real(self.TABLE, "sigma", self.sigma, lo=0))


@dataclass(frozen=True)
class Dispersion(Section):
    """Wavelength dependence: coupler coupling-coefficient slope (1/um); phases scale as lambda0/lambda."""

    TABLE = "nonideal.dispersion"
    coupling_slope_per_um: float = 2.5

    def __post_init__(self):
        _set(self, "coupling_slope_per_um", check_real(self.TABLE, "coupling_slope_per_um", self.coupling_slope_per_um))

    @property
    def enabled(self) -> bool:
        return False  # inert at the design wavelength; the chip's wavelength switches it on


SECTIONS: dict[str, type[Section]] = {
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
        coerce_sections(self, SECTIONS, table="nonideal", none_is_default=False)

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
        """From a nested dict (sections optional); unknown sections or keys raise UserInputError naming them."""
        if d is None:
            return cls()
        if not isinstance(d, Mapping):
            raise UserInputError(f"[nonideal] must be a table of sections, got {d!r}")
        for key in d:
            if key not in SECTIONS:
                raise UserInputError(f"[nonideal] unknown section {key!r}; allowed: {', '.join(SECTIONS)}")
        return cls(**{k: SECTIONS[k].from_dict(v) for k, v in d.items()})

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
    raise UserInputError(f"nonideal must be a NonIdealConfig, a table or None, got {value!r}")


# ---------------------------------------------------------------- presets
LEVELS = ("low", "medium", "high")

PRESET_VALUES: dict[str, tuple[dict[str, dict[str, Any]], ...]] = {
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
        raise UserInputError(f"unknown effect {effect!r}; choose one of {', '.join(EFFECTS)}")
    if level not in LEVELS:
        raise UserInputError(f"unknown severity level {level!r}; choose one of {', '.join(LEVELS)}")
    i = LEVELS.index(level)
    if effect == "combined":
        config = NonIdealConfig()
        for name in _COMBINED:
            config = config.merged(NonIdealConfig.from_dict(PRESET_VALUES[name][i]))
        return config
    return NonIdealConfig.from_dict(PRESET_VALUES[effect][i])


# the physical chip's severities: (low, medium, high) values of its physics tables, laid over a CHIP.toml; a physical
# chip models drive, crosstalk, detection and drift itself, so only [nonideal.fabrication] keeps its normalized presets
PHYSICAL_PRESET_VALUES: dict[str, tuple[dict[str, dict[str, Any]], ...]] = {
    "laser": tuple({"budget": {"laser_power_mW": mW}} for mW in (10.0, 1.0, 0.1)),
    "dac": tuple({"heaters": {"dac_bits": bits}} for bits in (10, 8, 6)),
    "phase_offset": tuple({"heaters": {"phase_offset_std_rad": std}} for std in (0.05, 0.2, math.pi)),
    "p_pi_spread": tuple({"heaters": {"p_pi_spread": spread}} for spread in (0.02, 0.1, 0.2)),
    "crosstalk": ({"thermal": {"trenches": True}}, {"thermal": {"decay_length_um": 12.0}},
                  {"thermal": {"decay_length_um": 25.0}}),
    "drift": tuple({"clock": {"drift_sigma_rad_per_sqrt_s": s}} for s in (1e-3, 1e-2, 1e-1)),
    "coupler": tuple({"nonideal": v} for v in PRESET_VALUES["coupler"]),
    "loss": tuple({"nonideal": v} for v in PRESET_VALUES["loss"]),
}
PHYSICAL_EFFECTS = tuple(PHYSICAL_PRESET_VALUES) + ("combined",)


def physical_preset(effect: str, level: str) -> dict[str, dict[str, Any]]:
    """Tables ``{table: {key: value}}`` that put one physical effect at a severity ("combined" = all of them)."""
    if effect not in PHYSICAL_EFFECTS:
        raise UserInputError(f"unknown physical-chip effect {effect!r}; choose one of {', '.join(PHYSICAL_EFFECTS)}")
    if level not in LEVELS:
        raise UserInputError(f"unknown severity level {level!r}; choose one of {', '.join(LEVELS)}")
    i = LEVELS.index(level)
    tables: dict[str, Any] = {}
    for name in (PHYSICAL_PRESET_VALUES if effect == "combined" else (effect,)):
        tables = merge_tables(tables, PHYSICAL_PRESET_VALUES[name][i])
    return tables


def merge_tables(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` laid over ``base``, sub-table by sub-table (a copy; neither is changed)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merge_tables(out.get(key, {}), value) if isinstance(value, Mapping) else value
    return out


def parse_preset(text: str) -> NonIdealConfig:
    """``EFFECT:LEVEL`` (e.g. ``combined:medium``) or several joined by ``+`` -> NonIdealConfig."""
    config = NonIdealConfig()
    for part in str(text).split("+"):
        effect, sep, level = part.strip().partition(":")
        if not sep:
            raise UserInputError(f"non-ideality preset must be EFFECT:LEVEL, got {part!r}")
        config = config.merged(severity_preset(effect, level))
    return config
