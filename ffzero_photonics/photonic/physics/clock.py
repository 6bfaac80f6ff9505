"""Lab time: a clock that advances by what the instrument really spends, and phase drift as a function of seconds.

One query call costs ``call_latency_s`` (host round trip) plus, for each heater setting it
evaluates, the heaters' settling time and the detectors' integration time. Phase offsets drift
as a random walk of sigma per sqrt(second) plus a slow linear thermal drift (rad/s), so drift
variance grows with elapsed lab seconds, not with the number of calls.
Defaults and their sources: docs/platform_defaults.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..config_fields import Section, check_int, check_real

__all__ = ["Clock", "LabClock", "drift_offsets", "drift_variance_rad2"]


@dataclass(frozen=True)
class Clock(Section):
    """Per-call latency and drift rates of the lab setup ([clock] table)."""

    TABLE = "clock"

    call_latency_s: float = 1e-3
    drift_sigma_rad_per_sqrt_s: float = 1e-4
    drift_rate_rad_per_s: float = 0.0

    def __post_init__(self):
        t = self.TABLE
        for name in ("call_latency_s", "drift_sigma_rad_per_sqrt_s"):
            object.__setattr__(self, name, check_real(t, name, getattr(self, name), lo=0))
        object.__setattr__(self, "drift_rate_rad_per_s", check_real(t, "drift_rate_rad_per_s", self.drift_rate_rad_per_s))


class LabClock:
    """Elapsed lab seconds of one instrument session; ``advance`` charges one query call."""

    def __init__(self, clock: Clock, *, settle_s: float, integration_s: float):
        self.clock = clock
        self.settle_s = check_real("clock", "settle_s", settle_s, lo=0)
        self.integration_s = check_real("clock", "integration_s", integration_s, lo=0)
        self.elapsed_s = 0.0

    def call_duration_s(self, n_settings: int) -> float:
        """Seconds one call spends: latency + n_settings (settle + integration)."""
        n_settings = check_int("clock", "n_settings", n_settings, 0)
        return self.clock.call_latency_s + n_settings * (self.settle_s + self.integration_s)

    def advance(self, n_settings: int) -> float:
        """Charge one call of ``n_settings`` settings; returns its duration (s)."""
        dt = self.call_duration_s(n_settings)
        self.elapsed_s += dt
        return dt


def drift_variance_rad2(dt_s: float, clock: Clock) -> float:
    """Variance (rad^2) the random-walk part of the drift adds over ``dt_s`` seconds: sigma^2 dt."""
    return clock.drift_sigma_rad_per_sqrt_s**2 * float(dt_s)


def drift_offsets(offsets_rad, dt_s: float, clock: Clock, rng: np.random.Generator) -> np.ndarray:
    """Phase offsets after ``dt_s`` seconds: + sigma sqrt(dt) z (per heater) + rate dt (common)."""
    offsets = np.asarray(offsets_rad, dtype=float)
    dt_s = check_real("clock", "dt_s", dt_s, lo=0)
    if dt_s == 0:
        return offsets
    step = clock.drift_sigma_rad_per_sqrt_s * math.sqrt(dt_s) * rng.standard_normal(offsets.shape)
    return offsets + step + clock.drift_rate_rad_per_s * dt_s
