"""Read a drawn mesh or chip back: elements, optical connectivity, route lengths, labels, metal islands, pads.

The one extractor of the project: LVS (:mod:`.lvs`), post-layout verification
(``ffzero_photonics.tapeout``) and route compensation all read a layout through it.

From the geometry (a Component in memory or a GDS read back with
:func:`read_gds`; kfactory stores each cell's ports, info and function name in
the file): every element instance (``ffzero_heater_mzi``, ``ffzero_phase_screen_heater``,
``ffzero_eo_activation``, ``ffzero_coherent_input``, ``ffzero_photodetector``,
``ffzero_io_coupler``, ``ffzero_pad``) and its placement;
the optical connectivity of the placed ports through the route instances
(straights, bends) with each route's length; the heater labels (66, 0) and
pad labels (66, 1); the routing metal (49, 0) merged into islands (:mod:`.islands`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gdsfactory as gf
import numpy as np
from gdsfactory.component import Component

from ffzero_photonics.errors import UserInputError
from ffzero_photonics.layouts.islands import Islands, terminal_point
from ffzero_photonics.layouts.layers import HEATER_LABEL_LAYER, METAL_LAYER, PAD_LABEL_LAYER
from ffzero_photonics.layouts.progress import steps
from ffzero_photonics.layouts.readback import read_gds
from ffzero_photonics.photonic.mesh_spec import MeshSpec

__all__ = [
    "ENDPOINT_KINDS",
    "HEATER_ROLES",
    "LayerCircuit",
    "LayoutExtraction",
    "design_slot",
    "element_kind",
    "extract_layout",
    "heater_positions",
    "is_output",
    "layout_netlist",
    "layout_route_lengths",
    "pad_at",
    "pad_positions",
    "waveguide_lengths",
]

_KIND_BY_FUNCTION = {
    "ffzero_heater_mzi": "mzi",
    "ffzero_phase_screen_heater": "heater",
    "ffzero_eo_activation": "activation",
    "ffzero_coherent_input": "input",
    "ffzero_photodetector": "detector",
    "ffzero_io_coupler": "io",
    "ffzero_pad": "pad",
    # cell functions of GDS files written before the ffzero_ prefix
    "heater_mzi": "mzi",
    "phase_screen_heater": "heater",
    "io_coupler": "io",
    "pad": "pad",
}
ENDPOINT_KINDS = ("io", "input", "detector")
"""Element kinds where light enters or leaves the meshes: fibre couplers, the coherent input, output detectors."""
HEATER_ROLES = {"mzi": ("theta", "phi"), "heater": ("phi",)}
"""Heater roles of each element kind: the names of its signal ports and, with ``_center``, of its info keys."""
_POS_TOL_UM = 0.01


def element_kind(cell) -> str | None:
    """``"mzi"``, ``"heater"``, ``"activation"``, ``"input"``, ``"detector"``, ``"io"`` or ``"pad"`` for a project
    cell (by function, else name), else None."""
    if cell.function_name:
        return _KIND_BY_FUNCTION.get(cell.function_name)
    name = cell.name
    return next((k for fn, k in _KIND_BY_FUNCTION.items() if k != "pad" and name.startswith(fn)), None)


def is_output(node: str, kind: str) -> bool:
    """Whether ``"inst,port"`` is an output port of an element of ``kind`` (MZI o3/o4, input all, detector none, two-ports o2)."""
    port = node.split(",")[1]
    if kind in ("input", "detector"):
        return kind == "input"
    return port in ("o3", "o4") if kind == "mzi" else port == "o2"


def _endpoint_key(node: str, kind: str) -> str:
    """External port name of an endpoint: its instance (``in{k}``/``out{k}``), or ``in{k}`` for the input's o{k+1}."""
    inst, port = node.split(",")
    return f"in{int(port[1:]) - 1}" if kind == "input" else inst


def _is_optical(node: str) -> bool:
    port = node.split(",")[-1]
    return port.startswith("o") and port[1:].isdigit()


# ---------------------------------------------------------------- optical connectivity


