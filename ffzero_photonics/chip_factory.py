"""A chip configuration plus the drawn layout's geometry -> PhotonicChip (the one place a simulated chip meets its layout).

photonic/ must not import the layout package; this module sits above both and injects the drawn
heater positions (thermal crosstalk, routed length per column) where the configuration asks for them.
A folded chip (``[chip] fold`` > 1) takes them from the folded chip layout (:class:`FoldedChipPositions`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Mapping

import numpy as np

from .errors import UserInputError
from .photonic.chip import PhotonicChip
from .photonic.chip_config import ChipConfig, build_chip
from .photonic.mesh_spec import MeshSpec, build_mesh
from .photonic.nonideal_config import as_config
from .photonic.physical import DrawnPositions, Physics

__all__ = ["FoldedChipPositions", "build_chip_from_config", "layout_positions_for", "with_layout"]

_DEFAULT_LAYERS = inspect.signature(PhotonicChip).parameters["layers"].default
_RIGID_TOL_UM = 1e-6


@dataclass(frozen=True)
class FoldedChipPositions:
    """``heater_positions(spec)`` of a chip of ``layers`` equal meshes drawn folded into ``fold`` bands.

    :meth:`by_layer` gives each layer's heater centres as the layout ``export_run`` draws (a one-layer run: the bare
    mesh). The chip asks per mesh, not per layer, so a call returns layer 0's, which every other layer must equal
    moved (or turned by 180 degrees, a westward band): that keeps each layer's crosstalk distances and column pitch.
    The U-turns' extra length (:meth:`turn_um`) is shared evenly by the layers' drawn path lengths.
    """

    layers: int
    fold: int

    def by_layer(self, spec: MeshSpec) -> list[dict[str, tuple[float, float]]]:
        """Per layer: heater name (unprefixed, as ``spec.heater_names``) -> its drawn centre (µm) in the folded layout."""
        from .layouts.floorplan import heater_positions_for  # imports gdsfactory; only when the layout is needed

        if self.layers == 1:
            return [heater_positions_for(spec, fold=self.fold)]
        drawn = heater_positions_for([spec] * self.layers, fold=self.fold)
        return [{h: drawn[f"L{l}_{h}"] for h in spec.heater_names} for l in range(self.layers)]

    def turn_um(self, spec: MeshSpec) -> float:
        """Mean waveguide (µm) one input-to-output path runs in the fold's U-turns beyond the straight links they replace."""
        return _turn_um(spec.topology, spec.n_ports, self.layers, self.fold)

    def __call__(self, spec: MeshSpec) -> DrawnPositions:
        layers = self.by_layer(spec)
        first = np.array(list(layers[0].values()))
        for l, positions in enumerate(layers[1:], 1):
            xy = np.array(list(positions.values()))
            if not any(np.ptp(xy - sign * first, axis=0).max() < _RIGID_TOL_UM for sign in (1.0, -1.0)):
                raise UserInputError(
                    f"[chip] fold = {self.fold} cuts layer {l} of the {self.layers}-layer chip elsewhere than layer 0, "
                    "and the per-mesh crosstalk model needs equal layers; choose a fold that keeps every mesh in one band")
        return DrawnPositions(layers[0], extra_route_um=self.turn_um(spec) / self.layers)


