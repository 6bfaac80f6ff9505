"""Post-layout verification: does the exported GDS, driven by its heater table, compute what was trained?

``verify_run(run_dir, gds_path)`` reads the GDS back, extracts each layer's
optical circuit and the heater each pad really drives, simulates the extracted
circuits with sax at the heater table's phases, and compares them with the
trained chip: per-layer max |U_layout - U_trained| and the test accuracy of the
network computed through the layout's matrices.

Extracted from the files (nothing here is taken from the design):

- GDS geometry: every element instance (``heater_mzi``, ``phase_screen_heater``,
  ``tap_detector``, ``io_coupler``, ``pad``) and its placement; the optical
  connectivity of the placed ports through the route instances (straights,
  bends) and each route's length; the heater labels (66, 0) and pad labels
  (66, 1) with their positions; the routing metal (49, 0) merged into islands.
- GDS metadata (kfactory writes each cell's ports, info and function name
  into the file): the cells' port positions, the heater centres and the route
  lengths, transformed by the placements read from the geometry.
- The heater table CSV: for every row, the pad position and the phase.

Which heater a phase reaches is decided electrically: row -> pad at its
position -> metal island -> the heater terminal on that island. Names (labels,
instance names) are only cross-checked and used in messages. The input and
output order is the IO couplers' and taps' top-to-bottom order.

Trusted from the design: the device models (a ``heater_mzi`` is the ideal
MZI T(theta, phi) of ``components.models.mzi``, a screen heater e^{i phase},
a route a waveguide of neff/ng; the propagation phase inside element cells is
not modelled), which cell port is which heater role, and the run's encoder,
EO activation and readout.

Route phases: unequal routes put a phase on every (column, port). Those
phases are exactly absorbable by the phi heaters and the screen
(``photonic.compiled.compensate_route_phases``), so by default they are
reported, not failed: a heater table exported from a chip trained without
routes is verified route-free, and the deviation the routes would add is shown.
``route_phases="include"`` (or a chip trained with ``route_lengths``) makes the
routed circuit the pass criterion.
"""

from __future__ import annotations

import csv
import math
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "HeaterRow",
    "LayerCircuit",
    "LayoutExtraction",
    "LayoutNetwork",
    "VerifyReport",
    "extract_layout",
    "heater_drive",
    "layer_netlist",
    "layout_route_lengths",
    "read_gds",
    "read_heater_table",
    "simulate_layer",
    "verify_run",
]

ROUTE_MODES = ("auto", "exclude", "include")
METAL_LAYER = (49, 0)
_ELEMENT_KINDS = {
    "heater_mzi": "mzi",
    "phase_screen_heater": "heater",
    "tap_detector": "tap",
    "io_coupler": "io",
}
_ROLES = {"mzi": ("theta", "phi"), "heater": ("phi",)}
_CENTRE_KEYS = {"theta": "theta_center", "phi": "phi_center"}
_POS_TOL_UM = 0.01


# ---------------------------------------------------------------- reading files


def read_gds(path: str | Path):
    """A GDS file as a gdsfactory Component (geometry + kfactory cell metadata), renamed so it never clashes with cells in memory."""
    import kfactory as kf
    from gdsfactory.read.import_gds import kcell_to_component

    from ffzero_photonics.components.cells import ensure_pdk

    ensure_pdk()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"GDS file {str(path)!r} does not exist")
    temp = kf.KCLayout(name=f"ffzero_verify_{uuid.uuid4().hex[:12]}")
    try:
        options = kf.utilities.load_layout_options()
        options.warn_level = 0
        try:
            temp.read(str(path), options=options)
        except RuntimeError as exc:
            raise ValueError(f"{str(path)!r} is not a readable GDS file: {exc}") from None
        tops = temp.layout.top_cells()
        if len(tops) != 1:
            raise ValueError(f"{str(path)!r} must hold one top cell, found {len(tops)}: {[t.name for t in tops]}")
        kcell = temp[tops[0].name]
        kcell.name = f"{tops[0].name}__readback_{temp.name[-12:]}"
        for xs in temp.cross_sections.cross_sections.values():
            kf.kcl.get_symmetrical_cross_section(xs)
        return kcell_to_component(kcell)
    finally:
        temp.library.delete()
        del kf.layout.kcls[temp.name]


@dataclass(frozen=True)
class HeaterRow:
    """One row of an exported heater table."""

    index: int
    heater: str
    pad: str
    x: float
    y: float
    phase: float
    power_mW: float | None
    voltage_V: float | None