def layout_netlist(component: Component) -> dict:
    """Optical connectivity of a layout, extracted with ``component.get_netlist()``, routes collapsed.

    Returns a sax-style dict: ``instances`` {name: {"component": "mzi"|"heater"|"activation"}},
    ``connections`` {"a,o3": "b,o2"} between element ports (the waveguide
    straights and bends of each route removed), ``ports`` {"in{k}"/"out{k}": "inst,port"}
    for the element reached from each endpoint (IO coupler, coherent-input output, detector),
    ``endpoints`` {"in{k}": "input,o{k+1}"} the endpoint port itself, ``lengths``
    {"a,o3": µm} the routed length of each connection, ``port_lengths`` {"in{k}": µm} those
    of the endpoint routes, and ``warnings``: ports that touch more than one other port
    (overlapping routes).
    """
    net = component.get_netlist(on_dangling_port="ignore", on_multi_connect="ignore")
    cells = {inst.name: inst.cell for inst in component.insts}
    kinds = {name: element_kind(cells[name]) if name in cells else None for name in net["instances"]}
    adjacency: dict[str, list[str]] = {}
    for item in net["nets"]:
        a, b = item["p1"], item["p2"]
        if _is_optical(a) and _is_optical(b):
            adjacency.setdefault(a, []).append(b)
            adjacency.setdefault(b, []).append(a)
    warnings = [
        f"{node} touches {len(nbrs)} ports ({', '.join(sorted(nbrs))}): overlapping routes"
        for node, nbrs in sorted(adjacency.items())
        if len(nbrs) > 1
    ]
    wire_ports: dict[str, list[str]] = {}
    for node in adjacency:
        inst = node.split(",")[0]
        if kinds.get(inst) is None:
            wire_ports.setdefault(inst, []).append(node)
    lengths = {name: float(inst.get("info", {}).get("length", 0.0)) for name, inst in net["instances"].items()}

    def follow(node: str) -> tuple[str | None, float]:
        """The element port reached from element port ``node`` along its route (None: open end), and the route length."""
        seen = {node}
        length = 0.0
        while True:
            nxt = [p for p in adjacency.get(node, []) if p not in seen]
            if not nxt:
                return None, length
            node = nxt[0]
            seen.add(node)
            inst = node.split(",")[0]
            if kinds.get(inst) is not None:
                return node, length
            length += lengths.get(inst, 0.0)
            others = [p for p in wire_ports.get(inst, []) if p not in seen]
            if not others:
                return None, length
            node = others[0]
            seen.add(node)

    instances = {name: {"component": kind} for name, kind in kinds.items() if kind in ("mzi", "heater", "activation")}
    connections: dict[str, str] = {}
    route_lengths: dict[str, float] = {}
    ports: dict[str, str] = {}
    endpoints: dict[str, str] = {}
    port_lengths: dict[str, float] = {}
    done: set[str] = set()
    for node in sorted(adjacency):
        inst = node.split(",")[0]
        kind = kinds.get(inst)
        if kind is None or node in done:
            continue
        other, length = follow(node)
        if other is None:
            continue
        done.update((node, other))
        other_kind = kinds[other.split(",")[0]]
        if kind in ENDPOINT_KINDS or other_kind in ENDPOINT_KINDS:
            end, element = (node, other) if kind in ENDPOINT_KINDS else (other, node)
            key = _endpoint_key(end, kind if end == node else other_kind)
            ports[key], endpoints[key], port_lengths[key] = element, end, length
        else:
            a, b = (node, other) if is_output(node, kind) else (other, node)
            connections[a] = b
            route_lengths[a] = length
    return {
        "instances": instances,
        "connections": connections,
        "ports": ports,
        "endpoints": endpoints,
        "lengths": route_lengths,
        "port_lengths": port_lengths,
        "warnings": warnings,
    }


