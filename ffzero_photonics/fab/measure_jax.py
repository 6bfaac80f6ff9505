"""A fabricated instance's ``query`` as a pure jax function, for the compiled DD engine.

Its randomness (the heaters' drift over lab seconds, detector noise) is drawn on the host from the instance's own
stream in the order ``query`` draws it (:func:`lab_draws`); the rest (heater power spread, drawn-layout crosstalk, arm
offsets, the drawn mesh at the instance's index, activations, detector read-out) is traced.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from ffzero_photonics.photonic import measure_jax as chip_measure
from ffzero_photonics.photonic import mesh_jit
from ffzero_photonics.photonic.forward import forward_powers

__all__ = ["instance_query", "lab_draws"]


def instance_query(chip: Any, params: list[Any], x: Any, layer: int, lab: dict | None = None) -> Any:
    """Readings of ``layer`` for ``params[l]`` (P,) or (M, P); without ``lab``, the optical powers at the drift so far."""
    fields = lab["fields"] if lab is not None else chip_measure.input_fields(chip.design.model, x)

    def transfer(l):
        phases = chip.heater_phases(l, params[l], drift=None if lab is None else lab["drift"][l], xp=jnp)
        mesh, amp = chip._meshes[l], chip.design.amplitudes[l]

        def run(f):
            p = jnp.broadcast_to(phases, (f.shape[0], phases.shape[1])) if f.ndim == 3 and phases.shape[0] == 1 else phases
            return mesh_jit.propagate(mesh, p, f) * amp

        return run

    power = forward_powers(fields, [transfer(l) for l in range(layer + 1)], chip._cells, chip.n_layers, xp=jnp)
    if lab is None or chip._detectors is None:
        return power
    return chip._detectors[layer].read_with(power, lab["normals"], jnp)[0]


def lab_draws(chip: Any, xs: np.ndarray, n_settings: int, layer: int) -> dict:
    """Per call of S queries of inputs xs (S, B, n_in): drift of layers 0..layer after its lab-time advance, the
    detectors' standard normals (M, B, N) and the input fields; the instance's clock, drift and stream move on."""
    n_steps, n_samples = np.shape(xs)[:2]
    drift: list[list[np.ndarray]] = [[] for _ in range(layer + 1)]
    normals = []
    for _ in range(n_steps):
        chip._advance(chip.call_duration_s(n_settings, n_samples))
        for l in range(layer + 1):
            drift[l].append(np.array(chip._drift[l]))
        if chip._detectors is not None:
            normals.append(chip._rng.standard_normal((n_settings, n_samples, chip.design.specs[layer].n_ports)))
    fields = chip.design.model.input_fields(np.reshape(xs, (n_steps * n_samples, -1))).reshape(n_steps, n_samples, -1)
    return {"drift": [np.stack(d) for d in drift], "normals": np.stack(normals) if normals else None, "fields": fields}