def read_heater_table(path: str | Path) -> list[HeaterRow]:
    """Rows of ``<stem>_heaters.csv`` (``layouts.export.HEATER_TABLE_COLUMNS``); every row must carry a phase."""
    from ffzero_photonics.layouts.export import HEATER_TABLE_COLUMNS

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"heater table {str(path)!r} does not exist")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in HEATER_TABLE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"heater table {str(path)!r} lacks columns {missing} (has {reader.fieldnames})")
        rows = []
        for i, r in enumerate(reader):
            where = f"heater table {path.name} row {i + 2} ({r['heater']!r})"
            if not r["phase_rad"].strip():
                raise ValueError(f"{where} has no phase: export the trained chip (export-gds --from RUN_DIR)")
            try:
                rows.append(
                    HeaterRow(
                        i, r["heater"], r["pad"], float(r["pad_x_um"]), float(r["pad_y_um"]), float(r["phase_rad"]),
                        _opt_float(r["power_mW"]), _opt_float(r["voltage_V"]),
                    )
                )
            except ValueError:
                raise ValueError(f"{where}: non-numeric pad position or phase {r!r}") from None
            if not all(math.isfinite(v) for v in (rows[-1].x, rows[-1].y, rows[-1].phase)):
                raise ValueError(f"{where}: non-finite pad position or phase")
    if not rows:
        raise ValueError(f"heater table {str(path)!r} has no rows")
    return rows


def _opt_float(text: str) -> float | None:
    return float(text) if text and text.strip() else None


# ---------------------------------------------------------------- extraction


@dataclass
class LayerCircuit:
    """One mesh layer of the layout: its elements, routes, and where its N inputs and outputs attach.

    ``routes`` maps an element output to (element input, length µm);
    ``sources[k]`` / ``sinks[k]`` are the element ports fed by input k / feeding
    output k (None: open), with the lengths of those routes.
    """

    elements: list[str]
    sources: list[str | None]
    sinks: list[str | None]
    source_lengths: list[float]
    sink_lengths: list[float]
    routes: dict[str, tuple[str, float]] = field(default_factory=dict)

    def route_lengths(self) -> list[float]:
        return [length for _, length in self.routes.values()]


@dataclass
class LayoutExtraction:
    """What :func:`extract_layout` read from a GDS file (see the module docstring)."""

    component: Any
    kinds: dict[str, str]
    netlist: dict
    layers: list[LayerCircuit]
    prefixed: bool
    terminals: dict[tuple[str, str], int | None]
    heater_labels: dict[tuple[str, str], str | None]
    pads: list[dict]
    errors: list[str]
    n_ports: int

    def summary(self) -> str:
        counts = defaultdict(int)
        for kind in self.kinds.values():
            counts[kind] += 1
        lengths = [x for layer in self.layers for x in layer.route_lengths()]
        span = f" ({min(lengths):.1f}-{max(lengths):.1f} µm)" if lengths else ""
        return (
            f"{len(self.layers)} layer{'s' if len(self.layers) != 1 else ''}, N={self.n_ports}: "
            f"{counts['mzi']} MZIs, {counts['heater']} screen heaters, {counts['tap']} taps, "
            f"{counts['io']} IO couplers, {len(lengths)} routes{span}, {len(self.pads)} pads"
        )


def extract_layout(gds_or_component, n_layers: int | None = None) -> LayoutExtraction:
    """Read a mesh/chip GDS (path or Component) into per-layer optical circuits, heater terminals and pads.

    ``n_layers`` is the number of meshes expected (checked against the tap columns found).
    """
    from ffzero_photonics.layouts.mesh_layout import HEATER_LABEL_LAYER, PAD_LABEL_LAYER, layout_netlist

    component = read_gds(gds_or_component) if isinstance(gds_or_component, (str, Path)) else gds_or_component
    errors: list[str] = []
    insts = {inst.name: inst for inst in component.insts}
    kinds: dict[str, str] = {}
    pads: list[dict] = []
    for name, inst in insts.items():
        fn = inst.cell.function_name or inst.cell.name
        kind = next((k for prefix, k in _ELEMENT_KINDS.items() if fn.startswith(prefix)), None)
        if kind is not None:
            kinds[name] = kind
        elif fn == "pad":
            box = inst.dbbox()
            pads.append({"inst": name, "box": (box.left, box.bottom, box.right, box.top)})
    if not any(k == "mzi" or k == "heater" for k in kinds.values()):
        raise ValueError(f"{component.name} holds no heater_mzi or phase_screen_heater cells: not an ffzero mesh layout")

    net = layout_netlist(component)
    errors += [f"optical: {w}" for w in net["warnings"]]

    labels = _label_index(component.get_labels(layer=HEATER_LABEL_LAYER))
    heater_labels: dict[tuple[str, str], str | None] = {}
    for name, kind in sorted(kinds.items()):
        for role in _ROLES.get(kind, ()):
            inst = insts[name]
            lx, ly = inst.cell.info[_CENTRE_KEYS[role]]
            p = inst.dcplx_trans * _dpoint(lx, ly)
            text = labels.pop(_pos_key(p.x, p.y), None)
            heater_labels[(name, role)] = text
            if text is None:
                errors.append(f"layout: no heater label at the {role} heater of {name} ({p.x:.3f}, {p.y:.3f})")
            elif text != f"{name}_{role}":
                errors.append(f"layout: the {role} heater of instance {name} at ({p.x:.3f}, {p.y:.3f}) is labelled {text!r}")
    for (x, y), text in sorted(labels.items()):
        errors.append(f"layout: heater label {text!r} at ({x / 1000:.3f}, {y / 1000:.3f}) sits on no heater")
    prefixed = any((t or "").startswith("L0_") for t in heater_labels.values())

    islands = _Islands(component, METAL_LAYER)
    terminals = {}
    for (name, role) in heater_labels:
        terminals[(name, role)] = islands.at(*_inside(insts[name].ports[role]))
    pad_labels = list(component.get_labels(layer=PAD_LABEL_LAYER))
    centred = defaultdict(list)
    for t in pad_labels:
        centred[_pos_key(t.x, t.y)].append(t.string)
    for pad in pads:
        x0, y0, x1, y1 = pad["box"]
        pad["x"], pad["y"] = (x0 + x1) / 2, (y0 + y1) / 2
        inside = centred.get(_pos_key(pad["x"], pad["y"])) or [
            t.string for t in pad_labels if x0 <= t.x <= x1 and y0 <= t.y <= y1
        ]
        pad["label"] = inside[0] if len(inside) == 1 else None
        if len(inside) != 1:
            errors.append(f"layout: pad {pad['inst']} at ({pad['x']:.3f}, {pad['y']:.3f}) carries {len(inside)} pad labels {inside}")
        pad["island"] = islands.at(pad["x"], pad["y"])

    layers, n_ports = _layers(component, insts, kinds, net, n_layers, errors)
    return LayoutExtraction(component, kinds, net, layers, prefixed, terminals, heater_labels, pads, errors, n_ports)


