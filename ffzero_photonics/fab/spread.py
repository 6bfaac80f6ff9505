"""Process spread of a virtual fab and the seeded draw of one fabricated instance's hidden errors.

Per drawn waveguide piece (every route, every cell's leads and fans, every MZI arm) the effective index moves by a
local N(0, ``sigma_neff``) draw plus the instance's common width deviation N(0, ``width_sigma_nm``) x d neff / d width
(the physics of ``ffzero signoff``'s corners: ``tapeout.signoff.DNEFF_PER_NM_WIDTH``); the phase error of a piece is
2 pi dneff L / wl over its drawn length L. Per MMI the power splitting ratio is 0.5 + N(0, ``mmi_std``); per heater its
P_pi and its resistance spread (a drive set by voltage for the nominal R then dissipates R0 / R times the power), and
``crosstalk`` couples neighbours by the thermal kernel over the drawn heater positions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ffzero_photonics.errors import UserInputError
from ffzero_photonics.photonic.mesh_spec import MeshSpec
from ffzero_photonics.tapeout.paths import LayerPaths
from ffzero_photonics.tapeout.signoff import DNEFF_PER_NM_WIDTH

__all__ = ["PIECES", "FabSpread", "InstanceErrors", "draw_errors"]

PIECES = ("routes", "leads", "arm_up", "arm_lo")
"""The drawn waveguide kinds of ``tapeout.paths.LayerPaths`` that carry an index error each."""
MIN_FACTOR = 0.1  # a drawn P_pi or resistance is kept >= 10 % of nominal (as ``Heaters.draw_instance``)


@dataclass(frozen=True)
class FabSpread:
    """The process spread instances are drawn from; defaults: ``ffzero signoff``'s random corner plus heater and MMI spread."""

    sigma_neff: float = 1e-4  # local, per drawn waveguide piece
    width_sigma_nm: float = 0.1  # common to one instance: d neff = 1e-3 / nm x width deviation
    mmi_std: float = 0.01  # power splitting ratio around 0.5
    p_pi_spread: float = 0.05  # relative
    resistance_spread: float = 0.05  # relative
    crosstalk: bool = True  # thermal crosstalk over the drawn positions (the run's [thermal] kernel)

    def __post_init__(self):
        limits = {"sigma_neff": 0.05, "width_sigma_nm": 50.0, "mmi_std": 0.5, "p_pi_spread": 1.0, "resistance_spread": 1.0}
        for name, high in limits.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and 0 <= value < high):
                raise UserInputError(f"fab spread {name} must be a number in [0, {high:g}), got {value!r}")
        if not isinstance(self.crosstalk, bool):
            raise UserInputError(f"fab spread crosstalk must be true or false, got {self.crosstalk!r}")

    @classmethod
    def zero(cls) -> FabSpread:
        """No variation at all: every instance is the drawn design."""
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> FabSpread:
        d = dict(d or {})
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise UserInputError(f"unknown fab spread field {unknown[0]!r}; allowed: {', '.join(cls.__dataclass_fields__)}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class InstanceErrors:
    """The hidden errors of one fabricated instance, per layer (never shown to a trainer)."""

    dneff: list[dict[str, np.ndarray]]  # piece kind -> index shift of each drawn piece (shapes of LayerPaths)
    coupling: list[np.ndarray]  # (n_mzis, 2): (input, output) MMI power coupling
    p_pi_factor: list[np.ndarray]  # (P,): drawn P_pi / nominal
    power_factor: list[np.ndarray]  # (P,): R0 / R, the power a nominal-R voltage drive really dissipates


def _rng(seed: int, instance: int, effect: int, layer: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(instance), effect, layer])


def draw_errors(specs: Sequence[MeshSpec], paths: Sequence[LayerPaths], spread: FabSpread, *, seed: int,
                instance: int) -> InstanceErrors:
    """The errors of instance ``instance`` of fab ``seed``: the same (seed, instance) gives the same chip."""
    if isinstance(instance, bool) or not isinstance(instance, (int, np.integer)) or instance < 0:
        raise UserInputError(f"instance must be a non-negative integer, got {instance!r}")
    common = spread.width_sigma_nm * DNEFF_PER_NM_WIDTH * _rng(seed, instance, 0, 0).standard_normal()
    dneff, coupling, p_pi, power = [], [], [], []
    for l, (spec, lp) in enumerate(zip(specs, paths)):
        rng = _rng(seed, instance, 1, l)
        dneff.append({k: common + spread.sigma_neff * rng.standard_normal(np.shape(getattr(lp, k))) for k in PIECES})
        c = 0.5 + spread.mmi_std * _rng(seed, instance, 2, l).standard_normal((spec.n_mzis, 2))
        coupling.append(np.clip(c, 0.0, 1.0))
        p_pi.append(np.clip(1.0 + spread.p_pi_spread * _rng(seed, instance, 3, l).standard_normal(spec.n_params),
                            MIN_FACTOR, None))
        r = np.clip(1.0 + spread.resistance_spread * _rng(seed, instance, 4, l).standard_normal(spec.n_params),
                    MIN_FACTOR, None)
        power.append(1.0 / r)
    return InstanceErrors(dneff, coupling, p_pi, power)
