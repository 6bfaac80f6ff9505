"""GDS layout of a MeshSpec (``mesh_layout``) or the buildable L-layer chip (``chip_layout``): placed, routed, wired, labelled.

Placement is :mod:`.floorplan`'s, the heater-to-pad metal :mod:`.wiring`'s.
Optical: consecutive elements on a mesh port are joined by
``gf.routing.route_single`` (straight when aligned; a port that skips a column
runs straight through it). Electrical (every heater, every N, on the top
metal): each heater terminal has its own flip-chip bump pad inside its cell's
footprint; an MZI's two heaters share one ground pad, a screen heater has its own.
Metal crosses waveguides only, never other metal (``lvs.check_electrical`` verifies it).

Every heater carries a text label (``HEATER_LABEL_LAYER``) at its centre and
every pad one (``PAD_LABEL_LAYER``) at its centre, both equal to the
simulator's heater name (``L{l}_`` prefixed on a chip); ground pads are
labelled ``{instance}_gnd``. Reading a layout back is :mod:`.extract`'s job.
"""

from __future__ import annotations

import hashlib

import gdsfactory as gf
from gdsfactory.component import Component

from ffzero_photonics.components.cells import BUMP_SIZE_UM, FAN_RADIUS_UM
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.layouts.floorplan import FAN_SEPARATION, Link, chip_links, check_specs, optical_links, plan, spec_from_key, spec_key
from ffzero_photonics.layouts.layers import HEATER_LABEL_LAYER, WG_XS, ensure_pdk
from ffzero_photonics.layouts.progress import steps
from ffzero_photonics.layouts.wiring import bump_pads
from ffzero_photonics.photonic.mesh_spec import MeshSpec

__all__ = ["WIRINGS", "chip_layout", "mesh_layout"]

WIRINGS = ("auto", "cells", "polygons", "none")
_CELL_WIRING_MAX_PORTS = 8
_JOG_ROOM = 100.0  # extra column gap (µm) for custom links that change rows (LVS self-tests): two bends and a lead


def mesh_layout(
    spec: MeshSpec,
    *,
    mzi_pitch_x: float | None = None,
    port_pitch_y: float | None = None,
    coupler: str = "grating",
    pad_size: float = BUMP_SIZE_UM,
    wiring: str = "auto",
    links: tuple[Link, ...] | None = None,
    fold: int = 1,
) -> Component:
    """Layout of one mesh: MZIs at (column, row), phase screen, couplers ``in{k}``/``out{k}``, one pad per heater.

    Instances are named like the simulator (``site.name``, ``screen_p{k}``,
    ``pad_<heater>``). ``mzi_pitch_x`` defaults to the MZI cell's width plus
    ``floorplan.COLUMN_GAP``; ``port_pitch_y`` to ``floorplan.PORT_PITCH`` (the couplers
    sit at the fibre pitch ``floorplan.IO_PITCH``, fanned in); ``fold`` > 1 folds the mesh into
    that many bands joined by U-turns (``floorplan.fold_plan``). ``links`` overrides the optical links
    (default :func:`optical_links`), e.g. to build a deliberately wrong layout
    for an LVS self-test.

    ``wiring``: ``"cells"`` draws every heater-to-bump stub as a straight
    ``metal_routing`` cell; ``"polygons"`` the same stubs as rectangles on the
    routing metal; ``"none"`` places the labelled pads only; ``"auto"`` = cells
    for N <= 8, polygons above.
    """
    if not isinstance(spec, MeshSpec):
        raise TypeError(f"spec must be a MeshSpec, got {type(spec).__name__}")
    ensure_pdk()
    return _chip_cell(
        layers=(spec_key(spec),),
        prefixed=False,
        mzi_pitch_x=mzi_pitch_x,
        port_pitch_y=port_pitch_y,
        coupler=coupler,
        pad_size=pad_size,
        wiring=_wiring(wiring, spec.n_ports),
        links=tuple(tuple(link) for link in links) if links is not None else None,
        fold=fold,
    )