def _layers(component, insts, kinds, net, n_layers, errors) -> tuple[list[LayerCircuit], int]:
    """Split the extracted connectivity into mesh layers at the tap columns; order ports top to bottom."""
    connections: dict[str, str] = net["connections"]
    upstream = {b: a for a, b in connections.items()}
    ios = {io: node for io, node in net["ports"].items()}
    ins = sorted((io for io, node in ios.items() if not _is_output(node, kinds[node.split(",")[0]])), key=lambda n: -insts[n].ports["o1"].y)
    outs = sorted((io for io in ios if io not in ins), key=lambda n: -insts[n].ports["o1"].y)
    dangling = sorted(n for n, k in kinds.items() if k == "io" and n not in ios)
    for io in dangling:
        errors.append(f"optical: IO coupler {io} is connected to no mesh element")
    n_ports = len(ins)
    if len(outs) != n_ports:
        errors.append(f"optical: {len(ins)} input couplers reach the mesh but {len(outs)} output couplers do")
    taps = [n for n, k in kinds.items() if k == "tap"]
    columns: dict[int, list[str]] = defaultdict(list)
    for t in taps:
        columns[round(insts[t].ports["o1"].x)].append(t)
    tap_cols = [sorted(columns[x], key=lambda n: -insts[n].ports["o1"].y) for x in sorted(columns)]
    for i, col in enumerate(tap_cols):
        if len(col) != n_ports:
            errors.append(f"layout: tap column {i} at x={insts[col[0]].ports['o1'].x:.1f} holds {len(col)} taps, expected {n_ports}")
    expected = len(tap_cols) + 1
    if n_layers is not None and n_layers != expected:
        errors.append(f"layout: {expected} mesh layer{'s' if expected != 1 else ''} (tap columns + 1) but the run has {n_layers}")

    lengths = net["lengths"]
    io_lengths = _io_lengths(component, kinds, list(ios))
    layers = []
    for l in range(expected):
        if l == 0:
            sources = [ios[io] for io in ins]
            source_lengths = [io_lengths.get(io, 0.0) for io in ins]
        else:
            sources = [connections.get(f"{t},o2") for t in tap_cols[l - 1]]
            source_lengths = [lengths.get(f"{t},o2", 0.0) for t in tap_cols[l - 1]]
        if l == expected - 1:
            sinks = [ios[io] for io in outs]
            sink_lengths = [io_lengths.get(io, 0.0) for io in outs]
        else:
            sinks = [upstream.get(f"{t},o1") for t in tap_cols[l]]
            sink_lengths = [lengths.get(s, 0.0) if s is not None else 0.0 for s in sinks]
        layer = LayerCircuit([], sources, sinks, source_lengths, sink_lengths)
        seen: set[str] = set()
        frontier = [s.split(",")[0] for s in sources if s is not None]
        while frontier:
            inst = frontier.pop(0)
            if inst in seen or kinds.get(inst) not in ("mzi", "heater"):
                continue
            seen.add(inst)
            layer.elements.append(inst)
            for port in ("o3", "o4") if kinds[inst] == "mzi" else ("o2",):
                nxt = connections.get(f"{inst},{port}")
                if nxt is not None:
                    frontier.append(nxt.split(",")[0])
        for a, b in connections.items():
            if a.split(",")[0] in seen and b.split(",")[0] in seen:
                layer.routes[a] = (b, lengths.get(a, 0.0))
        layers.append(layer)
    placed = {e for layer in layers for e in layer.elements}
    for name in sorted(n for n, k in kinds.items() if k in ("mzi", "heater") and n not in placed):
        errors.append(f"optical: {name} is reached from no input of any layer")
    return layers, n_ports