def design_slot(spec: MeshSpec, prefix: str, node: str) -> tuple[int, int]:
    """(column, mesh port) of the route entering element port ``node`` (``mzi_c{c}_r{r},o1|o2``, ``screen_p{k},o1``)."""
    inst, port = node.split(",")
    name = inst[len(prefix):] if inst.startswith(prefix) else inst
    if name.startswith("screen_p"):
        return spec.n_columns, int(name[len("screen_p"):])
    if not name.startswith("mzi_c"):
        raise ValueError(f"route ends at {node!r}, which is no element of the design")
    col_s, row_s = name[len("mzi_c"):].split("_r")
    row = int(row_s)
    return int(col_s), row if port == "o2" else row + 1


def waveguide_lengths(component: Component, spec: MeshSpec) -> dict[str, float]:
    """Routed length (µm) of every element-to-element link of a ``mesh_layout``.

    Keys are the waveguide names of ``mesh_netlist(spec, with_waveguides=True)``
    (``wg_p{p}_c{col}``: mesh port p, column of the downstream element, the
    screen counting as column ``spec.n_columns``), so the post-layout netlist can
    be simulated with ``mesh_settings(..., waveguides={k: {"length": v}})``.
    """
    net = layout_netlist(component)
    out: dict[str, float] = {}
    for upstream, downstream in net["connections"].items():
        col, p = design_slot(spec, "", downstream)
        out[f"wg_p{p}_c{col}"] = net["lengths"][upstream]
    return out


# ---------------------------------------------------------------- labels and metal


def heater_positions(component: Component) -> dict[str, tuple[float, float]]:
    """Heater name -> (x, y) µm of its centre, read from the heater labels of a layout (or a GDS read back)."""
    out: dict[str, tuple[float, float]] = {}
    for text in component.get_labels(layer=HEATER_LABEL_LAYER):
        if text.string in out:
            raise ValueError(f"heater label {text.string!r} appears twice in {component.name}")
        out[text.string] = (round(text.x, 6), round(text.y, 6))  # labels inside cells carry transform round-off
    return out


def pad_positions(component: Component) -> dict[str, tuple[float, float]]:
    """Pad label (heater name or ground net) -> (x, y) µm of the pad centre."""
    return {t.string: (t.x, t.y) for t in component.get_labels(layer=PAD_LABEL_LAYER)}


def _pos_key(x: float, y: float) -> tuple[int, int]:
    return (round(x * 1000), round(y * 1000))


# ---------------------------------------------------------------- the whole chip


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
    """What :func:`extract_layout` read: element kinds, connectivity, layers, heater terminals and labels, pads, errors.

    ``terminals[(inst, role)]`` is the metal island of a heater's signal
    terminal; ``heater_labels[(inst, role)]`` the label found at its centre;
    ``pads``: one dict per pad (inst, box, x, y, label, island).
    """

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
        counts: dict[str, int] = defaultdict(int)
        for kind in self.kinds.values():
            counts[kind] += 1
        lengths = [x for layer in self.layers for x in layer.route_lengths()]
        span = f" ({min(lengths):.1f}-{max(lengths):.1f} µm)" if lengths else ""
        return (
            f"{len(self.layers)} layer{'s' if len(self.layers) != 1 else ''}, N={self.n_ports}: "
            f"{counts['mzi']} MZIs, {counts['heater']} screen heaters, {counts['activation']} activations, "
            f"{counts['input']} coherent inputs, {counts['detector']} detectors, {counts['io']} IO couplers, "
            f"{len(lengths)} routes{span}, {len(self.pads)} pads"
        )


