"""Heater-to-pad metal of a mesh layout: wiring channels between columns, column ground buses, pad rows.

Each heater's signal terminal leaves its via stack horizontally into the
channel (gap) beside its column and runs in its own vertical track to the top
edge (upper half of that channel side's heaters) or the bottom edge (lower
half). Tracks are ordered by depth so no stub crosses a track; up and down
tracks share x slots because they never overlap in y. Beyond the mesh edge the
wires are river-routed to a pad row: pads sit over their tracks where the pad
pitch allows (least-squares placement) and every wire turns on its own level,
so no two wires cross. Wires are ``gf.routing.route_bundle_electrical`` routes
(``wiring="cells"``) or the same Manhattan paths drawn as polygons
(``wiring="polygons"``: ~10x faster, no cell per wire length).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import gdsfactory as gf
from gdsfactory.component import Component

from ffzero_photonics.components.cells import WIRE_WIDTH, ffzero_pad
from ffzero_photonics.layouts.layers import PAD_LABEL_LAYER, ROUTE_LAYER, ROUTE_XS
from ffzero_photonics.layouts import progress

__all__ = ["STUB_MARGIN", "Gap", "Terminal", "Track", "ground_bus", "pad_row", "track_slots", "tracks"]

STUB_MARGIN = 25.0
"""Distance (µm) from a channel's edge to its first track."""


@dataclass(frozen=True)
class Terminal:
    """A heater signal terminal (or a column ground) to wire: net name, instance and port."""

    net: str
    inst: str
    port: str


@dataclass
class Gap:
    """A wiring channel x0..x1 between element columns; ``left``/``right``: terminals entering from that side."""

    x0: float
    x1: float
    left: list[Terminal] = field(default_factory=list)
    right: list[Terminal] = field(default_factory=list)


@dataclass
class Track:
    """One vertical wire: net ``net`` leaving at ``port`` towards the top (``up``) or bottom edge at ``x``."""

    net: str
    port: gf.Port
    y: float
    up: bool = True
    x: float = 0.0


def track_slots(n_tracks: int) -> int:
    """x slots ``n_tracks`` tracks on one channel side need: up and down tracks pair up."""
    return (n_tracks + 1) // 2


def tracks(gap: Gap, refs: dict, pitch: float) -> list[Track]:
    """The tracks of a channel: upper half of each side's terminals up, lower half down, each in its x slot.

    Slots are ordered by depth so no stub crosses a track; an up and a down
    track share a slot because the up heaters of a side all lie above its
    down heaters. ``refs``: instance name -> placed reference.
    """
    out: list[Track] = []
    for side, sign, start in ((gap.left, 1, gap.x0 + STUB_MARGIN), (gap.right, -1, gap.x1 - STUB_MARGIN)):
        side_tracks = [Track(t.net, refs[t.inst].ports[t.port], refs[t.inst].ports[t.port].y) for t in side]
        ordered = sorted(side_tracks, key=lambda t: -t.y)
        n_up = track_slots(len(ordered))
        for i, t in enumerate(ordered):
            t.up = i < n_up
            t.x = start + sign * (i if t.up else len(ordered) - 1 - i) * pitch
        out.extend(side_tracks)
    return out


def ground_bus(c: Component, net: str, members: list, wiring: str) -> Track | None:
    """Chain the ground straps of ``members`` (placed references) into one bus; the track that takes it to its pad."""
    if not members:
        return None
    members = sorted(members, key=lambda r: -r.ports["gnd_n"].y)
    top = members[0].ports["gnd_n"]
    if wiring != "none" and len(members) > 1:
        bottom = members[-1].ports["gnd_s"]
        _wire(c, wiring, _port("bus", top.center, 270), _port("bus", bottom.center, 90), [])
    return Track(net, top, top.y, True, x=top.x)


def pad_row(
    c: Component,
    row: list[Track],
    y_edge: float,
    side: int,
    pad_size: float,
    pad_pitch: float,
    track_pitch: float,
    wiring: str,
) -> None:
    """Pads for the tracks ``row`` in one row beyond ``y_edge`` (side +1 top, -1 bottom), each wired by its own route.

    River routing: a wire runs up its track to a private level, across to its
    pad and up. Wires moving right turn lower the further right they start,
    wires moving left the further left, so no two wires cross.
    """
    if not row:
        return
    row = sorted(row, key=lambda t: t.x)
    xs = [t.x for t in row]
    pad_x = [tx if abs(px - tx) < 1e-6 else px for px, tx in zip(_pad_xs(xs, pad_pitch), xs)]
    right = [i for i, (px, tx) in enumerate(zip(pad_x, xs)) if px > tx]
    left = [i for i, (px, tx) in enumerate(zip(pad_x, xs)) if px < tx]
    level = {i: rank for rank, i in enumerate(reversed(right))} | {i: rank for rank, i in enumerate(left)}
    n_levels = max(len(left), len(right))
    y_pad = y_edge + side * ((n_levels + 2) * track_pitch + pad_size / 2)
    cell = ffzero_pad(size=(pad_size, pad_size))
    for i, (t, px) in progress.steps(enumerate(zip(row, pad_x)), f"layout: wiring {'top' if side > 0 else 'bottom'} pads", len(row)):
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


def _port(name: str, center, orientation: float) -> gf.Port:
    return gf.Port(
        name,
        center=center,
        orientation=orientation,
        width=WIRE_WIDTH,
        layer=gf.get_layer(ROUTE_LAYER),
        port_type="electrical",
    )


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
