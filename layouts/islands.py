"""Metal islands of a drawn layout: merged polygons of one layer in klayout's box tree, for point and polygon look-ups."""

from __future__ import annotations

import math

import gdsfactory as gf
from gdsfactory.component import Component

from ffzero_photonics.layouts.layers import METAL_LAYER

__all__ = ["Islands", "terminal_point"]


def terminal_point(port, depth: float = 1.0) -> tuple[float, float]:
    """A point just inside the metal behind ``port`` (ports sit on the edge of their shape)."""
    a = math.radians(port.orientation)
    return port.x - depth * math.cos(a), port.y - depth * math.sin(a)


class Islands:
    """The merged polygons (islands) of one layer, held in klayout's box tree for point look-ups.

    A long pad wire spans tens of millimetres: a box tree keeps each island once, where a grid
    index would list it in every bin it crosses (gigabytes at N = 64).
    """

    def __init__(self, component: Component, layer=METAL_LAYER, region=None):
        """``region``: the layer's polygons when the caller already collected them (else read from ``component``)."""
        if region is None:
            region = gf.kdb.Region(component.kdb_cell.begin_shapes_rec(component.kcl.layer(*layer)))
        self.polygons = list(region.merged().each())
        self.dbu = component.kcl.dbu
        self._layout = gf.kdb.Layout()
        self._shapes = self._layout.create_cell("islands").shapes(self._layout.layer())
        for i, poly in enumerate(self.polygons):
            for part in poly.decompose_trapezoids():  # small parts: a point's box query hits few of them
                self._shapes.insert(part, i + 1)  # property id 0 means none

    def at(self, x: float, y: float) -> int | None:
        """Index of the island covering (x, y) µm, None when no metal is there."""
        pt = gf.kdb.Point(round(x / self.dbu), round(y / self.dbu))
        for shape in self._shapes.each_touching(gf.kdb.Box(pt, pt)):
            if shape.simple_polygon.inside(pt):
                return shape.prop_id - 1
        return None

    def touching(self, polygon) -> set[int]:
        """Indices of the islands that overlap or touch ``polygon`` (database units)."""
        out: set[int] = set()
        for part in polygon.decompose_trapezoids():
            for shape in self._shapes.each_touching(part.bbox()):
                if shape.simple_polygon.touches(part):
                    out.add(shape.prop_id - 1)
        return out
