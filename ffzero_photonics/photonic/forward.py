"""The chip's forward pass, written once for numpy and jax.numpy: fields -> (mesh, activation)* -> detector powers.

``PhotonicChip.query`` (ideal and fabricated), the differentiable twin and layout
verification all run this pipeline; they differ only in how a mesh layer
transforms fields (compiled mesh, fabricated mesh, layout matrix).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .activation import EOActivation

__all__ = ["forward_powers", "layer_cells", "readout_power"]


def readout_power(fields: Any, activation: EOActivation, is_output_layer: bool, xp=np) -> Any:
    """What a layer's detectors read: the activation's monitor tap, or |E|^2 on every port after the last layer."""
    return xp.abs(fields) ** 2 if is_output_layer else activation.monitor_power(fields, xp)


def forward_powers(fields: Any, transfers: Sequence[Callable[[Any], Any]],
                   activation: EOActivation | Sequence[EOActivation], n_layers: int,
                   *, xp=np, every_layer: bool = False, first: int = 0) -> Any:
    """Detector powers of layer ``first + len(transfers) - 1`` of an ``n_layers`` chip (``every_layer``: a list, one per layer).

    ``fields`` are the encoded input fields (..., N), or with ``first`` the fields entering mesh ``first``;
    ``transfers[i]`` maps the fields entering mesh ``first + i`` to the fields leaving it. The activation (one for
    every gap, or a sequence: one per gap, each at its own operating point)
    acts between consecutive layers; the readout follows :func:`readout_power`.
    """
    if not 0 <= first < n_layers or not 1 <= first + len(transfers) <= n_layers:
        raise ValueError(f"need 1..{n_layers} layer transfers, got {len(transfers)} from layer {first}")
    cells = layer_cells(activation, n_layers)
    last = first + len(transfers) - 1
    outputs = []
    for l, transfer in enumerate(transfers, start=first):
        fields = transfer(fields)
        if every_layer or l == last:
            outputs.append(readout_power(fields, cells[l] if l < n_layers - 1 else None, l == n_layers - 1, xp))
        if l < last:
            fields = cells[l].apply(fields, xp)
    return outputs if every_layer else outputs[-1]


def layer_cells(activation: EOActivation | Sequence[EOActivation], n_layers: int) -> list[EOActivation]:
    """The activation cell after each layer: one cell for every gap, or the given sequence."""
    return [activation] * n_layers if isinstance(activation, EOActivation) else list(activation)