def chip_layout(
    specs: list[MeshSpec],
    *,
    mzi_pitch_x: float | None = None,
    port_pitch_y: float | None = None,
    coupler: str = "grating",
    pad_size: float = BUMP_SIZE_UM,
    wiring: str = "auto",
    links: tuple[Link, ...] | None = None,
    tap_fraction: float = 0.1,
    fold: int = 1,
) -> Component:
    """Layout of the chip the simulator models: coherent input, L meshes with an EO activation per port between them, detectors.

    One grating (``input``, ``ffzero_coherent_input`` at the mesh's port pitch) feeds the N
    ports of layer 0; after layer l every port passes an ``ffzero_eo_activation`` named and
    labelled ``L{l}_tap_p{k}`` whose tap coupler takes ``tap_fraction`` of the light (the
    activation's alpha); the last layer ends in ``ffzero_photodetector`` cells ``out{k}``.
    Every pad is wired: mesh heaters to bump pads inside their cells, cell pads (flip-chip TIA, DACs) to their
    devices. All mesh names carry the layer prefix ``L{l}_`` (``L0_mzi_c0_r0``,
    ``L0_mzi_c0_r0_theta``, ``L1_screen_p3``). Other arguments as in :func:`mesh_layout`
    (``coupler`` applies to bare meshes only); ``links`` defaults to :func:`chip_links`.
    """
    specs = list(specs)
    check_specs(specs)
    ensure_pdk()
    return _chip_cell(
        layers=tuple(spec_key(s) for s in specs),
        prefixed=True,
        mzi_pitch_x=mzi_pitch_x,
        port_pitch_y=port_pitch_y,
        coupler=coupler,
        pad_size=pad_size,
        wiring=_wiring(wiring, specs[0].n_ports),
        links=tuple(tuple(link) for link in links) if links is not None else None,
        tap_fraction=float(tap_fraction),
        fold=fold,
    )


@gf.cell(set_name=False)
def _chip_cell(
    layers: tuple,
    prefixed: bool,
    mzi_pitch_x: float | None,
    port_pitch_y: float | None,
    coupler: str,
    pad_size: float,
    wiring: str,
    links: tuple | None,
    tap_fraction: float = 0.1,
    fold: int = 1,
) -> Component:
    """Flat layout of one or more meshes in sequence; see :func:`mesh_layout` / :func:`chip_layout`."""
    specs = [spec_from_key(k) for k in layers]
    if not pad_size >= BUMP_SIZE_UM:
        raise UserInputError(f"pad_size={pad_size} µm is below the {BUMP_SIZE_UM:g} µm minimum bump pad")
    c = Component()
    args = (layers, prefixed, mzi_pitch_x, port_pitch_y, coupler, pad_size, wiring, links)
    if tap_fraction != 0.1:
        args += (tap_fraction,)
    if fold != 1:
        args += (("fold", fold),)
    kind = "chip" if prefixed else "mesh"
    name = f"{kind}_{'_'.join(f'{t}{n}' for t, n, _ in layers)}_{hashlib.sha1(repr(args).encode()).hexdigest()[:8]}"
    suffix = 1
    while c.kcl.layout.cell(name if suffix == 1 else f"{name}_{suffix}") is not None:
        suffix += 1
    c.name = name if suffix == 1 else f"{name}_{suffix}"
    options = {"prefixed": prefixed, "port_pitch_y": port_pitch_y, "coupler": coupler, "tap_fraction": tap_fraction,
               "pad_size": pad_size, "fold": fold}
    fp = plan(specs, mzi_pitch_x=mzi_pitch_x, **options)
    if links is not None and mzi_pitch_x is None and _jogs(fp, links):
        fp = plan(specs, mzi_pitch_x=fp.pitch_x + _JOG_ROOM, **options)
    refs: dict[str, gf.ComponentReference] = {}
    for inst, p in steps(fp.placements.items(), "layout: placing cells", len(fp.placements)):
        ref = c.add_ref(p.cell, name=inst)
        if p.rotation:
            ref.rotate(p.rotation)
        port = ref.ports[p.port]
        ref.move((p.x - port.x, p.y - port.y))
        refs[inst] = ref
    for text, position in fp.heater_labels.items():
        c.add_label(text, position=position, layer=HEATER_LABEL_LAYER)

    all_links = links if links is not None else (chip_links(specs) if prefixed else optical_links(specs[0]))
    jogs = 0
    fans: dict[str, list[tuple[gf.Port, gf.Port]]] = {"in": [], "out": []}
    turns: dict[tuple, list[tuple[gf.Port, gf.Port]]] = {}
    for a, b in steps(all_links, "layout: routing waveguides"):
        pa, pb = _optical_port(refs, a), _optical_port(refs, b)
        if abs(pa.orientation - pb.orientation) < 1.0:  # both face one way: a fold between two bands
            turns.setdefault((round(pa.orientation), round(pa.y + pb.y, 3)), []).append((pa, pb))
            continue
        if abs(pa.y - pb.y) > 1e-3 and (_is_io(a, "in") or _is_io(b, "out")):
            fans["in" if _is_io(a, "in") else "out"].append((pa, pb))
            continue
        if fold > 1 and abs(pa.y - pb.y) > 1e-3:
            raise UserInputError(f"fold={fold}: the waveguide {a} -> {b} skips a whole band (a Reck mesh's long "
                                 "through-ports); fold it into fewer bands")
        lead = 0.0
        if abs(pa.y - pb.y) > 1e-3:  # only custom links jog; stagger their bends so no two coincide
            lead = 10.0 + 20.0 * (jogs % 4)
            jogs += 1
        gf.routing.route_single(c, pa, pb, cross_section=WG_XS, start_straight_length=lead)
    for pairs in fans.values():  # couplers at the fibre pitch -> the mesh's port pitch
        if pairs:
            gf.routing.route_bundle(c, [a for a, _ in pairs], [b for _, b in pairs], cross_section=WG_XS,
                                    separation=FAN_SEPARATION)
    for pairs in turns.values():
        _u_turns(c, pairs)

    bump_pads(c, fp.bumps, refs, pad_size, wiring)
    c.info["n_heaters"] = sum(2 * s.n_mzis + s.n_ports for s in specs)
    c.info["mzi_pitch_x"] = fp.pitch_x
    c.info["wiring"] = wiring
    return c


