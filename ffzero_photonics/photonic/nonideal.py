"""Non-ideal photonic hardware, one import path: the configuration (:mod:`.nonideal_config`) and the physics (:mod:`.effects`).

Every effect is a frozen section that is OFF by default; :class:`NonIdealConfig`
groups them. A CHIP.toml holds them as ``[nonideal.<section>]`` tables, read and
written by :class:`~ffzero_photonics.photonic.chip_config.ChipConfig`.
"""

from __future__ import annotations

from .effects import (
    EnergyModel,
    apply_crosstalk,
    column_loss_amplitude,
    couplings_at_wavelength,
    crosstalk_matrix,
    detect,
    draw_couplings,
    draw_mzi_loss,
    draw_phase_offsets,
    draw_responsivity,
    drift_step,
    drive_phases,
    effect_rng,
    grid_heater_positions,
    heater_power_mW,
    phase_scale,
    phase_to_voltage,
    quantize,
    voltage_to_phase,
)
from .nonideal_config import (
    DESIGN_WAVELENGTH_UM,
    EFFECTS,
    LEVELS,
    PRESET_VALUES,
    SECTIONS,
    Crosstalk,
    Detection,
    Dispersion,
    Drift,
    Drive,
    Fabrication,
    NonIdealConfig,
    as_config,
    parse_preset,
    severity_preset,
)

__all__ = [
    "DESIGN_WAVELENGTH_UM", "EFFECTS", "LEVELS", "PRESET_VALUES", "SECTIONS", "Crosstalk", "Detection", "Dispersion",
    "Drift", "Drive", "EnergyModel", "Fabrication", "NonIdealConfig", "apply_crosstalk", "as_config",
    "column_loss_amplitude", "couplings_at_wavelength", "crosstalk_matrix", "detect", "draw_couplings",
    "draw_mzi_loss", "draw_phase_offsets", "draw_responsivity", "drift_step", "drive_phases", "effect_rng",
    "grid_heater_positions", "heater_power_mW", "parse_preset", "phase_scale", "phase_to_voltage", "quantize",
    "severity_preset", "voltage_to_phase",
]
