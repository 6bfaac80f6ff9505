"""DAC drive of the coherent input's heaters: target signed amplitudes -> (MZI phase, sign phase), without sax.

Kept apart from the sax models so the simulator's encoder (``photonic.encoding``) uses the very
same drive law without importing sax (whose klujax backend switches jax's x64 flag on).
"""

from __future__ import annotations

import math

import numpy as np

from ffzero_photonics.errors import UserInputError
from ffzero_photonics.photonic.physics.heaters import Heaters

__all__ = ["dac_phases", "drive_phases_unchecked"]


def dac_phases(amplitudes, heaters: Heaters | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(MZI heater phase, output heater phase) per port for target amplitudes in [-1, 1], after ``heaters``' DAC.

    Each heater follows ``physics.Heaters`` (phase pi V^2 / (R P_pi), V from a ``dac_bits``
    DAC over [0, v_max]; default table). The MZI transmits e^{j theta/2} cos(theta / 2); the
    output heater sets the sign and cancels that e^{j theta/2}, so a port's field is real, signed.
    ``amplitudes`` is (N,) or a batch (..., N).
    """
    a = np.asarray(amplitudes, dtype=float)
    if a.ndim < 1 or np.any(~np.isfinite(a)) or np.any(np.abs(a) > 1):
        raise UserInputError(f"amplitudes must be numbers in [-1, 1] with a port axis, got {amplitudes!r}")
    h = Heaters() if heaters is None else heaters
    if h.phase_range_rad < 2 * math.pi:
        raise UserInputError(f"[heaters] v_max_V={h.v_max_V!r} reaches {h.phase_range_rad:.3g} rad; the output heater needs 2 pi")
    return drive_phases_unchecked(a, h)


def drive_phases_unchecked(a, h: Heaters, xp=np):
    """:func:`dac_phases` of valid amplitudes ``a`` without the checks, in numpy or jax (``xp``)."""
    theta = h.phases(h.volts_for_phase(2.0 * xp.arccos(xp.abs(a)), xp), xp=xp)
    sign = h.phases(h.volts_for_phase(xp.mod(xp.where(a < 0, math.pi, 0.0) - theta / 2, 2 * math.pi), xp), xp=xp)
    return theta, sign