def extract_layout(gds_or_component, n_layers: int | None = None) -> LayoutExtraction:
    """Read a mesh/chip GDS (path or Component) into per-layer optical circuits, heater terminals and pads.

    ``n_layers`` is the number of meshes expected (checked against the activation stages found).
    """
    component = read_gds(gds_or_component) if isinstance(gds_or_component, (str, Path)) else gds_or_component
    errors: list[str] = []
    insts = {inst.name: inst for inst in component.insts}
    kinds: dict[str, str] = {}
    pads: list[dict] = []
    for name, inst in insts.items():
        kind = element_kind(inst.cell)
        if kind == "pad":
            box = inst.dbbox()
            pads.append({"inst": name, "box": (box.left, box.bottom, box.right, box.top)})
        elif kind is not None:
            kinds[name] = kind
    if not any(k == "mzi" or k == "heater" for k in kinds.values()):
        raise UserInputError(f"{component.name} holds no heater MZI or phase-screen heater cells: not an ffzero mesh layout")

    net = layout_netlist(component)
    errors += [f"optical: {w}" for w in net["warnings"]]

    labels = {_pos_key(t.x, t.y): t.string for t in component.get_labels(layer=HEATER_LABEL_LAYER)}
    heater_labels: dict[tuple[str, str], str | None] = {}
    for name, kind in steps(sorted(kinds.items()), "extract: heater labels"):
        for role in HEATER_ROLES.get(kind, ()):
            inst = insts[name]
            lx, ly = inst.cell.info[f"{role}_center"]
            p = inst.dcplx_trans * gf.kdb.DPoint(lx, ly)
            text = labels.pop(_pos_key(p.x, p.y), None)
            heater_labels[(name, role)] = text
            if text is None:
                errors.append(f"layout: no heater label at the {role} heater of {name} ({p.x:.3f}, {p.y:.3f})")
            elif text != f"{name}_{role}":
                errors.append(f"layout: the {role} heater of instance {name} at ({p.x:.3f}, {p.y:.3f}) is labelled {text!r}")
    for name, kind in sorted(kinds.items()):
        if kind not in ("activation", "input", "detector"):
            continue
        inst = insts[name]
        layer_index = component.kcl.layer(*HEATER_LABEL_LAYER)
        for shape in inst.cell.shapes(layer_index).each(gf.kdb.Shapes.STexts):
            t = shape.dtext
            p = inst.dcplx_trans * gf.kdb.DPoint(t.x, t.y)
            text = labels.pop(_pos_key(p.x, p.y), None)
            if text is None:
                errors.append(f"layout: the {kind} cell {name} lost its device label {t.string!r}")
            elif kind != "input" and text not in (name, f"{name}_pd"):
                errors.append(f"layout: the {kind} cell {name} at ({p.x:.3f}, {p.y:.3f}) is labelled {text!r}")
    for (x, y), text in sorted(labels.items()):
        errors.append(f"layout: heater label {text!r} at ({x / 1000:.3f}, {y / 1000:.3f}) sits on no heater")
    prefixed = any((t or "").startswith("L0_") for t in heater_labels.values())

    islands = Islands(component, METAL_LAYER)
    terminals = {key: islands.at(*terminal_point(insts[key[0]].ports[key[1]])) for key in heater_labels}
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

    layers, n_ports = _layers(insts, kinds, net, n_layers, errors)
    return LayoutExtraction(component, kinds, net, layers, prefixed, terminals, heater_labels, pads, errors, n_ports)


def pad_at(pads: list[dict], x: float, y: float) -> dict | None:
    """The extracted pad centred at (x, y), else the one whose box holds it (0.01 µm tolerance), else None."""
    key = _pos_key(x, y)
    centred = next((p for p in pads if _pos_key(p["x"], p["y"]) == key), None)
    if centred is not None:
        return centred
    return next(
        (
            p
            for p in pads
            if p["box"][0] - _POS_TOL_UM <= x <= p["box"][2] + _POS_TOL_UM
            and p["box"][1] - _POS_TOL_UM <= y <= p["box"][3] + _POS_TOL_UM
        ),
        None,
    )