def _is_output(node: str, kind: str) -> bool:
    port = node.split(",")[1]
    return port in ("o3", "o4") if kind == "mzi" else port == "o2"


def _io_lengths(component, kinds: dict[str, str], ios: list[str]) -> dict[str, float]:
    """Routed length (µm) from each IO coupler's ``o1`` to the element it reaches (summed route ``info.length``)."""
    raw = component.get_netlist(on_dangling_port="ignore", on_multi_connect="ignore")
    adjacency: dict[str, list[str]] = defaultdict(list)
    for item in raw["nets"]:
        adjacency[item["p1"]].append(item["p2"])
        adjacency[item["p2"]].append(item["p1"])
    ports_of: dict[str, list[str]] = defaultdict(list)
    for node in adjacency:
        ports_of[node.split(",")[0]].append(node)
    info_length = {n: float(i.get("info", {}).get("length", 0.0)) for n, i in raw["instances"].items()}
    out = {}
    for io in ios:
        node, seen, total = f"{io},o1", {f"{io},o1"}, 0.0
        while True:
            nxt = [p for p in adjacency.get(node, []) if p not in seen]
            if not nxt:
                break
            node = nxt[0]
            seen.add(node)
            inst = node.split(",")[0]
            if inst in kinds:
                break
            total += info_length.get(inst, 0.0)
            others = [p for p in ports_of.get(inst, []) if p not in seen]
            if not others:
                break
            node = others[0]
            seen.add(node)
        out[io] = total
    return out


class _Islands:
    """Merged polygons of one layer with a coarse grid index for point look-ups."""

    BIN_UM = 100.0

    def __init__(self, component, layer):
        import gdsfactory as gf

        kdb = gf.kdb
        region = kdb.Region(component.kdb_cell.begin_shapes_rec(component.kcl.layer(*layer)))
        self.polygons = list(region.merged().each())
        self.dbu = component.kcl.dbu
        self.kdb = kdb
        self.bins: dict[tuple[int, int], list[int]] = defaultdict(list)
        size = self.BIN_UM / self.dbu
        for i, poly in enumerate(self.polygons):
            box = poly.bbox()
            for bx in range(math.floor(box.left / size), math.floor(box.right / size) + 1):
                for by in range(math.floor(box.bottom / size), math.floor(box.top / size) + 1):
                    self.bins[(bx, by)].append(i)
        self._size = size

    def at(self, x: float, y: float) -> int | None:
        pt = self.kdb.Point(round(x / self.dbu), round(y / self.dbu))
        for i in self.bins.get((math.floor(pt.x / self._size), math.floor(pt.y / self._size)), ()):
            if self.polygons[i].bbox().contains(pt) and self.polygons[i].inside(pt):
                return i
        return None


def _label_index(texts) -> dict[tuple[int, int], str]:
    return {_pos_key(t.x, t.y): t.string for t in texts}


def _pos_key(x: float, y: float) -> tuple[int, int]:
    return (round(x * 1000), round(y * 1000))


def _dpoint(x: float, y: float):
    import gdsfactory as gf

    return gf.kdb.DPoint(x, y)


def _inside(port, depth: float = 1.0) -> tuple[float, float]:
    a = math.radians(port.orientation)
    return port.x - depth * math.cos(a), port.y - depth * math.sin(a)


# ---------------------------------------------------------------- heater drive


def heater_drive(extraction: LayoutExtraction, rows: list[HeaterRow]) -> tuple[dict[tuple[str, str], float], list[str]]:
    """(instance, role) -> phase the heater table really applies, through pad position and metal; errors name the place."""
    errors: list[str] = []
    by_island: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for key, island in extraction.terminals.items():
        if island is None:
            errors.append(f"electrical: the {key[1]} terminal of {key[0]} touches no routing metal")
        else:
            by_island[island].append(key)

    def label(key: tuple[str, str]) -> str:
        return extraction.heater_labels.get(key) or f"{key[0]}_{key[1]}"

    drive: dict[tuple[str, str], float] = {}
    driven_by: dict[tuple[str, str], list[str]] = defaultdict(list)
    by_centre = {_pos_key(p["x"], p["y"]): p for p in extraction.pads}
    for row in rows:
        where = f"({row.x:.3f}, {row.y:.3f})"
        pad = by_centre.get(_pos_key(row.x, row.y)) or next(
            (p for p in extraction.pads if _in_box(p["box"], row.x, row.y)), None
        )
        if pad is None:
            errors.append(f"heater table: row for {row.heater} names pad {row.pad} at {where}, where the GDS has no pad")
            continue
        if pad["label"] is not None and pad["label"] != row.heater:
            errors.append(f"heater table: row for {row.heater} drives the pad at {where}, which is labelled {pad['label']!r}")
        elif row.pad != f"pad_{row.heater}":
            errors.append(f"heater table: row for {row.heater} names pad {row.pad!r}, expected 'pad_{row.heater}'")
        heaters = by_island.get(pad["island"], []) if pad["island"] is not None else []
        name = pad["label"] or pad["inst"]
        if not heaters:
            errors.append(f"electrical: pad {name} at {where} (table row {row.heater}) is wired to no heater")
            continue
        if len(heaters) > 1:
            errors.append(
                f"electrical: pad {name} at {where} is wired to {len(heaters)} heaters: "
                f"{', '.join(sorted(label(h) for h in heaters))} (short)"
            )
        for h in heaters:
            if label(h) != row.heater:
                errors.append(
                    f"electrical: table row {row.heater} drives pad {name} at {where}, which is wired to heater "
                    f"{label(h)} ({h[0]}, {h[1]})"
                )
            drive[h] = row.phase
            driven_by[h].append(row.heater)
    for key in extraction.terminals:
        if not driven_by.get(key):
            errors.append(f"heater table: heater {label(key)} ({key[0]}, {key[1]}) is driven by no row")
        elif len(driven_by[key]) > 1:
            errors.append(f"electrical: heater {label(key)} is driven by rows {driven_by[key]} at once")
    return drive, errors


