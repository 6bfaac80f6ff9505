"""Heater-to-pad metal of a mesh layout: one flip-chip bump pad per heater terminal, on a short stub.

Each pad (:class:`~.floorplan.Bump`) sits in its cell's free strip between two port rows, straight
above or below the terminal's via stack; a vertical stub on the routing metal joins them. No wire
leaves its cell, so no two wires can cross and the column pitch does not grow with N. Stubs are
straight ``metal_routing`` cells (``wiring="cells"``) or the same rectangles drawn as polygons
(``wiring="polygons"``).
"""

from __future__ import annotations

import gdsfactory as gf
from gdsfactory.component import Component

from ffzero_photonics.components.cells import WIRE_WIDTH, ffzero_pad
from ffzero_photonics.layouts import progress
from ffzero_photonics.layouts.layers import PAD_LABEL_LAYER, ROUTE_LAYER, ROUTE_XS

__all__ = ["bump_pads"]


def bump_pads(c: Component, bumps: list, refs: dict, pad_size: float, wiring: str) -> None:
    """A labelled ``ffzero_pad`` named ``pad_{net}`` at every bump; unless ``wiring == "none"``, its stub to the terminal."""
    cell = ffzero_pad(size=(pad_size, pad_size))
    for bump in progress.steps(bumps, "layout: bump pads", len(bumps)):
        ref = c.add_ref(cell, name=f"pad_{bump.net}")
        ref.move((bump.x, bump.y))
        c.add_label(bump.net, position=(bump.x, bump.y), layer=PAD_LABEL_LAYER)
        if wiring == "none":
            continue
        port = refs[bump.inst].ports[bump.port]
        y0 = port.y - WIRE_WIDTH / 2 * (1 if port.orientation == 90 else -1)  # from the middle of the via stack
        _stub(c, port.x, y0, bump.y, wiring)


def _stub(c: Component, x: float, y0: float, y1: float, wiring: str) -> None:
    """Vertical wire of the routing width centred on x from y0 to y1."""
    lo, hi = min(y0, y1), max(y0, y1)
    if wiring == "cells":
        ref = c << gf.components.straight(length=round(hi - lo, 3), cross_section=ROUTE_XS)
        ref.rotate(90)
        ref.move((x - ref.ports["e1"].x, lo - ref.ports["e1"].y))
        return
    h = WIRE_WIDTH / 2
    c.add_polygon([(x - h, lo), (x + h, lo), (x + h, hi), (x - h, hi)], layer=gf.get_layer(ROUTE_LAYER))
