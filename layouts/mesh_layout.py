"""GDS layout of a MeshSpec: MZI columns, output phase screen, IO couplers, heater pads; multi-layer chips.

Floorplan (x grows to the right, port 0 on top at y=0, port k at y=-k*port_pitch_y):

    in couplers | gap | col 0 | gap | col 1 | ... | gap | screen | gap | taps | next layer ... | out couplers

Optical: every MZI sits at its (column, row); consecutive elements on a mesh
port are joined by ``gf.routing.route_single`` (straight when aligned; a port
that skips a column runs straight through it).

Electrical (every heater, every N, on the top metal): each heater's signal
terminal leaves its via stack horizontally into the gap beside its column
(phi heaters to the gap on the left, theta and screen heaters to the gap on
the right) and runs in its own vertical track to the top edge (upper half of
that gap side's heaters) or the bottom edge (lower half). Tracks are ordered
by depth so no stub crosses a track; up and down tracks share x slots because
they never overlap in y. The second terminals of a column's heaters share a
ground bus running inside the column (between phi and theta heaters) to one
ground pad. Beyond the mesh edge the wires are river-routed to a pad row: pads
sit over their tracks where the pad pitch allows (least-squares placement) and
every wire turns on its own level, so no two wires cross. Metal crosses
waveguides only, never other metal (``lvs.check_electrical`` verifies it).
Wires are ``gf.routing.route_bundle_electrical`` routes (``wiring="cells"``,
default for N <= 8) or the same Manhattan paths drawn directly as polygons
(``wiring="polygons"``, default above: ~10x faster, no cell per wire length).

Every heater carries a text label (``HEATER_LABEL_LAYER``) at its centre and
every pad one (``PAD_LABEL_LAYER``) at its centre, both equal to the
simulator's heater name (``L{l}_`` prefixed on a chip); ground pads are
labelled ``gnd_c{c}`` / ``gnd_screen``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import gdsfactory as gf
from gdsfactory.component import Component

from ffzero_photonics.components.cells import (
    ensure_pdk,
    WIRE_WIDTH,
    heater_mzi,
    io_coupler,
    pad,
    phase_screen_heater,
    tap_detector,
)
from ffzero_photonics.photonic.mesh_spec import MeshSpec, MZISite

__all__ = [
    "HEATER_LABEL_LAYER",
    "PAD_LABEL_LAYER",
    "chip_layout",
    "heater_positions",
    "layout_netlist",
    "mesh_layout",
    "optical_links",
    "pad_positions",
    "waveguide_lengths",
]

HEATER_LABEL_LAYER = (66, 0)
PAD_LABEL_LAYER = (66, 1)
WG_XS = "strip"
ROUTE_XS = "metal_routing"
ROUTE_LAYER = "M3"
_WIRINGS = ("auto", "cells", "polygons", "none")
_CELL_WIRING_MAX_PORTS = 8
_STUB_MARGIN = 25.0
_MIN_PORT_PITCH = 70.0

Link = tuple[str, str]


def optical_links(spec: MeshSpec, prefix: str = "") -> list[Link]:
    """(upstream "inst,port", downstream "inst,port") for consecutive elements on every mesh port.

    ``in{k}`` / ``out{k}`` stand for the mesh's external ports; instance names
    are ``prefix + site.name`` and ``prefix + screen_p{k}``.
    """
    drivers = {k: f"in{k}" for k in range(spec.n_ports)}
    links: list[Link] = []
    for column in spec.columns():
        for site in column:
            name = prefix + site.name
            links.append((drivers[site.row], f"{name},o2"))
            links.append((drivers[site.row + 1], f"{name},o1"))
            drivers[site.row], drivers[site.row + 1] = f"{name},o3", f"{name},o4"
    for k in range(spec.n_ports):
        screen = f"{prefix}screen_p{k}"
        links.append((drivers[k], f"{screen},o1"))
        links.append((f"{screen},o2", f"out{k}"))
    return links


def chip_links(specs: list[MeshSpec]) -> list[Link]:
    """Optical links of an L-layer chip: layer meshes (``L{l}_`` names) joined through ``L{l}_tap_p{k}``."""
    links: list[Link] = []
    last = len(specs) - 1
    for layer, spec in enumerate(specs):
        for a, b in optical_links(spec, f"L{layer}_"):
            if layer > 0 and a.startswith("in"):
                a = f"L{layer - 1}_tap_p{a[2:]},o2"
            if layer < last and b.startswith("out"):
                b = f"L{layer}_tap_p{b[3:]},o1"
            links.append((a, b))
    return links


@dataclass
class _Track:
    """One vertical wire: a heater signal (or a column ground) leaving at ``port`` towards the top or bottom edge."""

    net: str
    port: gf.Port
    y: float
    up: bool = True
    x: float = 0.0


@dataclass
class _Gap:
    x0: float
    x1: float
    left: list[_Track] = field(default_factory=list)
    right: list[_Track] = field(default_factory=list)

    def assign(self, pitch: float) -> None:
        """Send the upper half of each side's heaters up and the lower half down; give every track an x slot.

        Slots are ordered by depth so no stub crosses a track; an up and a down
        track share a slot because the up heaters of a side all lie above its
        down heaters.
        """
        for side, sign, start in ((self.left, 1, self.x0 + _STUB_MARGIN), (self.right, -1, self.x1 - _STUB_MARGIN)):
            ordered = sorted(side, key=lambda t: -t.y)
            n_up = _slots(len(ordered))
            for i, t in enumerate(ordered):
                t.up = i < n_up
                t.x = start + sign * (i if t.up else len(ordered) - 1 - i) * pitch


def _slots(n_tracks: int) -> int:
    return (n_tracks + 1) // 2


def _check_specs(specs: list[MeshSpec]) -> None:
    if not specs:
        raise ValueError("a chip needs at least one MeshSpec, got an empty list")
    for i, s in enumerate(specs):
        if not isinstance(s, MeshSpec):
            raise TypeError(f"specs[{i}] must be a MeshSpec, got {type(s).__name__}")
    ports = {s.n_ports for s in specs}
    if len(ports) != 1:
        raise ValueError(f"all layers of a chip need the same number of ports, got {[s.n_ports for s in specs]}")


def _key(spec: MeshSpec) -> tuple:
    return (spec.topology, spec.n_ports, tuple((m.column, m.row) for m in spec.mzis))


def _spec(key: tuple) -> MeshSpec:
    topology, n_ports, sites = key
    return MeshSpec(topology, n_ports, tuple(MZISite(c, r) for c, r in sites))


def mesh_layout(
    spec: MeshSpec,
    *,
    mzi_pitch_x: float | None = None,
    port_pitch_y: float = 100.0,
    track_pitch: float = 20.0,
    coupler: str = "grating",
    pad_size: float = 80.0,
    pad_pitch: float = 100.0,
    wiring: str = "auto",
    links: tuple[Link, ...] | None = None,
) -> Component:
    """Layout of one mesh: MZIs at (column, row), phase screen, couplers ``in{k}``/``out{k}``, one pad per heater.

    Instances are named like the simulator (``site.name``, ``screen_p{k}``,
    ``pad_<heater>``). ``mzi_pitch_x`` defaults to the narrowest pitch whose
    gaps hold all electrical tracks. ``links`` overrides the optical links
    (default :func:`optical_links`), e.g. to build a deliberately wrong layout
    for an LVS self-test.

    ``wiring``: ``"cells"`` routes every heater-to-pad wire with
    ``gf.routing.route_bundle_electrical`` (a straight cell per wire segment
    length, ~10 ms CPU per wire); ``"polygons"`` draws the same Manhattan paths
    directly as polygons on the routing metal (<1 ms per wire); ``"none"``
    places the labelled pads only; ``"auto"`` = cells for N <= 8, polygons above.
    """
    if not isinstance(spec, MeshSpec):
        raise TypeError(f"spec must be a MeshSpec, got {type(spec).__name__}")
    ensure_pdk()
    return _chip_cell(
        layers=(_key(spec),),
        prefixed=False,
        mzi_pitch_x=mzi_pitch_x,
        port_pitch_y=port_pitch_y,
        track_pitch=track_pitch,
        coupler=coupler,
        pad_size=pad_size,
        pad_pitch=pad_pitch,
        wiring=_wiring(wiring, spec.n_ports),
        links=tuple(tuple(link) for link in links) if links is not None else None,
    )


def chip_layout(
    specs: list[MeshSpec],
    *,
    mzi_pitch_x: float | None = None,
    port_pitch_y: float = 100.0,
    track_pitch: float = 20.0,
    coupler: str = "grating",
    pad_size: float = 80.0,
    pad_pitch: float = 100.0,
    wiring: str = "auto",
    links: tuple[Link, ...] | None = None,
) -> Component:
    """Layout of an L-layer chip: meshes in sequence with a ``tap_detector`` on every port between layers.

    All names carry the layer prefix ``L{l}_`` (``L0_mzi_c0_r0``,
    ``L0_mzi_c0_r0_theta``, ``L1_screen_p3``); taps are ``L{l}_tap_p{k}``
    (after layer l), couplers ``in{k}``/``out{k}``. Other arguments as in
    :func:`mesh_layout`; ``links`` defaults to :func:`chip_links`.
    """
    specs = list(specs)
    _check_specs(specs)
    ensure_pdk()
    return _chip_cell(
        layers=tuple(_key(s) for s in specs),
        prefixed=True,
        mzi_pitch_x=mzi_pitch_x,
        port_pitch_y=port_pitch_y,
        track_pitch=track_pitch,
        coupler=coupler,
        pad_size=pad_size,
        pad_pitch=pad_pitch,
        wiring=_wiring(wiring, specs[0].n_ports),
        links=tuple(tuple(link) for link in links) if links is not None else None,
    )


@gf.cell(set_name=False)
def _chip_cell(
    layers: tuple,
    prefixed: bool,
    mzi_pitch_x: float | None,
    port_pitch_y: float,
    track_pitch: float,
    coupler: str,
    pad_size: float,
    pad_pitch: float,
    wiring: str,
    links: tuple | None,
) -> Component:
    """Flat layout of one or more meshes in sequence; see :func:`mesh_layout` / :func:`chip_layout`."""
    specs = [_spec(k) for k in layers]
    if track_pitch <= WIRE_WIDTH:
        raise ValueError(f"track_pitch={track_pitch} µm must exceed the wire width {WIRE_WIDTH} µm")
    if pad_pitch <= pad_size:
        raise ValueError(f"pad_pitch={pad_pitch} µm must exceed pad_size={pad_size} µm")
    if port_pitch_y < _MIN_PORT_PITCH:
        raise ValueError(f"port_pitch_y={port_pitch_y} µm is below the {_MIN_PORT_PITCH} µm the MZI fan-out and taps need")
    c = Component()
    args = (layers, prefixed, mzi_pitch_x, port_pitch_y, track_pitch, coupler, pad_size, pad_pitch, wiring, links)
    kind = "chip" if prefixed else "mesh"
    name = f"{kind}_{'_'.join(f'{t}{n}' for t, n, _ in layers)}_{hashlib.sha1(repr(args).encode()).hexdigest()[:8]}"
    suffix = 1
    while c.kcl.layout.cell(name if suffix == 1 else f"{name}_{suffix}") is not None:
        suffix += 1
    c.name = name if suffix == 1 else f"{name}_{suffix}"
    n = specs[0].n_ports
    pitch_y = float(port_pitch_y)
    mzi_cell = heater_mzi(port_spacing=pitch_y)
    screen_cell = phase_screen_heater()
    tap_cell = tap_detector()
    io_cell = io_coupler(kind=coupler)
    mzi_w = mzi_cell.ports["o3"].x - mzi_cell.ports["o2"].x
    screen_w = screen_cell.ports["o2"].x - screen_cell.ports["o1"].x
    tap_w = tap_cell.ports["o2"].x - tap_cell.ports["o1"].x

    def row_y(k: int) -> float:
        return -k * pitch_y

    slots = 1
    for spec in specs:
        sizes = [len(col) for col in spec.columns()]
        for col in range(spec.n_columns + 1):
            left = sizes[col - 1] if col > 0 else 0
            right = sizes[col] if col < spec.n_columns else 0
            slots = max(slots, _slots(left) + _slots(right))
    gap_needed = 2 * _STUB_MARGIN + (slots - 1) * track_pitch + 2 * track_pitch
    pitch_x = mzi_w + gap_needed if mzi_pitch_x is None else float(mzi_pitch_x)
    if pitch_x < mzi_w + gap_needed:
        raise ValueError(
            f"mzi_pitch_x={mzi_pitch_x} µm is too small: MZI cell {mzi_w:.0f} µm + {slots} tracks need >= {mzi_w + gap_needed:.0f} µm"
        )
    gap = pitch_x - mzi_w
    screen_gap = 2 * _STUB_MARGIN + _slots(n) * track_pitch

    refs: dict[str, gf.ComponentReference] = {}
    gaps: list[_Gap] = []
    grounds: list[tuple[str, list]] = []

    def place(cell: Component, name: str, port: str, x: float, y: float, rotation: float = 0):
        ref = c.add_ref(cell, name=name)
        if rotation:
            ref.rotate(rotation)
        p = ref.ports[port]
        ref.move((x - p.x, y - p.y))
        refs[name] = ref
        return ref

    x = 0.0
    for k in range(n):
        place(io_cell, f"in{k}", "o1", x, row_y(k), rotation=180)
    x += 2 * _STUB_MARGIN
    for layer, spec in enumerate(specs):
        pre = f"L{layer}_" if prefixed else ""
        cols = spec.columns()
        layer_gaps = [_Gap(x + col * pitch_x, x + col * pitch_x + gap) for col in range(spec.n_columns + 1)]
        for col, sites in enumerate(cols):
            x_col = x + col * pitch_x + gap
            members = []
            for site in sites:
                ref = place(mzi_cell, pre + site.name, "o2", x_col, row_y(site.row))
                heater = pre + site.name
                layer_gaps[col].right.append(_Track(f"{heater}_phi", ref.ports["phi"], ref.ports["phi"].y))
                layer_gaps[col + 1].left.append(_Track(f"{heater}_theta", ref.ports["theta"], ref.ports["theta"].y))
                _label_heaters(c, ref, heater)
                members.append(ref)
            grounds.append((f"{pre}gnd_c{col}", members))
        x_screen = x + spec.n_columns * pitch_x + gap
        screen_gap_obj = _Gap(x_screen + screen_w, x_screen + screen_w + screen_gap)
        members = []
        for k in range(n):
            name = f"{pre}screen_p{k}"
            ref = place(screen_cell, name, "o1", x_screen, row_y(k))
            screen_gap_obj.left.append(_Track(f"{name}_phi", ref.ports["phi"], ref.ports["phi"].y))
            c.add_label(f"{name}_phi", position=_center(ref, "phi_center"), layer=HEATER_LABEL_LAYER)
            members.append(ref)
        grounds.append((f"{pre}gnd_screen", members))
        gaps.extend(layer_gaps + [screen_gap_obj])
        x = screen_gap_obj.x1
        if layer < len(specs) - 1:
            for k in range(n):
                place(tap_cell, f"{pre}tap_p{k}", "o1", x, row_y(k))
            x += tap_w + 2 * _STUB_MARGIN
    for k in range(n):
        place(io_cell, f"out{k}", "o1", x, row_y(k))

    all_links = links if links is not None else (chip_links(specs) if prefixed else optical_links(specs[0]))
    jogs = 0
    for a, b in all_links:
        pa, pb = _optical_port(refs, a), _optical_port(refs, b)
        lead = 0.0
        if abs(pa.y - pb.y) > 1e-3:  # only custom links jog; stagger their bends so no two coincide
            lead = 10.0 + 20.0 * (jogs % 4)
            jogs += 1
        gf.routing.route_single(c, pa, pb, cross_section=WG_XS, start_straight_length=lead)

    y_top = c.ymax + 2 * track_pitch
    y_bot = c.ymin - 2 * track_pitch
    tracks: list[_Track] = []
    for g in gaps:
        g.assign(track_pitch)
        tracks.extend(g.left + g.right)
    for net, members in grounds:
        if not members:
            continue
        members = sorted(members, key=lambda r: -r.ports["gnd_n"].y)
        top = members[0].ports["gnd_n"]
        tracks.append(_Track(net, top, top.y, True, x=top.x))
        if wiring != "none" and len(members) > 1:
            bottom = members[-1].ports["gnd_s"]
            _wire(c, wiring, _port("bus", top.center, 270), _port("bus", bottom.center, 90), [])
    _pad_row(c, [t for t in tracks if t.up], y_top, +1, pad_size, pad_pitch, track_pitch, wiring)
    _pad_row(c, [t for t in tracks if not t.up], y_bot, -1, pad_size, pad_pitch, track_pitch, wiring)
    c.info["n_heaters"] = sum(2 * s.n_mzis + s.n_ports for s in specs)
    c.info["mzi_pitch_x"] = pitch_x
    c.info["wiring"] = wiring
    return c


def _center(ref: gf.ComponentReference, key: str) -> tuple[float, float]:
    lx, ly = ref.cell.info[key]
    p = ref.dcplx_trans * gf.kdb.DPoint(lx, ly)
    return (p.x, p.y)


def _label_heaters(c: Component, ref: gf.ComponentReference, name: str) -> None:
    c.add_label(f"{name}_theta", position=_center(ref, "theta_center"), layer=HEATER_LABEL_LAYER)
    c.add_label(f"{name}_phi", position=_center(ref, "phi_center"), layer=HEATER_LABEL_LAYER)


def _optical_port(refs: dict, node: str) -> gf.Port:
    if "," in node:
        inst, port = node.split(",")
    else:
        inst, port = node, "o1"
    if inst not in refs:
        raise ValueError(f"link endpoint {node!r} names no instance of the layout")
    return refs[inst].ports[port]


def _port(name: str, center, orientation: float) -> gf.Port:
    return gf.Port(
        name,
        center=center,
        orientation=orientation,
        width=WIRE_WIDTH,
        layer=gf.get_layer(ROUTE_LAYER),
        port_type="electrical",
    )


def _wiring(wiring: str, n_ports: int) -> str:
    if wiring not in _WIRINGS:
        raise ValueError(f"wiring must be one of {', '.join(_WIRINGS)}, got {wiring!r}")
    if wiring == "auto":
        return "cells" if n_ports <= _CELL_WIRING_MAX_PORTS else "polygons"
    return wiring


def _wire(c: Component, wiring: str, start: gf.Port, end: gf.Port, steps: list[dict]) -> None:
    """One Manhattan wire on the routing metal from ``start`` through ``steps`` ({"x": ..} / {"y": ..}) to ``end``."""
    if wiring == "cells":
        gf.routing.route_bundle_electrical(
            c, [start], [end], cross_section=ROUTE_XS, steps=steps or None, raise_on_error=True
        )
        return
    points = [gf.kdb.DPoint(start.x, start.y)]
    for step in steps:
        last = points[-1]
        points.append(gf.kdb.DPoint(step.get("x", last.x), step.get("y", last.y)))
    last = points[-1]
    if end.orientation in (90, 270):
        points.append(gf.kdb.DPoint(end.x, last.y))
    else:
        points.append(gf.kdb.DPoint(last.x, end.y))
    points.append(gf.kdb.DPoint(end.x, end.y))
    unique = [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
    path = gf.kdb.DPath(unique, WIRE_WIDTH)
    c.shapes(gf.get_layer(ROUTE_LAYER)).insert(path.polygon())


def _wire_start(port: gf.Port) -> gf.Port:
    """A routing-width port in the middle of the via stack behind ``port``, facing the same way."""
    a = math.radians(port.orientation)
    depth = port.width / 2
    return _port(port.name, (port.x - depth * math.cos(a), port.y - depth * math.sin(a)), port.orientation)


def _pad_row(
    c: Component,
    tracks: list[_Track],
    y_edge: float,
    side: int,
    pad_size: float,
    pad_pitch: float,
    track_pitch: float,
    wiring: str,
) -> None:
    """Pads for ``tracks`` in one row beyond ``y_edge`` (side +1 top, -1 bottom), each wired by its own route.

    River routing: a wire runs up its track to a private level, across to its
    pad and up. Wires moving right turn lower the further right they start,
    wires moving left the further left, so no two wires cross.
    """
    if not tracks:
        return
    tracks = sorted(tracks, key=lambda t: t.x)
    xs = [t.x for t in tracks]
    pad_x = [tx if abs(px - tx) < 1e-6 else px for px, tx in zip(_pad_xs(xs, pad_pitch), xs)]
    right = [i for i, (px, tx) in enumerate(zip(pad_x, xs)) if px > tx]
    left = [i for i, (px, tx) in enumerate(zip(pad_x, xs)) if px < tx]
    level = {i: rank for rank, i in enumerate(reversed(right))} | {i: rank for rank, i in enumerate(left)}
    n_levels = max(len(left), len(right))
    y_pad = y_edge + side * ((n_levels + 2) * track_pitch + pad_size / 2)
    cell = pad(size=(pad_size, pad_size))
    for i, (t, px) in enumerate(zip(tracks, pad_x)):
        ref = c.add_ref(cell, name=f"pad_{t.net}")
        ref.move((px, y_pad))
        c.add_label(t.net, position=(px, y_pad), layer=PAD_LABEL_LAYER)
        if wiring == "none":
            continue
        steps: list[dict] = []
        if abs(t.port.x - t.x) > 1e-6:
            steps.append({"x": t.x})
        if i in level:
            steps += [{"y": y_edge + side * (level[i] + 1) * track_pitch}, {"x": px}]
        _wire(c, wiring, _wire_start(t.port), ref.ports["e4" if side > 0 else "e2"], steps)


def _pad_xs(xs: list[float], pitch: float) -> list[float]:
    """Pad centres closest (least squares) to the sorted track positions ``xs`` with at least ``pitch`` between pads.

    With X_i = Y_i + i*pitch the spacing constraint is Y non-decreasing, so this
    is isotonic regression of xs_i - i*pitch (pool-adjacent-violators). Pads
    land right above isolated tracks; crowded tracks share a centred run of pads.
    """
    blocks: list[list[float]] = []
    for i, x in enumerate(xs):
        blocks.append([x - i * pitch, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, count = blocks.pop()
            blocks[-1][0] = (blocks[-1][0] * blocks[-1][1] + mean * count) / (blocks[-1][1] + count)
            blocks[-1][1] += count
    ys = [mean for mean, count in blocks for _ in range(int(count))]
    return [y + i * pitch for i, y in enumerate(ys)]


def heater_positions(component: Component) -> dict[str, tuple[float, float]]:
    """Heater name -> (x, y) µm of its centre, read from the heater labels of a layout (or a GDS read back)."""
    out: dict[str, tuple[float, float]] = {}
    for text in component.get_labels(layer=HEATER_LABEL_LAYER):
        if text.string in out:
            raise ValueError(f"heater label {text.string!r} appears twice in {component.name}")
        out[text.string] = (text.x, text.y)
    return out


def pad_positions(component: Component) -> dict[str, tuple[float, float]]:
    """Pad label (heater name or ground net) -> (x, y) µm of the pad centre."""
    return {t.string: (t.x, t.y) for t in component.get_labels(layer=PAD_LABEL_LAYER)}


_ELEMENT_KINDS = {
    "heater_mzi": "mzi",
    "phase_screen_heater": "heater",
    "tap_detector": "tap",
    "io_coupler": "io",
}


def _kind(component_name: str) -> str | None:
    for prefix, kind in _ELEMENT_KINDS.items():
        if component_name.startswith(prefix):
            return kind
    return None


def layout_netlist(component: Component) -> dict:
    """Optical connectivity of a layout, extracted with ``component.get_netlist()``, routes collapsed.

    Returns a sax-style dict: ``instances`` {name: {"component": "mzi"|"heater"|"tap"}},
    ``connections`` {"a,o3": "b,o2"} between element ports (the waveguide
    straights and bends of each route removed), ``ports`` {"in{k}"/"out{k}":
    "inst,port"} for the element reached from each IO coupler, ``lengths``
    {"a,o3": µm} the routed length of each connection, and ``warnings``: ports
    that touch more than one other port (overlapping routes).
    """
    net = component.get_netlist(on_dangling_port="ignore", on_multi_connect="ignore")
    kinds = {name: _kind(str(inst["component"])) for name, inst in net["instances"].items()}
    adjacency: dict[str, list[str]] = {}
    for item in net["nets"]:
        a, b = item["p1"], item["p2"]
        if _optical(a) and _optical(b):
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

    instances = {name: {"component": kind} for name, kind in kinds.items() if kind in ("mzi", "heater", "tap")}
    connections: dict[str, str] = {}
    route_lengths: dict[str, float] = {}
    ports: dict[str, str] = {}
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
        other_inst = other.split(",")[0]
        if kind == "io":
            ports[inst] = other
        elif kinds[other_inst] == "io":
            ports[other_inst] = node
        else:
            a, b = (node, other) if _is_output(node, kind) else (other, node)
            connections[a] = b
            route_lengths[a] = length
    return {
        "instances": instances,
        "connections": connections,
        "ports": ports,
        "lengths": route_lengths,
        "warnings": warnings,
    }


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
        inst, port = downstream.split(",")
        if inst.startswith("screen_p"):
            p, col = int(inst[len("screen_p"):]), spec.n_columns
        else:
            col_s, row_s = inst[len("mzi_c"):].split("_r")
            col, row = int(col_s), int(row_s)
            p = row if port == "o2" else row + 1
        out[f"wg_p{p}_c{col}"] = net["lengths"][upstream]
    return out


def _optical(node: str) -> bool:
    port = node.split(",")[-1]
    return port.startswith("o") and port[1:].isdigit()


def _is_output(node: str, kind: str) -> bool:
    port = node.split(",")[1]
    return port in ("o3", "o4") if kind == "mzi" else port == "o2"