def _in_box(box, x: float, y: float) -> bool:
    x0, y0, x1, y1 = box
    return x0 - _POS_TOL_UM <= x <= x1 + _POS_TOL_UM and y0 - _POS_TOL_UM <= y <= y1 + _POS_TOL_UM


def _table_consistency(rows: list[HeaterRow]) -> list[str]:
    """Rows whose power or voltage disagrees with the phase under the table's own P_pi and R."""
    ratios = [(r.power_mW / r.phase, r) for r in rows if r.power_mW is not None and r.phase > 1e-6]
    if not ratios:
        return []
    p_per_rad = float(np.median([q for q, _ in ratios]))
    out = []
    for q, r in ratios:
        if abs(q - p_per_rad) > 1e-6 * abs(p_per_rad):
            out.append(
                f"heater table: row {r.heater}: power {r.power_mW:.6g} mW does not set phase {r.phase:.6g} rad "
                f"(the table's other rows use P_pi = {p_per_rad * math.pi:.6g} mW)"
            )
    volts = [(r.voltage_V**2 / r.power_mW, r) for r in rows if r.voltage_V is not None and r.power_mW and r.power_mW > 1e-9]
    if volts:
        v_ratio = float(np.median([q for q, _ in volts]))
        for q, r in volts:
            if abs(q - v_ratio) > 1e-6 * abs(v_ratio):
                out.append(f"heater table: row {r.heater}: voltage {r.voltage_V:.6g} V does not give power {r.power_mW:.6g} mW")
    return out


# ---------------------------------------------------------------- simulation


_SAX_CIRCUITS: dict = {}


def layer_netlist(extraction: LayoutExtraction, layer: int) -> tuple[dict, dict[str, str], dict[str, float]]:
    """sax netlist of one extracted layer (devices ``mzi``/``heater``/``waveguide``), the element renaming and route lengths.

    Elements are renamed ``e{i}`` in breadth-first order from the inputs and
    routes ``w{i}`` / ``wi{k}`` / ``wo{k}`` (with their lengths in µm), so
    identical layers share one compiled sax circuit.
    """
    circ = extraction.layers[layer]
    canon = {name: f"e{i}" for i, name in enumerate(circ.elements)}
    instances = {canon[n]: {"component": extraction.kinds[n]} for n in circ.elements}
    connections: dict[str, str] = {}
    ports: dict[str, str] = {}
    lengths: dict[str, float] = {}

    def node(n: str) -> str | None:
        inst, port = n.split(",")
        return f"{canon[inst]},{port}" if inst in canon else None

    routes = sorted((node(a), node(b), length) for a, (b, length) in circ.routes.items())
    for i, (a, b, length) in enumerate(routes):
        instances[f"w{i}"] = {"component": "waveguide"}
        connections[a] = f"w{i},o1"
        connections[f"w{i},o2"] = b
        lengths[f"w{i}"] = length
    for k, (src, length) in enumerate(zip(circ.sources, circ.source_lengths)):
        if src is not None and node(src) is not None:
            instances[f"wi{k}"] = {"component": "waveguide"}
            ports[f"in{k}"] = f"wi{k},o1"
            connections[f"wi{k},o2"] = node(src)
            lengths[f"wi{k}"] = length
    for k, (snk, length) in enumerate(zip(circ.sinks, circ.sink_lengths)):
        if snk is not None and node(snk) is not None:
            instances[f"wo{k}"] = {"component": "waveguide"}
            connections[node(snk)] = f"wo{k},o1"
            ports[f"out{k}"] = f"wo{k},o2"
            lengths[f"wo{k}"] = length
    return {"instances": instances, "connections": connections, "ports": ports}, canon, lengths