def _u_turns(c: Component, pairs: list[tuple[gf.Port, gf.Port]]) -> None:
    """Nested U-turns between two bands: the wider a turn's span, the further out its vertical run (no crossings)."""
    side = 1.0 if round(pairs[0][0].orientation) == 0 else -1.0
    edge = max(side * p.x for pair in pairs for p in pair)
    bend = gf.components.bend_euler(radius=FAN_RADIUS_UM, cross_section=WG_XS)
    for rank, (pa, pb) in enumerate(sorted(pairs, key=lambda pair: abs(pair[0].y - pair[1].y))):
        x_turn = side * (edge + FAN_RADIUS_UM + rank * FAN_SEPARATION)
        down = pb.y < pa.y
        end = pa
        length = side * (x_turn - pa.x) - FAN_RADIUS_UM
        if length > 1e-3:
            s = c << gf.components.straight(length=round(length, 3), cross_section=WG_XS)
            s.connect("o1", end)
            end = s.ports["o2"]
        b1 = c << bend
        b1.connect("o1", end, mirror=down == (side > 0))
        run = c << gf.components.straight(length=round(abs(pa.y - pb.y) - 2 * FAN_RADIUS_UM, 3), cross_section=WG_XS)
        run.connect("o1", b1.ports["o2"])
        b2 = c << bend
        b2.connect("o1", run.ports["o2"], mirror=down == (side > 0))
        length = side * (x_turn - pb.x) - FAN_RADIUS_UM
        if length > 1e-3:
            s = c << gf.components.straight(length=round(length, 3), cross_section=WG_XS)
            s.connect("o1", b2.ports["o2"])


def _jogs(fp, links) -> bool:
    """Whether any custom link joins two ports on different rows (it needs room for a jog between columns)."""
    def y(node: str) -> float | None:
        inst, _, port = node.partition(",")
        p = fp.placements.get(inst)
        if p is None:
            return None
        q = p.cell.ports[port or "o1"]
        return p.point(q.x, q.y)[1]

    return any(None not in (y(a), y(b)) and abs(y(a) - y(b)) > 1e-3 for a, b in links)


def _is_io(node: str, side: str) -> bool:
    """Whether ``node`` is a bare mesh's coupler ``in{k}`` / ``out{k}`` (``side``)."""
    inst = node.split(",")[0]
    return inst.startswith(side) and inst[len(side):].isdigit()


def _optical_port(refs: dict, node: str) -> gf.Port:
    if "," in node:
        inst, port = node.split(",")
    else:
        inst, port = node, "o1"
    if inst not in refs:
        raise UserInputError(f"link endpoint {node!r} names no instance of the layout")
    return refs[inst].ports[port]


def _wiring(wiring: str, n_ports: int) -> str:
    if wiring not in WIRINGS:
        raise UserInputError(f"wiring must be one of {', '.join(WIRINGS)}, got {wiring!r}")
    if wiring == "auto":
        return "cells" if n_ports <= _CELL_WIRING_MAX_PORTS else "polygons"
    return wiring
