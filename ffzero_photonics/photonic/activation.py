"""Electro-optic nonlinear activation (Williamson et al., IEEE JSTQE 26, 7700412, 2019/2020).

A directional coupler taps a fraction ``alpha`` of the optical power onto a
photodetector; its photocurrent, amplified and biased, drives a phase modulator
inside an interferometer on the remaining ``1 - alpha`` of the light. Per port::

    f(E)  = sqrt(1 - alpha) * cos(phi) * exp(-1j * phi) * E
    phi   = gain * |E|^2 / 2 + phase_bias / 2

``gain`` (rad per unit power) already contains the tap fraction and the detector
/ amplifier response. The tapped power ``alpha * |E|^2`` is what the chip can read
as this layer's monitor output. Output power is ``(1 - alpha) cos^2(phi) |E|^2``,
never more than ``(1 - alpha) |E|^2``; with the default ``phase_bias = pi`` the
response is ReLU-like (dark at low power, opening as |E|^2 grows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import UserInputError

__all__ = ["EOActivation"]


@dataclass(frozen=True)
class EOActivation:
    """Electro-optic activation f(E) = sqrt(1-alpha) cos(phi) e^{-i phi} E, phi = (gain |E|^2 + phase_bias) / 2."""

    alpha: float = 0.1
    gain: float = 0.05 * np.pi
    phase_bias: float = np.pi

    def __post_init__(self):
        for name in ("alpha", "gain", "phase_bias"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise UserInputError(f"EOActivation.{name} must be a real number, got {value!r}")
            if not math.isfinite(float(value)):
                raise UserInputError(f"EOActivation.{name} must be finite, got {value!r}")
            object.__setattr__(self, name, float(value))
        if not 0.0 <= self.alpha < 1.0:
            raise UserInputError(f"EOActivation.alpha is a tap fraction in [0, 1), got {self.alpha!r}")

    def phase(self, power):
        """Modulator phase phi for an input power |E|^2 (numpy or jax arrays)."""
        return 0.5 * self.gain * power + 0.5 * self.phase_bias

    def apply(self, E, xp=np):
        """Transmitted field f(E) of a complex field array; ``xp`` is numpy or jax.numpy (jit-able, differentiable at 0)."""
        E = xp.asarray(E)
        if not xp.iscomplexobj(E):
            E = E + 0j
        phi = self.phase(xp.real(E) ** 2 + xp.imag(E) ** 2)
        return math.sqrt(1.0 - self.alpha) * xp.cos(phi) * xp.exp(-1j * phi) * E

    def __call__(self, E):
        """``apply`` in numpy."""
        return self.apply(E, np)

    def monitor_power(self, E, xp=np):
        """Power alpha |E|^2 on the tap photodetector (``xp``: numpy or jax.numpy)."""
        E = xp.asarray(E)
        return self.alpha * (xp.real(E) ** 2 + xp.imag(E) ** 2)

    def linear_factor(self) -> complex:
        """Small-signal (gain -> 0) transmission sqrt(1-alpha) cos(phase_bias/2) e^{-i phase_bias/2}."""
        half = 0.5 * self.phase_bias
        return complex(math.sqrt(1.0 - self.alpha) * math.cos(half) * np.exp(-1j * half))