def _circuit(netlist: dict):
    import sax

    from ffzero_photonics.components.models import heater, mzi, waveguide

    key = repr((sorted(netlist["instances"].items()), sorted(netlist["connections"].items()), sorted(netlist["ports"].items())))
    if key not in _SAX_CIRCUITS:
        if len(_SAX_CIRCUITS) > 16:
            _SAX_CIRCUITS.clear()
        circuit, _ = sax.circuit(
            netlist, models={"mzi": mzi, "heater": heater, "waveguide": waveguide}, backend="klu", ignore_missing_ports=True
        )
        _SAX_CIRCUITS[key] = circuit
    return _SAX_CIRCUITS[key]


def simulate_layer(
    extraction: LayoutExtraction,
    layer: int,
    drive: dict[tuple[str, str], float],
    *,
    routes: bool,
    wl: float = 1.55,
    neff: float = 2.34,
    ng: float = 3.4,
    loss_dB_cm: float = 0.0,
) -> np.ndarray:
    """U[out, in] (N, N) of one extracted layer, by sax, at the driven phases; routes at their length or at 0."""
    import sax

    netlist, canon, lengths = layer_netlist(extraction, layer)
    settings: dict[str, dict] = {}
    for name, c in canon.items():
        if extraction.kinds[name] == "mzi":
            settings[c] = {"theta": drive.get((name, "theta"), 0.0), "phi": drive.get((name, "phi"), 0.0), "wl": wl}
        else:
            settings[c] = {"phase": drive.get((name, "phi"), 0.0), "wl": wl}
    for wg, length in lengths.items():
        settings[wg] = {"wl": wl, "neff": neff, "ng": ng, "loss_dB_cm": loss_dB_cm, "length": length if routes else 0.0}
    dense, port_map = sax.sdense(_circuit(netlist)(**settings))
    dense = np.asarray(dense)
    n = extraction.n_ports
    u = np.zeros((n, n), dtype=complex)
    for i in range(n):
        for o in range(n):
            if f"in{i}" in port_map and f"out{o}" in port_map:
                u[o, i] = dense[port_map[f"in{i}"], port_map[f"out{o}"]]
    return u


def layout_route_lengths(extraction: LayoutExtraction, specs) -> list[np.ndarray]:
    """Per layer, the extracted route lengths (µm) as (n_columns + 1, N) arrays in MeshSpec terms.

    Row c holds the route entering column c on each port (row 0 includes the
    input route from the coupler or tap, row n_columns the route into the
    screen plus the one leaving it), ready for
    ``compiled.route_phases_from_lengths`` / ``compensate_route_phases`` and
    ``CompiledMesh(route_phase=...)``. Needs instance names that match the design.
    """
    out = []
    for l, (spec, circ) in enumerate(zip(specs, extraction.layers)):
        pre = f"L{l}_" if extraction.prefixed else ""
        lengths = np.zeros((spec.n_columns + 1, spec.n_ports))
        for a, (b, length) in circ.routes.items():
            col, port = _design_slot(spec, pre, b)
            lengths[col, port] += length
        for k, src in enumerate(circ.sources):
            if src is not None:
                lengths[0, k] += circ.source_lengths[k]
        for k, snk in enumerate(circ.sinks):
            if snk is not None:
                lengths[spec.n_columns, k] += circ.sink_lengths[k]
        out.append(lengths)
    return out


def _design_slot(spec, prefix: str, node: str) -> tuple[int, int]:
    inst, port = node.split(",")
    name = inst[len(prefix):] if inst.startswith(prefix) else inst
    if name.startswith("screen_p"):
        return spec.n_columns, int(name[len("screen_p"):])
    if not name.startswith("mzi_c"):
        raise ValueError(f"route ends at {node!r}, which is no element of the design")
    col_s, row_s = name[len("mzi_c"):].split("_r")
    row = int(row_s)
    return int(col_s), row if port == "o2" else row + 1


# ---------------------------------------------------------------- the network through the layout


class LayoutNetwork:
    """The trained network with every mesh replaced by a layout-extracted matrix (a ``LayeredBlackBox``).

    Encoder, EO activation, input power and readout are the chip's; the
    heater phases are fixed by the layout and its heater table.
    """

    def __init__(self, chip, unitaries: list[np.ndarray]):
        from ffzero_photonics.blackbox import QueryCounter

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
        """Detector powers of ``layer``: fields -> U_0 -> activation -> ... -> U_layer, read as the chip reads it."""
        from ffzero_photonics.blackbox import check_inputs

        if settings:
            raise ValueError("a layout network takes no candidate settings: its heater phases are fixed")
        if not 0 <= layer < self.n_layers:
            raise ValueError(f"layer {layer} out of range 0..{self.n_layers - 1}")
        x = check_inputs(x, self.n_inputs)
        fields = self.chip.encoder.encode(x) * np.sqrt(self.chip.input_power)
        act = self.chip.activation
        for l in range(layer + 1):
            fields = fields @ self.unitaries[l].T
            if l < layer:
                fields = act(fields)
        self.counter.record(1, len(x), layer + 1)
        power = act.monitor_power(fields) if layer < self.n_layers - 1 else np.abs(fields) ** 2
        return power[None]


