"""What the chip views show, as arrays: heater drive per mesh site, one sample's power flow, |U|^2, drawn heater positions.

Read only through the chip's public API (specs, get_params, unitary, input_fields,
activation, heater powers) and never change its state: no query is made, so the
query counter, drift and noise generators are untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..layouts.floorplan import heater_positions_for, plan
from ..layouts.layers import ensure_pdk
from ..photonic.effects import drive_phases, heater_power_mW
from ..photonic.mesh_spec import MeshSpec

__all__ = [
    "LayoutHeaters",
    "activations",
    "has_views",
    "heater_grid",
    "heater_powers_mW",
    "layout_heaters",
    "power_flow",
    "transfer_powers",
]

MESH_ATTRIBUTES = ("specs", "get_params", "unitary", "input_fields", "activation")


def has_views(model: Any) -> bool:
    """True when ``model`` exposes the mesh (a simulated chip); a served chip does not."""
    return all(hasattr(model, a) for a in MESH_ATTRIBUTES) and bool(getattr(model, "specs", None))


def heater_powers_mW(chip: Any, layer: int) -> np.ndarray:
    """Electrical power (mW) of every heater of mesh ``layer`` at its committed drive, in parameter order."""
    per_heater = getattr(chip, "heater_powers_mW", None)
    if callable(per_heater):
        return np.asarray(per_heater(layer), dtype=float)
    params = chip.get_params(layer)
    physical = getattr(chip, "physical", None)
    if physical is not None:
        return np.asarray(physical.heater_power_mW(layer, params[None]), dtype=float)[0]
    drive = chip.nonideal.drive
    return heater_power_mW(drive_phases(params, drive), drive.p_pi_mW)


def activations(chip: Any) -> list[Any]:
    """The activation after each mesh but the last (per layer on a physical chip, one shared otherwise)."""
    physical = getattr(chip, "physical", None)
    if physical is not None:
        return list(physical.activations)
    return [chip.activation] * (len(chip.specs) - 1)


def heater_grid(spec: MeshSpec, values: np.ndarray) -> np.ndarray:
    """Per-heater values of one mesh on its site grid (N ports, 2 C + 1): NaN where no heater sits.

    MZI (column c, row r) puts phi at [r, 2c] (upper input arm) and theta at
    [r, 2c + 1] (upper internal arm); screen heater p sits at [p, 2C].
    """
    values = np.asarray(values, dtype=float)
    if values.shape != (spec.n_params,):
        raise ValueError(f"need one value per heater ({spec.n_params},), got shape {values.shape}")
    theta, phi, screen = spec.split_params(values)
    grid = np.full((spec.n_ports, 2 * spec.n_columns + 1), np.nan)
    cols = np.array([m.column for m in spec.mzis], dtype=int)
    rows = np.array([m.row for m in spec.mzis], dtype=int)
    grid[rows, 2 * cols] = phi
    grid[rows, 2 * cols + 1] = theta
    grid[:, -1] = screen
    return grid


def transfer_powers(chip: Any) -> list[np.ndarray]:
    """|U[out, in]|^2 of every mesh at its committed phases (the fabricated mesh for a non-ideal chip)."""
    return [np.abs(chip.unitary(l)) ** 2 for l in range(len(chip.specs))]


def power_flow(chip: Any, x: np.ndarray) -> list[np.ndarray]:
    """Optical power (mW) of one sample ``x`` (n_inputs,) at every port, per layer an array (C + 1, N).

    Row 0 is the power entering the mesh (the encoded input, or the previous
    layer's activation output); row c + 1 the power after column c (the output
    screen and any column loss are folded into the last row, which equals
    |U fields|^2). The activation acts between layers as in the chip's forward pass.
    """
    fields = np.asarray(chip.input_fields(np.asarray(x, dtype=float)[None]))[0]
    between = activations(chip)
    flows = []
    for l in range(len(chip.specs)):
        if l > 0:
            fields = np.asarray(between[l - 1](fields))
        columns = _column_fields(chip, l, fields)
        flows.append(np.abs(np.stack([fields, *columns])) ** 2)
        fields = columns[-1]
    return flows


def _column_fields(chip: Any, layer: int, fields: np.ndarray) -> list[np.ndarray]:
    """Fields after each column of mesh ``layer``; the last one is exactly ``unitary(layer) @ fields``."""
    mesh, phases = _layer_mesh(chip, layer)
    d, o = mesh.column_factors(np.atleast_2d(phases))
    out, y = [], fields.astype(complex)
    for c in range(mesh.n_columns):
        y = d[c, :, 0] * y + o[c, :, 0] * y[mesh.swap[c]]
        out.append(y)
    exact = chip.unitary(layer) @ fields  # the chip's own transfer, lumped column loss included
    swept = np.abs(out[-1]) ** 2
    ratio = np.sum(np.abs(exact) ** 2) / max(np.sum(swept), 1e-300)
    if not np.allclose(np.abs(exact) ** 2, ratio * swept, rtol=1e-6, atol=1e-9 * max(swept.max(), 1e-300)):
        raise RuntimeError(f"layer {layer}: the column sweep disagrees with the chip's transfer matrix")
    return out[:-1] + [exact]


def _layer_mesh(chip: Any, layer: int):
    """(CompiledMesh, phases) light really goes through in mesh ``layer``."""
    physical = getattr(chip, "physical_mesh", None)
    if callable(physical):
        return physical(layer)
    if getattr(chip, "is_ideal", True):
        return chip.meshes[layer], chip.get_params(layer)
    return chip._phys_meshes[layer], chip.physical_phases(layer, chip.get_params(layer))


@dataclass(frozen=True)
class LayoutHeaters:
    """Drawn mesh heater centres (µm) with their power (mW), the other labelled devices (input modulators,
    activation cells, detectors), the die outline and a close-up box, both (x0, y0, x1, y1) µm."""

    names: tuple[str, ...]
    xy_um: np.ndarray
    power_mW: np.ndarray
    die_um: tuple[float, float, float, float]
    zoom_um: tuple[float, float, float, float]
    other_names: tuple[str, ...]
    other_xy_um: np.ndarray


def layout_heaters(specs: Sequence[MeshSpec], powers_mW: Sequence[np.ndarray], *, zoom_columns: int = 3,
                   zoom_ports: int = 8) -> LayoutHeaters:
    """Heater positions of the chip layout ``export_chip`` draws (``L{l}_`` names), with the power of each.

    The close-up box holds the first ``zoom_columns`` MZI columns and ``zoom_ports`` ports of layer 0.
    """
    specs = list(specs)
    positions = heater_positions_for(specs)
    names, power = [], []
    for l, (spec, p) in enumerate(zip(specs, powers_mW)):
        names += [f"L{l}_{h}" for h in spec.heater_names]
        power.append(np.asarray(p, dtype=float))
    xy = np.array([positions[n] for n in names], dtype=float)
    ensure_pdk()
    corners = []
    for placement in plan(specs, prefixed=True).placements.values():
        box = placement.cell.dbbox()
        corners += [placement.point(box.left, box.bottom), placement.point(box.right, box.top)]
    corners = np.array(corners)
    die = (float(corners[:, 0].min()), float(corners[:, 1].min()), float(corners[:, 0].max()), float(corners[:, 1].max()))
    near = [f"L0_{h}" for m in specs[0].mzis if m.column < zoom_columns and m.row + 1 < zoom_ports for h in m.heaters]
    pitch = abs(positions["L0_screen_p0_phi"][1] - positions["L0_screen_p1_phi"][1])
    box = np.array([positions[n] for n in near]) if near else xy
    zoom = (float(box[:, 0].min() - pitch), float(box[:, 1].min() - pitch),
            float(box[:, 0].max() + pitch), float(box[:, 1].max() + pitch))
    others = tuple(sorted(set(positions) - set(names)))
    other_xy = np.array([positions[n] for n in others], dtype=float).reshape(-1, 2)
    return LayoutHeaters(tuple(names), xy, np.concatenate(power), die, zoom, others, other_xy)
