"""The parameter domain of a flat vector of trained parameters, coordinate by coordinate.

The gradient-free searchers see one flat vector over the trained layers; this says, per coordinate, whether it is
real, a phase that wraps (``PERIODIC``) or a bounded drive (``INTERVAL``), built from the layers' ``LayerInfo``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..blackbox import INTERVAL, PERIODIC, LayerInfo


@dataclass(frozen=True)
class FlatDomain:
    """Per-coordinate bounds (``-inf``/``inf`` where unbounded) and periods (``inf`` where not periodic)."""

    low: np.ndarray
    high: np.ndarray
    period: np.ndarray
    readouts: tuple[str, ...]  # the readout kind of every trained layer

    @classmethod
    def from_infos(cls, infos: Sequence[LayerInfo]) -> "FlatDomain":
        def per_coordinate(value) -> np.ndarray:
            return np.concatenate([np.full(info.n_params, value(info), dtype=float) for info in infos])

        return cls(
            low=per_coordinate(lambda i: i.low if i.domain == INTERVAL else -np.inf),
            high=per_coordinate(lambda i: i.high if i.domain == INTERVAL else np.inf),
            period=per_coordinate(lambda i: i.period if i.domain == PERIODIC else np.inf),
            readouts=tuple(info.readout for info in infos),
        )

    @property
    def dim(self) -> int:
        return self.low.size

    @property
    def bounded(self) -> np.ndarray:
        return np.isfinite(self.low)

    @property
    def periodic(self) -> np.ndarray:
        return np.isfinite(self.period)

    @property
    def phases_only(self) -> bool:
        """Every coordinate a heater phase (periodic, or a bounded nominal phase in rad) read as detector power."""
        return bool(np.all(self.bounded | self.periodic)) and all(r == "power" for r in self.readouts)

    def wrap(self, x: np.ndarray) -> np.ndarray:
        """Periodic coordinates mapped into [0, period); the others as given."""
        if not self.periodic.any():
            return x
        return np.where(self.periodic, np.mod(x, np.where(self.periodic, self.period, 1.0)), x)

    def phase_scale(self) -> np.ndarray:
        """Radians per unit of each coordinate: 2 pi / period for periodic ones, 1 for bounded phases (rad)."""
        return np.where(self.periodic, 2 * np.pi / np.where(self.periodic, self.period, 1.0), 1.0)

    def difference(self, target: np.ndarray, start: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """target - start on coordinates ``idx``, the short way round for periodic ones."""
        diff = target - start
        period = self.period[idx]
        periodic = np.isfinite(period)
        safe = np.where(periodic, period, 1.0)
        return np.where(periodic, diff - safe * np.round(diff / safe), diff)