# ---------------------------------------------------------------- the report


@dataclass
class VerifyReport:
    """Result of :func:`verify_run`. ``passed`` is False when ``errors`` is not empty."""

    run_dir: str
    gds_path: str
    heater_csv: str
    route_phases: str
    tol: float
    deviation: list[float]
    deviation_routes: list[float]
    trained_accuracy: float
    layout_accuracy: float
    layout_accuracy_routes: float
    errors: list[str]
    warnings: list[str]
    extracted: str
    timings: dict[str, float]

    @property
    def passed(self) -> bool:
        return not self.errors

    def text(self, max_lines: int = 12) -> str:
        """Short human-readable report (what ``ffzero verify`` prints)."""
        basis = "route phases included" if self.route_phases == "include" else "route phases excluded"
        lines = [
            f"verify {self.run_dir} against {self.gds_path} (heater table {self.heater_csv})",
            f"layout: {self.extracted}",
        ]
        common = " (up to a common phase)" if self.route_phases != "include" else ""
        for l, (d, dr) in enumerate(zip(self.deviation, self.deviation_routes)):
            lines.append(f"layer {l}: max |U_layout - U_trained| = {d:.3g} without route phases, {dr:.3g} with them{common}")
        lines.append(
            f"test accuracy: trained {self.trained_accuracy:.4f} | layout {self.layout_accuracy:.4f} | "
            f"layout with route phases {self.layout_accuracy_routes:.4f}"
        )
        for kind, items in (("warning", self.warnings), ("error", self.errors)):
            for msg in items[:max_lines]:
                lines.append(f"{kind}: {msg}")
            if len(items) > max_lines:
                lines.append(f"... {len(items) - max_lines} more {kind}s")
        lines.append(f"{'PASS' if self.passed else 'FAIL'} ({basis}, tolerance {self.tol:g})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {**asdict(self), "passed": self.passed}


def _phase_distance(a: float, b: float) -> float:
    return abs((a - b + math.pi) % (2 * math.pi) - math.pi)


def _deviation(u: np.ndarray, ref: np.ndarray, *, common_phase: bool) -> float:
    if common_phase:
        overlap = np.vdot(ref, u)
        if abs(overlap) > 0:
            u = u * np.conj(overlap) / abs(overlap)
    return float(np.max(np.abs(u - ref)))


def verify_run(
    run_dir: str | Path,
    gds_path: str | Path,
    *,
    heater_csv: str | Path | None = None,
    route_phases: str = "auto",
    tol: float = 1e-6,
    wl: float = 1.55,
    neff: float = 2.34,
    ng: float = 3.4,
    loss_dB_cm: float = 0.0,
) -> VerifyReport:
    """Verify that ``gds_path`` driven by its heater table computes what the photonic run in ``run_dir`` trained.

    ``heater_csv`` defaults to ``<gds stem>_heaters.csv`` beside the GDS.
    ``route_phases``: ``"exclude"`` compares the route-free layout circuit
    (connectivity and heater wiring) and reports what the routes add;
    ``"include"`` compares the routed circuit, the one the fabricated chip computes (``"auto"``, the
    default, means include: tables from ``tapeout.export_run`` are route-compensated).
    Fails when any extraction, wiring or table check fails or a layer deviates by more than ``tol``.
    """
    from ffzero_photonics.layouts.lvs import check_electrical, compare_connectivity
    from ffzero_photonics.run import CHECKPOINT, load_run

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if route_phases not in ROUTE_MODES:
        raise ValueError(f"route_phases must be one of {', '.join(ROUTE_MODES)}, got {route_phases!r}")
    if not (tol > 0 and math.isfinite(tol)):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    run_dir, gds_path = Path(run_dir), Path(gds_path)
    if not (run_dir / CHECKPOINT).is_file():
        raise FileNotFoundError(f"{str(run_dir)!r} is not a run directory (no {CHECKPOINT})")
    if not gds_path.is_file():
        raise FileNotFoundError(f"GDS file {str(gds_path)!r} does not exist")
    heater_csv = Path(heater_csv) if heater_csv is not None else gds_path.with_name(f"{gds_path.stem}_heaters.csv")
    rows = read_heater_table(heater_csv)

    spec, data, model, trainer = load_run(run_dir)
    if spec.model != "photonic" or not hasattr(model, "specs"):
        raise ValueError(f"run {str(run_dir)!r} trained a {spec.model!r} model; only photonic runs have a layout")
    if route_phases == "auto":
        route_phases = "include"
    include = route_phases == "include"
    reference = model.ideal_copy() if not getattr(model, "is_ideal", True) and hasattr(model, "ideal_copy") else model
    timings["load_run_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    extraction = extract_layout(gds_path, n_layers=model.n_layers)
    errors = list(extraction.errors)
    warnings: list[str] = []
    if extraction.n_ports != model.specs[0].n_ports:
        errors.append(f"layout: {extraction.n_ports} input ports but the run's chip has N={model.specs[0].n_ports}")
    design = list(model.specs) if extraction.prefixed else model.specs[0]
    if not extraction.prefixed and model.n_layers > 1:
        errors.append(f"layout: unprefixed heater names (a single mesh) but the run has {model.n_layers} layers")
    errors += [f"optical: {e}" for e in compare_connectivity(extraction.component, design) if f"optical: {e}" not in errors]
    errors += [f"electrical: {e}" for e in check_electrical(extraction.component, layer=METAL_LAYER)]
    timings["extract_s"] = time.perf_counter() - t

    drive, drive_errors = heater_drive(extraction, rows)
    errors += drive_errors
    errors += _table_consistency(rows)
    n_checked = model.n_layers if extraction.prefixed else 1
    expected_params = [reference.get_params(l) for l in range(n_checked)]
    if include and len(extraction.layers) >= n_checked:
        from ffzero_photonics.photonic.compiled import compensate_route_phases, route_phases_from_lengths

        lengths = layout_route_lengths(extraction, model.specs[:n_checked])
        expected_params = [
            compensate_route_phases(s, p, route_phases_from_lengths(length, s, wl=wl, neff=neff, ng=ng)[0])
            for s, p, length in zip(model.specs, expected_params, lengths)
        ]
    trained = {}
    for l in range(n_checked):
        for name, value in zip(model.layer_info(l).param_names, expected_params[l]):
            trained[name if extraction.prefixed else name[len(f"L{l}_"):]] = float(value)
    unknown = sorted({r.heater for r in rows} - set(trained))
    if unknown:
        errors.append(f"heater table: rows for heaters the run does not have: {unknown[:8]}{' ...' if len(unknown) > 8 else ''}")
    needs = "the routed layout needs (trained phases compensated for route phases)" if include else "the run trained"
    wrong = [r for r in rows if r.heater in trained and _phase_distance(r.phase, trained[r.heater]) > 1e-9]
    for r in wrong[:8]:
        errors.append(f"heater table: {r.heater} is set to {r.phase:.6f} rad, {needs} {trained[r.heater] % (2 * math.pi):.6f} rad")
    if len(wrong) > 8:
        errors.append(f"heater table: {len(wrong) - 8} more heaters differ (export with `ffzero export-gds --from RUN`)")

    t = time.perf_counter()
    n = model.specs[0].n_ports
    structural = len(extraction.layers) == model.n_layers and extraction.n_ports == n
    u_ref = [reference.unitary(l) for l in range(model.n_layers)]
    deviation, deviation_routes, u_plain, u_routed = [], [], [], []
    for l in range(model.n_layers):
        if not structural:
            deviation.append(float("inf"))
            deviation_routes.append(float("inf"))
            continue
        kw = dict(wl=wl, neff=neff, ng=ng, loss_dB_cm=loss_dB_cm)
        u_plain.append(simulate_layer(extraction, l, drive, routes=False, **kw))
        u_routed.append(simulate_layer(extraction, l, drive, routes=True, **kw))
        deviation.append(_deviation(u_plain[-1], u_ref[l], common_phase=False))
        deviation_routes.append(_deviation(u_routed[-1], u_ref[l], common_phase=not include))
    timings["simulate_s"] = time.perf_counter() - t

    for l in range(model.n_layers):
        d = deviation_routes[l] if include else deviation[l]
        if not d <= tol:
            errors.append(
                f"layer {l}: max |U_layout - U_trained| = {d:.3g} {'with' if include else 'without'} route phases exceeds {tol:g}"
            )
        elif not include and deviation_routes[l] > tol:
            spread = extraction.layers[l].route_lengths()
            warnings.append(
                f"layer {l}: unequal routes ({min(spread):.1f}-{max(spread):.1f} µm) add a phase error of "
                f"max {deviation_routes[l]:.3g} to U; compensate it (compiled.compensate_route_phases) or train with route_lengths"
            )

    t = time.perf_counter()
    trained_acc = float(trainer.evaluate(model, data, "test")["test_accuracy"])
    acc_plain = acc_routed = float("nan")
    if structural:
        acc_plain = float(trainer.evaluate(LayoutNetwork(model, u_plain), data, "test")["test_accuracy"])
        acc_routed = float(trainer.evaluate(LayoutNetwork(model, u_routed), data, "test")["test_accuracy"])
        verified = acc_routed if include else acc_plain
        if not errors and verified != trained_acc:
            errors.append(f"test accuracy through the layout {verified:.4f} differs from the trained {trained_acc:.4f}")
    timings["accuracy_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0

    return VerifyReport(
        run_dir=str(run_dir), gds_path=str(gds_path), heater_csv=str(heater_csv), route_phases=route_phases, tol=tol,
        deviation=deviation, deviation_routes=deviation_routes, trained_accuracy=trained_acc,
        layout_accuracy=acc_plain, layout_accuracy_routes=acc_routed, errors=errors, warnings=warnings,
        extracted=extraction.summary(), timings=timings,
    )
