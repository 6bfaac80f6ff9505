"""Waveguide lengths of a drawn layout and the heater phases that absorb them: routes AND each cell's own paths.

``cell_paths`` reads every drawn MZI's input leads, arms and output fans and every screen heater's through path
from the cell hierarchy (straights, bends, heaters: ``info['length']``; an MMI: its port-to-port span);
``layer_paths`` puts them, with the extracted routes, in MeshSpec terms; ``compensated_params`` gives the heater
phases that make the drawn layers realise the trained ones at the design point. Used by ``export`` (the table it
writes), ``verify`` (the table it expects) and ``signoff`` (the drawn circuit over wavelength and corners).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import gdsfactory as gf
import numpy as np

from ffzero_photonics.errors import UserInputError
from ffzero_photonics.layouts.extract import LayoutExtraction, layout_route_lengths
from ffzero_photonics.photonic.compiled import compensate_route_phases
from ffzero_photonics.photonic.mesh_spec import MeshSpec
from ffzero_photonics.photonic.netlist import WL0

__all__ = ["NEFF", "NG", "LayerPaths", "cell_paths", "compensated_params", "layer_paths", "path_compensated_params",
           "path_phases"]

NEFF, NG = 2.34, 3.4
"""Effective and group index of the 500 x 220 nm strip at 1.55 µm (the project's defaults, ``models.waveguide``)."""
_MMI = ("mmi2x2", "mmi1x2")
_BAR = {"o1": "o4", "o2": "o3", "o3": "o2", "o4": "o1"}  # gdsfactory mmi2x2: bar partner of each port
_TOL_UM = 2e-3


def _leaves(cell, trans) -> list[tuple[str, dict[str, tuple[float, float]], float]]:
    """(kind 'wg'|'mmi', optical port name -> (x, y) in the top frame, length µm) of every waveguide piece of ``cell``."""
    out = []
    for inst in cell.insts:
        t = trans * inst.dcplx_trans
        child = inst.cell
        ports = {p.name: t * gf.kdb.DPoint(p.x, p.y) for p in child.ports if p.name.startswith("o") and p.name[1:].isdigit()}
        ports = {k: (p.x, p.y) for k, p in ports.items()}
        if child.function_name in _MMI:
            span = math.dist(ports["o1"], ports[_BAR["o1"]]) if "o4" in ports else 0.0
            out.append(("mmi", ports, span))
        elif "length" in child.info or not list(child.insts):
            if len(ports) == 2:
                a, b = ports.values()
                out.append(("wg", ports, float(child.info.get("length", math.dist(a, b)))))
        else:
            out += _leaves(child, t)
    return out


def _walk(leaves, start: tuple[float, float], cell_ports: dict[str, tuple[float, float]], skip: int | None = None):
    """Follow waveguide pieces from ``start`` to an MMI port or a cell port: (length, ('mmi', index, port) | ('port', None, name))."""
    length, here, used = 0.0, start, {skip}
    for _ in range(len(leaves) + 1):
        for i, (kind, ports, span) in enumerate(leaves):
            if i in used:
                continue
            hit = next((name for name, p in ports.items() if math.dist(p, here) < _TOL_UM), None)
            if hit is None:
                continue
            if kind == "mmi":
                return length, ("mmi", i, hit)
            used.add(i)
            length += span
            here = next(p for name, p in ports.items() if name != hit)
            break
        else:
            port = next((n for n, p in cell_ports.items() if math.dist(p, here) < _TOL_UM and p != start), None)
            return length, ("port", None, port)
    raise UserInputError(f"layout: the waveguide from {start} inside a drawn cell does not end")


def _mzi_paths(cell) -> dict[str, float]:
    leaves = _leaves(cell, gf.kdb.DCplxTrans())
    ports = {p.name: (p.x, p.y) for p in cell.ports if p.name in ("o1", "o2", "o3", "o4")}
    in_up, (kind_u, a, a_up) = _walk(leaves, ports["o2"], ports)
    in_lo, (kind_l, a2, a_lo) = _walk(leaves, ports["o1"], ports)
    if kind_u != "mmi" or kind_l != "mmi" or a != a2:
        raise UserInputError(f"layout: the inputs o1/o2 of drawn MZI cell {cell.name} do not reach one MMI")
    arm_up, (kind_u, b, b_up) = _walk(leaves, leaves[a][1][_BAR[a_up]], ports, skip=a)
    arm_lo, (kind_l, b2, b_lo) = _walk(leaves, leaves[a][1][_BAR[a_lo]], ports, skip=a)
    if kind_u != "mmi" or kind_l != "mmi" or b != b2:
        raise UserInputError(f"layout: the two arms of drawn MZI cell {cell.name} do not meet at one MMI")
    out_up, end_up = _walk(leaves, leaves[b][1][_BAR[b_up]], ports, skip=b)
    out_lo, end_lo = _walk(leaves, leaves[b][1][_BAR[b_lo]], ports, skip=b)
    if end_up[2] != "o3" or end_lo[2] != "o4":
        raise UserInputError(f"layout: the outputs of drawn MZI cell {cell.name} do not reach o3 / o4")
    mmis = leaves[a][2] + leaves[b][2]  # the MMIs' own spans, taken as strip waveguide on both arms
    return {"in_up": in_up, "in_lo": in_lo, "arm_up": arm_up + mmis, "arm_lo": arm_lo + mmis, "out_up": out_up,
            "out_lo": out_lo}


def _heater_paths(cell) -> dict[str, float]:
    leaves = _leaves(cell, gf.kdb.DCplxTrans())
    ports = {p.name: (p.x, p.y) for p in cell.ports if p.name in ("o1", "o2")}
    through, end = _walk(leaves, ports["o1"], ports)
    if end[2] != "o2":
        raise UserInputError(f"layout: o1 of drawn screen heater cell {cell.name} does not reach its o2")
    return {"through": through}


def cell_paths(extraction: LayoutExtraction) -> dict[str, dict[str, float]]:
    """Instance -> its drawn internal waveguide lengths (µm): an MZI's in_up/in_lo/arm_up/arm_lo/out_up/out_lo, a screen
    heater's ``through`` (upper = the o2/o3 side, the side of the phi and theta heaters)."""
    by_cell: dict[str, dict[str, float]] = {}
    out = {}
    for inst in extraction.component.insts:
        kind = extraction.kinds.get(inst.name)
        if kind not in ("mzi", "heater"):
            continue
        if inst.cell.name not in by_cell:
            by_cell[inst.cell.name] = _mzi_paths(inst.cell) if kind == "mzi" else _heater_paths(inst.cell)
        out[inst.name] = by_cell[inst.cell.name]
    return out


# ---------------------------------------------------------------- one layer on the compiled path


@dataclass
class LayerPaths:
    """Waveguide lengths (µm) of one layer in MeshSpec terms: routes and cell leads per (column, port), MZI arms."""

    routes: np.ndarray  # (C + 1, N) the extracted routes (``layout_route_lengths``)
    leads: np.ndarray  # (C + 1, N) cells' input leads (row c) and output fans (row c + 1); the screen heaters (row C)
    arm_up: np.ndarray  # (n_mzis,)
    arm_lo: np.ndarray  # (n_mzis,)


def layer_paths(extraction: LayoutExtraction, specs: Sequence[MeshSpec], layer: int,
                paths: dict[str, dict[str, float]] | None = None) -> LayerPaths:
    """The :class:`LayerPaths` of ``layer`` (instance names must be the design's: ``L{l}_mzi_c{c}_r{r}``)."""
    spec = specs[layer]
    paths = cell_paths(extraction) if paths is None else paths
    pre = f"L{layer}_" if extraction.prefixed else ""
    routes = layout_route_lengths(extraction, list(specs))[layer]
    leads = np.zeros_like(routes)
    arm_up, arm_lo = np.zeros(spec.n_mzis), np.zeros(spec.n_mzis)
    for i, m in enumerate(spec.mzis):
        p = paths[pre + m.name]
        leads[m.column, m.row] += p["in_up"]
        leads[m.column, m.row + 1] += p["in_lo"]
        leads[m.column + 1, m.row] += p["out_up"]
        leads[m.column + 1, m.row + 1] += p["out_lo"]
        arm_up[i], arm_lo[i] = p["arm_up"], p["arm_lo"]
    for k in range(spec.n_ports):
        leads[spec.n_columns, k] += paths[f"{pre}screen_p{k}"]["through"]
    return LayerPaths(routes, leads, arm_up, arm_lo)


def _beta(wl: float, dneff, neff: float, ng: float) -> np.ndarray:
    """Propagation constant (rad / µm) at ``wl`` of a waveguide of index neff + ``dneff`` at wl0 and group index ng (``models.waveguide``)."""
    n = neff + np.asarray(dneff)
    return 2 * np.pi * (n - (wl - WL0) * (ng - n) / WL0) / wl


def path_phases(paths: LayerPaths, spec: MeshSpec, wl: float = WL0, dneff: dict[str, Any] | None = None, *,
                neff: float = NEFF, ng: float = NG) -> tuple[np.ndarray, np.ndarray]:
    """(route phase (C + 1, N), theta offset (n_mzis,)) of the layer's waveguides at ``wl``; ``dneff`` per piece kind
    (``routes``/``leads``/``arm_up``/``arm_lo``, default 0) shifts their index."""
    dneff = dneff or {}
    beta = {k: _beta(wl, dneff.get(k, 0.0), neff, ng) for k in ("routes", "leads", "arm_up", "arm_lo")}
    route = beta["routes"] * paths.routes + beta["leads"] * paths.leads
    up, lo = beta["arm_up"] * paths.arm_up, beta["arm_lo"] * paths.arm_lo
    for i, m in enumerate(spec.mzis):  # the lower arm's phase is common to both outputs
        route[m.column + 1, m.row] += lo[i]
        route[m.column + 1, m.row + 1] += lo[i]
    return route, up - lo


def path_compensated_params(spec: MeshSpec, params, paths: LayerPaths, *, wl: float = WL0, neff: float = NEFF,
                            ng: float = NG) -> np.ndarray:
    """Heater phases that make the drawn layer (routes AND cell paths) realise ``params`` at ``wl`` (design: wl0)."""
    route, theta_offset = path_phases(paths, spec, wl, neff=neff, ng=ng)
    out = np.asarray(params, dtype=float).copy()
    out[0 : 2 * spec.n_mzis : 2] -= theta_offset
    return compensate_route_phases(spec, out, route)


def compensated_params(extraction: LayoutExtraction, specs: Sequence[MeshSpec], params, *, trained_routes=None,
                       wl: float = WL0, neff: float = NEFF, ng: float = NG) -> list[np.ndarray]:
    """Per-layer heater phases that make the extracted layout (routes AND cell paths) realise ``params``.

    ``trained_routes`` (a chip trained with its route lengths, one (C + 1, N) array per layer) are already in
    ``params``: only the rest of each route is compensated.
    """
    specs = list(specs)
    by_inst = cell_paths(extraction)
    out = []
    for l, (s, p) in enumerate(zip(specs, params)):
        paths = layer_paths(extraction, specs, l, by_inst)
        if trained_routes is not None:
            paths = LayerPaths(paths.routes - np.asarray(trained_routes[l], dtype=float), paths.leads, paths.arm_up,
                               paths.arm_lo)
        out.append(path_compensated_params(s, p, paths, wl=wl, neff=neff, ng=ng))
    return out
