"""The trained network with every mesh replaced by a layout-extracted matrix: what ``verify`` and ``signoff`` evaluate."""

from __future__ import annotations

import numpy as np

from ffzero_photonics.blackbox import QueryCounter, check_inputs
from ffzero_photonics.photonic.forward import forward_powers
from ffzero_photonics.tapeout.drawn_cells import run_activations

__all__ = ["LayoutNetwork"]


class LayoutNetwork:
    """The trained network with every mesh replaced by a layout-extracted matrix (a ``LayeredBlackBox``).

    Encoder, EO activation (a physical chip's per layer), input power and readout are the chip's; the
    heater phases are fixed by the layout and its heater table.
    """

    def __init__(self, chip, unitaries: list[np.ndarray]):
        if len(unitaries) != chip.n_layers:
            raise ValueError(f"{len(unitaries)} layout matrices for a chip of {chip.n_layers} layers")
        self.chip = chip
        self.unitaries = [np.asarray(u, dtype=complex) for u in unitaries]
        self.counter = QueryCounter()

    @property
    def n_layers(self) -> int:
        return self.chip.n_layers

    @property
    def n_inputs(self) -> int:
        return self.chip.n_inputs

    def layer_info(self, layer: int):
        return self.chip.layer_info(layer)

    def get_params(self, layer: int) -> np.ndarray:
        return self.chip.get_params(layer)

    def set_params(self, layer: int, params: np.ndarray) -> None:
        raise ValueError("a layout network's heater phases are fixed by its heater table; it cannot be retrained")

    def query(self, x: np.ndarray, layer: int, settings=None) -> np.ndarray:
        """Detector powers of ``layer``: the chip's forward pipeline with the layout matrices as its meshes."""
        if settings:
            raise ValueError("a layout network takes no candidate settings: its heater phases are fixed")
        if not 0 <= layer < self.n_layers:
            raise ValueError(f"layer {layer} out of range 0..{self.n_layers - 1}")
        x = check_inputs(x, self.n_inputs)
        transfers = [lambda fields, u=u: fields @ u.T for u in self.unitaries[: layer + 1]]
        cells = run_activations(self.chip) if self.n_layers > 1 else self.chip.activation
        power = forward_powers(self.chip.input_fields(x)[None], transfers, cells, self.n_layers)
        self.counter.record(1, len(x), layer + 1)
        return power