@lru_cache(maxsize=16)
def _turn_um(topology: str, n_ports: int, layers: int, fold: int) -> float:
    """U-turn length as ``mesh_layout`` draws it (nested: straight out to the band edge + rank x separation, an euler
    bend, the vertical run, a bend, back), minus the flat layout's straight link, summed over links / N."""
    import gdsfactory as gf

    from .components.cells import FAN_RADIUS_UM
    from .layouts.floorplan import FAN_SEPARATION, chip_links, optical_links, plan
    from .layouts.layers import WG_XS, ensure_pdk

    ensure_pdk()
    specs = [build_mesh(topology, n_ports) for _ in range(layers)]
    prefixed = layers > 1
    links = chip_links(specs) if prefixed else optical_links(specs[0])
    flat, folded = plan(specs, prefixed=prefixed), plan(specs, prefixed=prefixed, fold=fold)
    bend = float(gf.components.bend_euler(radius=FAN_RADIUS_UM, cross_section=WG_XS).info["length"])
    turns: dict[tuple, list] = {}
    for a, b in links:
        (xa, ya, side), (xb, yb, side_b) = _port(folded, a), _port(folded, b)
        if side == side_b:  # both ends face one way: a U-turn between two bands
            straight = abs(_port(flat, a)[0] - _port(flat, b)[0])
            turns.setdefault((side, round(ya + yb, 3)), []).append((side * xa, side * xb, abs(ya - yb), straight))
    total = 0.0
    for pairs in turns.values():
        edge = max(max(xa, xb) for xa, xb, _, _ in pairs)
        for rank, (xa, xb, dy, straight) in enumerate(sorted(pairs, key=lambda p: p[2])):
            total += 2 * (edge + rank * FAN_SEPARATION) - xa - xb + dy - 2 * FAN_RADIUS_UM + 2 * bend - straight
    return total / n_ports


def _port(fp, node: str) -> tuple[float, float, float]:
    """(x, y, +1 facing east | -1 facing west) of an optical link end ``inst,port`` in a floorplan."""
    inst, _, port = node.partition(",")
    p = fp.placements[inst]
    q = p.cell.ports[port or "o1"]
    x, y = p.point(q.x, q.y)
    turn = (q.orientation + p.rotation) % 360.0
    return x, y, 1.0 if min(turn, 360.0 - turn) < 1.0 else -1.0


def layout_positions_for(physics: Physics | Mapping | None, nonideal: Any = None, *, layers: int = _DEFAULT_LAYERS,
                         fold: int = 1) -> Callable | None:
    """The drawn layout's heater positions when the physics or the crosstalk effect places heaters by layout.

    ``fold`` = 1: ``heater_positions_for`` of each mesh drawn flat; ``fold`` > 1: the folded chip's
    (:class:`FoldedChipPositions` of ``layers`` meshes).
    """
    if isinstance(fold, bool) or not isinstance(fold, (int, np.integer)) or fold < 1:
        raise UserInputError(f"[chip] fold must be an integer >= 1, got {fold!r}")
    wants = (physics is not None and Physics.from_dict(physics).thermal.positions == "layout") or (
        as_config(nonideal).crosstalk.enabled and as_config(nonideal).crosstalk.positions == "layout")
    if not wants:
        return None
    if fold > 1:
        return FoldedChipPositions(int(layers), int(fold))
    from .layouts.floorplan import heater_positions_for  # imports gdsfactory; only when the layout is needed

    return heater_positions_for


def with_layout(options: Mapping[str, Any]) -> dict[str, Any]:
    """PhotonicChip keyword arguments with the layout's heater positions added when they are needed.

    A ``fold`` option (a run's ``[chip] fold``) is the layout's: it picks the positions and is kept in the chip's
    configuration, so a reloaded run rebuilds the same positions and route lengths.
    """
    options = dict(options)
    fold = options.get("fold", 1)
    if options.get("heater_positions") is None:
        options["heater_positions"] = layout_positions_for(
            options.get("physics"), options.get("nonideal"), layers=options.get("layers", _DEFAULT_LAYERS), fold=fold)
    return options


def build_chip_from_config(config: ChipConfig | Mapping[str, Any], data: Any = None, *,
                           seed: int | None = None) -> PhotonicChip:
    """The PhotonicChip a chip configuration describes, its heaters placed as in the drawn layout of the same meshes."""
    if not isinstance(config, ChipConfig):
        config = ChipConfig.from_dict(config)
    physics = config.physics_tables() if config.is_physical else None
    positions = layout_positions_for(physics, config.nonideal, layers=config.chip.layers, fold=config.chip.fold)
    return build_chip(config, data, seed=seed, heater_positions=positions)