def _layers(insts, kinds, net, n_layers, errors) -> tuple[list[LayerCircuit], int]:
    """Split the extracted connectivity into mesh layers at the activation stages; order ports from port 0 (the top of
    an eastward band, the bottom of a folded westward one).

    A layer is every MZI / screen heater reached from its sources; the activations its
    outputs reach (top to bottom) are its sinks and, through their o2, the next layer's sources.
    """
    connections: dict[str, str] = net["connections"]
    upstream = {b: a for a, b in connections.items()}
    ios, ends, lengths, io_lengths = dict(net["ports"]), net["endpoints"], net["lengths"], net["port_lengths"]

    def down(node: str, entering: bool) -> float:
        """Position across the light's path, growing from port 0: down an eastward band, up a folded (westward) one."""
        inst, port = node.split(",")
        p = insts[inst].ports[port]
        eastward = abs(p.orientation - (180.0 if entering else 0.0)) < 1.0
        return -p.y if eastward else p.y

    ins = sorted((k for k, node in ios.items() if not is_output(node, kinds[node.split(",")[0]])),
                 key=lambda k: down(ends[k], False))
    outs = sorted((k for k in ios if k not in ins), key=lambda k: down(ends[k], True))
    reached = {node.split(",")[0] for node in ends.values()}
    for io in sorted(n for n, k in kinds.items() if k in ("io", "detector") and n not in reached):
        errors.append(f"optical: {kinds[io]} {io} is connected to no mesh element")
    for name in sorted(n for n, k in kinds.items() if k == "input"):
        n_out = sum(1 for p in insts[name].ports if p.name.startswith("o") and p.name[1:].isdigit())
        open_ports = [f"o{k + 1}" for k in range(n_out) if f"{name},o{k + 1}" not in ends.values()]
        if open_ports:
            errors.append(f"optical: coherent input {name} ports {open_ports} reach no mesh element")
    n_ports = len(ins)
    if len(outs) != n_ports:
        errors.append(f"optical: {len(ins)} inputs reach the mesh but {len(outs)} outputs do")

    layers: list[LayerCircuit] = []
    sources = [ios[k] for k in ins]
    source_lengths = [io_lengths.get(k, 0.0) for k in ins]
    while True:
        layer = LayerCircuit([], sources, [], source_lengths, [])
        seen: set[str] = set()
        frontier = [src.split(",")[0] for src in sources if src is not None]
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
        taps: set[str] = set()
        for a, b in connections.items():
            a_inst, b_inst = a.split(",")[0], b.split(",")[0]
            if a_inst in seen and b_inst in seen:
                layer.routes[a] = (b, lengths.get(a, 0.0))
            elif a_inst in seen and kinds.get(b_inst) == "activation":
                taps.add(b_inst)
        layers.append(layer)
        if not taps or len(layers) > len(kinds):
            layer.sinks = [ios[k] for k in outs]
            layer.sink_lengths = [io_lengths.get(k, 0.0) for k in outs]
            break
        def feed_order(t: str) -> float:  # by the screen column feeding the tap: one band even when a fold splits the taps
            return down(upstream[f"{t},o1"], False) if f"{t},o1" in upstream else down(f"{t},o1", True)

        column = sorted(taps, key=feed_order)
        if len(column) != n_ports:
            errors.append(f"layout: activation stage {len(layers) - 1} holds {len(column)} activations, expected {n_ports}")
        layer.sinks = [upstream.get(f"{t},o1") for t in column]
        layer.sink_lengths = [lengths.get(s, 0.0) if s is not None else 0.0 for s in layer.sinks]
        sources = [connections.get(f"{t},o2") for t in column]
        source_lengths = [lengths.get(f"{t},o2", 0.0) for t in column]
    if n_layers is not None and n_layers != len(layers):
        errors.append(f"layout: {len(layers)} mesh layer{'s' if len(layers) != 1 else ''} (activation stages + 1) "
                      f"but the run has {n_layers}")
    placed = {e for layer in layers for e in layer.elements}
    for name in sorted(n for n, k in kinds.items() if k in ("mzi", "heater") and n not in placed):
        errors.append(f"optical: {name} is reached from no input of any layer")
    return layers, n_ports


def layout_route_lengths(extraction: LayoutExtraction, specs: list[MeshSpec]) -> list[np.ndarray]:
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
            col, port = design_slot(spec, pre, b)
            lengths[col, port] += length
        for k, src in enumerate(circ.sources):
            if src is not None:
                lengths[0, k] += circ.source_lengths[k]
        for k, snk in enumerate(circ.sinks):
            if snk is not None:
                lengths[spec.n_columns, k] += circ.sink_lengths[k]
        out.append(lengths)
    return out
