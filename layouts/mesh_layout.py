"""GDS layout of a MeshSpec (``mesh_layout``) or the buildable L-layer chip (``chip_layout``): placed, routed, wired, labelled.

Placement is :mod:`.floorplan`'s, the heater-to-pad metal :mod:`.wiring`'s.
Optical: consecutive elements on a mesh port are joined by
``gf.routing.route_single`` (straight when aligned; a port that skips a column
runs straight through it). Electrical (every heater, every N, on the top
metal): each heater has its own pad; the second terminals of a column's
heaters share a ground bus to one ground pad. Metal crosses waveguides only,
never other metal (``lvs.check_electrical`` verifies it).

Every heater carries a text label (``HEATER_LABEL_LAYER``) at its centre and
every pad one (``PAD_LABEL_LAYER``) at its centre, both equal to the
simulator's heater name (``L{l}_`` prefixed on a chip); ground pads are
labelled ``gnd_c{c}`` / ``gnd_screen``. Reading a layout back is :mod:`.extract`'s job.
"""

from __future__ import annotations

import hashlib

import gdsfactory as gf
from gdsfactory.component import Component

from ffzero_photonics.components.cells import WIRE_WIDTH
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.layouts.floorplan import Link, chip_links, check_specs, optical_links, plan, spec_from_key, spec_key
from ffzero_photonics.layouts.layers import HEATER_LABEL_LAYER, WG_XS, ensure_pdk
from ffzero_photonics.layouts.progress import steps
from ffzero_photonics.layouts.wiring import ground_bus, pad_row, tracks
from ffzero_photonics.photonic.mesh_spec import MeshSpec

__all__ = ["WIRINGS", "chip_layout", "mesh_layout"]

WIRINGS = ("auto", "cells", "polygons", "none")
_CELL_WIRING_MAX_PORTS = 8
_MIN_PORT_PITCH = 70.0
_MIN_CHIP_PORT_PITCH = 100.0


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
        layers=(spec_key(spec),),
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
    tap_fraction: float = 0.1,
) -> Component:
    """Layout of the chip the simulator models: coherent input, L meshes with an EO activation per port between them, detectors.

    One grating (``input``, ``ffzero_coherent_input`` at the mesh's port pitch) feeds the N
    ports of layer 0; after layer l every port passes an ``ffzero_eo_activation`` named and
    labelled ``L{l}_tap_p{k}`` whose tap coupler takes ``tap_fraction`` of the light (the
    activation's alpha); the last layer ends in ``ffzero_photodetector`` cells ``out{k}``.
    Every pad is wired: mesh heaters to the pad rows, cell pads (flip-chip TIA, DACs) to their
    devices. All mesh names carry the layer prefix ``L{l}_`` (``L0_mzi_c0_r0``,
    ``L0_mzi_c0_r0_theta``, ``L1_screen_p3``). Other arguments as in :func:`mesh_layout`
    (``coupler`` applies to bare meshes only); ``links`` defaults to :func:`chip_links`.
    """
    specs = list(specs)
    check_specs(specs)
    if port_pitch_y < _MIN_CHIP_PORT_PITCH:
        raise UserInputError(
            f"port_pitch_y={port_pitch_y} µm is below the {_MIN_CHIP_PORT_PITCH} µm a chip needs: its activation cells' "
            "pads reach 96.5 µm above their port")
    ensure_pdk()
    return _chip_cell(
        layers=tuple(spec_key(s) for s in specs),
        prefixed=True,
        mzi_pitch_x=mzi_pitch_x,
        port_pitch_y=port_pitch_y,
        track_pitch=track_pitch,
        coupler=coupler,
        pad_size=pad_size,
        pad_pitch=pad_pitch,
        wiring=_wiring(wiring, specs[0].n_ports),
        links=tuple(tuple(link) for link in links) if links is not None else None,
        tap_fraction=float(tap_fraction),
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
    tap_fraction: float = 0.1,
) -> Component:
    """Flat layout of one or more meshes in sequence; see :func:`mesh_layout` / :func:`chip_layout`."""
    specs = [spec_from_key(k) for k in layers]
    if track_pitch <= WIRE_WIDTH:
        raise UserInputError(f"track_pitch={track_pitch} µm must exceed the wire width {WIRE_WIDTH} µm")
    if pad_pitch <= pad_size:
        raise UserInputError(f"pad_pitch={pad_pitch} µm must exceed pad_size={pad_size} µm")
    if port_pitch_y < _MIN_PORT_PITCH:
        raise UserInputError(f"port_pitch_y={port_pitch_y} µm is below the {_MIN_PORT_PITCH} µm the MZI fan-out and taps need")
    c = Component()
    args = (layers, prefixed, mzi_pitch_x, port_pitch_y, track_pitch, coupler, pad_size, pad_pitch, wiring, links)
    if tap_fraction != 0.1:
        args += (tap_fraction,)
    kind = "chip" if prefixed else "mesh"
    name = f"{kind}_{'_'.join(f'{t}{n}' for t, n, _ in layers)}_{hashlib.sha1(repr(args).encode()).hexdigest()[:8]}"
    suffix = 1
    while c.kcl.layout.cell(name if suffix == 1 else f"{name}_{suffix}") is not None:
        suffix += 1
    c.name = name if suffix == 1 else f"{name}_{suffix}"
    fp = plan(
        specs, prefixed=prefixed, mzi_pitch_x=mzi_pitch_x, port_pitch_y=port_pitch_y, track_pitch=track_pitch,
        coupler=coupler, tap_fraction=tap_fraction,
    )
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
    for a, b in steps(all_links, "layout: routing waveguides"):
        pa, pb = _optical_port(refs, a), _optical_port(refs, b)
        lead = 0.0
        if abs(pa.y - pb.y) > 1e-3:  # only custom links jog; stagger their bends so no two coincide
            lead = 10.0 + 20.0 * (jogs % 4)
            jogs += 1
        gf.routing.route_single(c, pa, pb, cross_section=WG_XS, start_straight_length=lead)

    y_top = c.ymax + 2 * track_pitch
    y_bot = c.ymin - 2 * track_pitch
    all_tracks = [t for g in fp.gaps for t in tracks(g, refs, track_pitch)]
    for net, members in fp.grounds:
        bus = ground_bus(c, net, [refs[m] for m in members], wiring)
        if bus is not None:
            all_tracks.append(bus)
    pad_row(c, [t for t in all_tracks if t.up], y_top, +1, pad_size, pad_pitch, track_pitch, wiring)
    pad_row(c, [t for t in all_tracks if not t.up], y_bot, -1, pad_size, pad_pitch, track_pitch, wiring)
    c.info["n_heaters"] = sum(2 * s.n_mzis + s.n_ports for s in specs)
    c.info["mzi_pitch_x"] = fp.pitch_x
    c.info["wiring"] = wiring
    return c


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
