"""Optical power budget: laser power, per-component losses in dB, and the mean power that reaches a detector.

A path's loss is the sum of its parts: io couplers, MMI/2x2 couplers, bends, crossings, heater
sections (each counted) and waveguide length (dB/cm). With N outputs the mean detector power is
P_laser 10^(-loss/10) / N (a lossless unitary mesh only redistributes power).
Defaults and their sources: docs/platform_defaults.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ...errors import UserInputError
from ..config_fields import Section, check_real

__all__ = ["PATH_KEYS", "Budget", "dbm", "mean_detector_power_mW", "mesh_path_counts", "mw"]

# path key -> Budget field giving its loss per unit
PATH_KEYS = {
    "io_couplers": "io_coupler_loss_dB",
    "mmis": "mmi_excess_loss_dB",
    "bends": "bend_loss_dB",
    "crossings": "crossing_loss_dB",
    "heater_sections": "heater_section_loss_dB",
    "length_cm": "propagation_loss_dB_per_cm",
}


def dbm(power_mW):
    """Power in dBm of a power in mW."""
    return 10 * np.log10(np.asarray(power_mW, dtype=float))


def mw(power_dBm):
    """Power in mW of a power in dBm."""
    return 10 ** (np.asarray(power_dBm, dtype=float) / 10)


@dataclass(frozen=True)
class Budget(Section):
    """Laser power and component losses of the optical path ([budget] table)."""

    TABLE = "budget"

    laser_power_mW: float = 10.0
    io_coupler_loss_dB: float = 2.5
    mmi_excess_loss_dB: float = 0.3
    bend_loss_dB: float = 0.013
    crossing_loss_dB: float = 0.3
    propagation_loss_dB_per_cm: float = 2.5
    heater_section_loss_dB: float = 0.23

    def __post_init__(self):
        object.__setattr__(self, "laser_power_mW",
                           check_real(self.TABLE, "laser_power_mW", self.laser_power_mW, lo=0, lo_open=True))
        for name in PATH_KEYS.values():
            object.__setattr__(self, name, check_real(self.TABLE, name, getattr(self, name), lo=0))

    def path_loss_dB(self, counts_and_lengths: Mapping[str, float]) -> float:
        """Total loss (dB) of a path given how many of each part it passes (keys: ``PATH_KEYS``)."""
        total = 0.0
        for key, amount in counts_and_lengths.items():
            if key not in PATH_KEYS:
                raise UserInputError(f"[budget] unknown path part {key!r}; allowed: {', '.join(PATH_KEYS)}")
            amount = check_real(self.TABLE, f"path {key}", amount, lo=0)
            total += amount * getattr(self, PATH_KEYS[key])
        return total

    def mean_detector_power_mW(self, n_ports: int, loss_dB: float) -> float:
        """Mean power per detector for this budget's laser (see :func:`mean_detector_power_mW`)."""
        return mean_detector_power_mW(self.laser_power_mW, n_ports, loss_dB)


def mean_detector_power_mW(laser_mW: float, n_ports: int, loss_dB: float) -> float:
    """Mean optical power (mW) on each of ``n_ports`` detectors: P_laser 10^(-loss/10) / N."""
    if isinstance(n_ports, bool) or not isinstance(n_ports, (int, np.integer)) or n_ports < 1:
        raise UserInputError(f"[budget] n_ports must be an integer >= 1, got {n_ports!r}")
    return float(laser_mW) * 10 ** (-float(loss_dB) / 10) / int(n_ports)


def mesh_path_counts(n_columns: int, column_pitch_um: float, *, bends_per_column: int = 4,
                     io_couplers: int = 1) -> dict[str, float]:
    """Parts on one input-to-detector path through a mesh of ``n_columns`` MZI columns.

    Per column: two 2x2 couplers (MMIs), two heater sections (the external phi and internal theta
    arm), ``bends_per_column`` bends and ``column_pitch_um`` of waveguide; plus ``io_couplers`` chip
    couplers (1: laser in, detectors on chip).
    """
    if n_columns < 0 or column_pitch_um < 0:
        raise UserInputError(
            f"[budget] mesh needs n_columns >= 0 and column_pitch_um >= 0, got {n_columns!r}, {column_pitch_um!r}")
    return {
        "io_couplers": float(io_couplers),
        "mmis": 2.0 * n_columns,
        "heater_sections": 2.0 * n_columns,
        "bends": float(bends_per_column * n_columns),
        "length_cm": n_columns * column_pitch_um * 1e-4,
    }

