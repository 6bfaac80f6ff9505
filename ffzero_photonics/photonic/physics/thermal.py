"""Thermal crosstalk between heaters from their positions: a physical distance kernel and the crosstalk matrix.

Power in heater i warms heater j's waveguide by a fraction k(d_ij) of what it does to its own:
  lorentzian   k(d) = kappa / (1 + (d / L)^2)     (default)
  exponential  k(d) = kappa exp(-d / L)
The Lorentzian is the far field of a long line heater at height h above the silicon substrate,
which sinks the heat: by the method of images dT(d) ~ ln(1 + (2h / d)^2) ~ (2h / d)^2 for d >> h,
so L = 2h (~6 um for a heater ~3 um above the substrate: 2 um buried oxide plus cladding) and
kappa = 1 (a heater's own waveguide, d -> 0, gets its full phase). The exponential is the form
often fitted to measurements. Deep isolation trenches multiply kappa by ``trench_factor``.
Phase is linear in heater power, so drive phases mix as phi_j = sum_i K_ji phi_i with K_jj = 1.
Heater positions come from the drawn layout of the same mesh (``positions = "layout"``, the default;
the caller injects them) or, explicitly, from a regular grid of ``grid_pitch_*_um`` (``"grid"``).
The [thermal] table also holds the substrate's thermal resistance used for global heating
(see heaters.global_phase_shift_rad).
Defaults and their sources: docs/platform_defaults.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ...errors import UserInputError
from ..config_fields import Section, check_choice, check_real

__all__ = ["KERNELS", "POSITIONS", "Thermal", "apply_crosstalk", "crosstalk_matrix"]

KERNELS = ("lorentzian", "exponential")
POSITIONS = ("layout", "grid")


@dataclass(frozen=True)
class Thermal(Section):
    """Heater-to-heater crosstalk kernel and substrate heat sinking ([thermal] table)."""

    TABLE = "thermal"

    kernel: str = "lorentzian"
    kappa: float = 1.0
    decay_length_um: float = 6.0
    trenches: bool = False
    trench_factor: float = 0.1
    substrate_K_per_W: float = 5.0
    positions: str = "layout"
    grid_pitch_x_um: float = 100.0
    grid_pitch_y_um: float = 127.0

    def __post_init__(self):
        t = self.TABLE
        object.__setattr__(self, "positions", check_choice(t, "positions", self.positions, POSITIONS))
        for name in ("grid_pitch_x_um", "grid_pitch_y_um"):
            object.__setattr__(self, name, check_real(t, name, getattr(self, name), lo=0, lo_open=True))
        object.__setattr__(self, "kernel", check_choice(t, "kernel", self.kernel, KERNELS))
        object.__setattr__(self, "kappa", check_real(t, "kappa", self.kappa, lo=0, hi=1))
        object.__setattr__(self, "decay_length_um", check_real(t, "decay_length_um", self.decay_length_um, lo=0, lo_open=True))
        object.__setattr__(self, "trench_factor", check_real(t, "trench_factor", self.trench_factor, lo=0, hi=1))
        object.__setattr__(self, "substrate_K_per_W", check_real(t, "substrate_K_per_W", self.substrate_K_per_W, lo=0))
        if not isinstance(self.trenches, bool):
            raise UserInputError(f"[{t}] trenches must be true or false, got {self.trenches!r}")

    @property
    def effective_kappa(self) -> float:
        """Zero-distance coupling with the isolation trenches applied."""
        return self.kappa * (self.trench_factor if self.trenches else 1.0)

    def coupling(self, distance_um) -> np.ndarray:
        """Fraction k(d) of a heater's own phase induced at distance ``distance_um`` (um)."""
        x = np.abs(np.asarray(distance_um, dtype=float)) / self.decay_length_um
        shape = np.exp(-x) if self.kernel == "exponential" else 1.0 / (1.0 + x**2)
        return self.effective_kappa * shape

    def reach_um(self, floor: float) -> float:
        """Distance beyond which k(d) < ``floor`` (0 when kappa is already below it)."""
        k = self.effective_kappa
        if k <= floor:
            return 0.0
        if self.kernel == "exponential":
            return self.decay_length_um * math.log(k / floor)
        return self.decay_length_um * math.sqrt(k / floor - 1.0)


def crosstalk_matrix(names: Sequence[str], positions_um: Mapping[str, tuple[float, float]], thermal: Thermal,
                     *, floor: float = 0.0) -> np.ndarray:
    """Dense (P, P) K with K_jj = 1 and K_ji = k(|x_j - x_i|) for heaters ``names`` at ``positions_um``.

    Couplings below ``floor`` are set to 0 (keeps K sparse-able for large meshes). Symmetric by construction.
    """
    missing = [n for n in names if n not in positions_um]
    if missing:
        raise UserInputError(f"[thermal] no position for heater {missing[0]!r} ({len(missing)} missing)")
    xy = np.array([positions_um[n] for n in names], dtype=float).reshape(len(names), 2)
    distance = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=-1)
    K = thermal.coupling(distance)
    if floor > 0:
        K[K < floor] = 0.0
    np.fill_diagonal(K, 1.0)
    return K


def apply_crosstalk(drive_phase, K: np.ndarray) -> np.ndarray:
    """Phases after crosstalk: (..., P) drive phases -> (..., P) with phi_j = sum_i K_ji phi_i."""
    return np.asarray(drive_phase, dtype=float) @ np.asarray(K).T
