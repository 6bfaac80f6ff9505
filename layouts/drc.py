"""Design-rule check of a layout against a :class:`~ffzero_photonics.components.rules.RuleDeck`, on KLayout's engine.

Checks (each a ``klayout.db.Region`` operation on the flattened drawn layer):

- ``min_width`` / ``min_space`` on the waveguide, heater and metal layers (``width_check`` / ``space_check`` in
  KLayout's hierarchical "deep" mode, twice as fast as flat on an N=16 mesh);
- ``pad_min_size`` / ``pad_min_space`` on pads, found as the metal that survives an opening (shrink then grow)
  by a third of the minimum pad size: pads stay, narrower wires vanish;
- ``min_bend_radius``: the local radius of every waveguide boundary, arc length over net turning angle in a
  window of ``BEND_WINDOW_UM`` either side of each vertex, against R_min - w/2 (the inner edge of a bend of
  radius R_min). Windows that hold a corner sharper than ``CORNER_DEG`` (MMI bodies, taper shoulders, ends)
  are drawn device features, not bends, and are skipped;
- ``overlap``: waveguide area covered by two different top-level instances (wrap count >= 2 of the
  per-instance merged regions). A crossing cell is one instance, so its own crossing is allowed; slivers
  thinner than ``PORT_TOLERANCE_UM`` where a route abuts a cell's port are ignored.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import klayout.db as kdb
import numpy as np

from ffzero_photonics.components.rules import CORNERSTONE_SI220, LayerRule, RuleDeck
from ffzero_photonics.errors import UserInputError

__all__ = ["BEND_WINDOW_UM", "CORNER_DEG", "IGNORE_ANGLE_DEG", "PORT_TOLERANCE_UM", "Violation", "die_size_mm",
           "fits_reticle", "load_layout", "run_drc"]

BEND_WINDOW_UM = 1.0
CORNER_DEG = 30.0
PORT_TOLERANCE_UM = 0.01
IGNORE_ANGLE_DEG = 80.0
_BEND_TOLERANCE = 0.97  # chords and the 1 nm grid put the estimate up to ~2% below the drawn radius


@dataclass(frozen=True)
class Violation:
    """One DRC marker: the rule broken, the layer it is on, where (um) and by how much."""

    rule: str
    layer: str
    x_um: float
    y_um: float
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.layer:<7} {self.rule:<16} at ({self.x_um:.3f}, {self.y_um:.3f}) um: {self.detail}"


def load_layout(source) -> tuple[kdb.Layout, kdb.Cell]:
    """(layout, top cell) of a GDS/OASIS path or a gdsfactory Component."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise UserInputError(f"layout file {str(path)!r} does not exist")
        layout = kdb.Layout()
        try:
            layout.read(str(path))
        except RuntimeError as exc:
            raise UserInputError(f"layout file {str(path)!r} is not a readable GDS/OASIS file: {exc}") from None
        tops = layout.top_cells()
        if len(tops) != 1:
            raise UserInputError(f"layout file {str(path)!r} has {len(tops)} top cells, expected one")
        return layout, tops[0]
    if hasattr(source, "kdb_cell") and hasattr(source, "kcl"):
        return source.kcl.layout, source.kdb_cell
    raise TypeError(f"run_drc needs a .gds path or a gdsfactory Component, got {type(source).__name__}")


def run_drc(source, rules: RuleDeck = CORNERSTONE_SI220) -> list[Violation]:
    """Every violation of ``rules`` in a layout (path or Component), once each, sorted by rule, layer and position."""
    layout, top = load_layout(source)
    dbu = layout.dbu
    out: list[Violation] = []
    store = kdb.DeepShapeStore()  # hierarchical width/space: each cell is checked once, not once per placement
    for rule in rules.layer_rules:
        index = _layer_index(layout, rule.drawn)
        if index is None:
            continue
        out += _width_space(kdb.Region(top.begin_shapes_rec(index), store), rule, dbu)
    wg = _flat(layout, top, rules.waveguide.drawn).merged()
    out += _bend_radius(wg, rules, dbu)
    out += _overlaps(layout, top, rules, dbu)
    out += _pads(_flat(layout, top, rules.pad_layer), rules, dbu)
    return sorted(set(out), key=lambda v: (v.rule, v.layer, v.x_um, v.y_um, v.detail))  # deep mode may repeat a marker


def die_size_mm(source) -> tuple[float, float]:
    """(width, height) in mm of a layout's bounding box (path or Component)."""
    _, top = load_layout(source)
    box = top.dbbox()
    return box.width() / 1000.0, box.height() / 1000.0


def fits_reticle(size_mm: tuple[float, float], rules: RuleDeck = CORNERSTONE_SI220) -> bool:
    """Whether a die of ``size_mm`` fits the deck's reticle in either orientation."""
    return all(d <= r for d, r in zip(sorted(size_mm), sorted(rules.reticle_mm)))


def _layer_index(layout: kdb.Layout, gds: tuple[int, int]) -> int | None:
    index = layout.find_layer(*gds)
    return None if index is None or index < 0 else index


def _flat(layout: kdb.Layout, cell: kdb.Cell, gds: tuple[int, int]) -> kdb.Region:
    index = _layer_index(layout, gds)
    return kdb.Region() if index is None else kdb.Region(cell.begin_shapes_rec(index))


def _name(rule: LayerRule) -> str:
    return f"{rule.name} {rule.drawn[0]}/{rule.drawn[1]}"


def _from_pairs(pairs: kdb.EdgePairs, rule: str, layer: str, detail: str, dbu: float) -> list[Violation]:
    pairs.flatten()
    out = []
    for pair in pairs.each():
        box = pair.bbox()
        dist = pair.distance() * dbu
        out.append(Violation(rule, layer, round(box.center().x * dbu, 3), round(box.center().y * dbu, 3),
                             f"{dist:.3f} um {detail}"))
    return out


def _width(region: kdb.Region, d_um: float, dbu: float) -> kdb.EdgePairs:
    """Width check that skips edges meeting at >= IGNORE_ANGLE_DEG: a polygonized arc meets its end face at
    90 deg less half a chord angle, which is not a narrow feature; genuinely sharp tips still count."""
    return region.width_check(round(d_um / dbu), False, kdb.Region.Euclidian, IGNORE_ANGLE_DEG)


def _space(region: kdb.Region, d_um: float, dbu: float) -> kdb.EdgePairs:
    return region.space_check(round(d_um / dbu), False, kdb.Region.Euclidian, IGNORE_ANGLE_DEG)


def _width_space(region: kdb.Region, rule: LayerRule, dbu: float) -> list[Violation]:
    width = _width(region, rule.min_width_um, dbu)
    space = _space(region, rule.min_space_um, dbu)
    layer = _name(rule)
    return (_from_pairs(width, "min_width", layer, f"< {rule.min_width_um:g} um (foundry layer "
                        f"{rule.foundry[0]}/{rule.foundry[1]})", dbu)
            + _from_pairs(space, "min_space", layer, f"< {rule.min_space_um:g} um (foundry layer "
                          f"{rule.foundry[0]}/{rule.foundry[1]})", dbu))


def _pads(metal: kdb.Region, rules: RuleDeck, dbu: float) -> list[Violation]:
    """Pads are the metal wider than the routing: an opening by a third of the pad size keeps them alone."""
    if metal.is_empty():
        return []
    shrink = round(rules.pad_min_size_um / 3 / dbu)
    pads = metal.merged().sized(-shrink).sized(shrink)
    layer = f"PAD {rules.pad_layer[0]}/{rules.pad_layer[1]}"
    size = _width(pads, rules.pad_min_size_um, dbu)
    space = _space(pads, rules.pad_min_space_um, dbu)
    return (_from_pairs(size, "pad_min_size", layer, f"< {rules.pad_min_size_um:g} um pad", dbu)
            + _from_pairs(space, "pad_min_space", layer, f"< {rules.pad_min_space_um:g} um between pads", dbu))


def _overlaps(layout: kdb.Layout, top: kdb.Cell, rules: RuleDeck, dbu: float) -> list[Violation]:
    """Waveguide area drawn by two or more top-level instances (or top-level shapes)."""
    index = _layer_index(layout, rules.waveguide.drawn)
    if index is None:
        return []
    per_cell: dict[int, kdb.Region] = {}
    pieces = kdb.Region()
    pieces.merged_semantics = False
    for inst in top.each_inst():
        cell_region = per_cell.get(inst.cell_index)
        if cell_region is None:
            cell_region = kdb.Region(layout.cell(inst.cell_index).begin_shapes_rec(index)).merged()
            per_cell[inst.cell_index] = cell_region
        if cell_region.is_empty():
            continue
        for trans in _instance_transforms(inst):
            pieces.insert(cell_region.transformed(trans))
    for shape in top.shapes(index).each():
        if shape.is_polygon() or shape.is_box() or shape.is_path():
            pieces.insert(shape.polygon)
    overlap = pieces.merged(False, 2)
    sliver = round(PORT_TOLERANCE_UM / dbu)
    out = []
    for poly in overlap.each():
        box = poly.bbox()
        if min(box.width(), box.height()) <= sliver:
            continue
        out.append(Violation("overlap", _name(rules.waveguide), round(box.center().x * dbu, 3),
                             round(box.center().y * dbu, 3),
                             f"{box.width() * dbu:.3f} x {box.height() * dbu:.3f} um drawn by two instances "
                             "(waveguides may cross only inside a crossing cell)"))
    return out


def _instance_transforms(inst: kdb.Instance) -> list[kdb.ICplxTrans]:
    if not inst.is_regular_array():
        return [inst.cplx_trans]
    base, a, b = inst.cplx_trans, inst.a, inst.b
    return [kdb.ICplxTrans(kdb.Trans(a * i + b * j)) * base for i in range(inst.na) for j in range(inst.nb)]


def _bend_radius(wg: kdb.Region, rules: RuleDeck, dbu: float) -> list[Violation]:
    """Boundary stretches curved tighter than the inner edge of a minimum-radius bend."""
    limit = (rules.wg_min_bend_radius_um - rules.wg_width_um / 2) * _BEND_TOLERANCE
    out = []
    for poly in wg.each():
        contours = [poly.each_point_hull()] + [poly.each_point_hole(h) for h in range(poly.holes())]
        for contour in contours:
            pts = np.array([(p.x, p.y) for p in contour], dtype=float) * dbu
            for x, y, radius in _tight_stretches(pts, limit):
                out.append(Violation("min_bend_radius", _name(rules.waveguide), round(x, 3), round(y, 3),
                                     f"edge radius {radius:.3f} um: bend radius below "
                                     f"{rules.wg_min_bend_radius_um:g} um"))
    return out


def _tight_stretches(pts: np.ndarray, limit: float) -> list[tuple[float, float, float]]:
    """(x, y, radius) at the tightest vertex of each run of vertices whose windowed radius is below ``limit``."""
    n = len(pts)
    if n < 4:
        return []
    edges = np.roll(pts, -1, axis=0) - pts  # edge k runs from vertex k to k+1
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    heading = np.arctan2(edges[:, 1], edges[:, 0])
    turn = np.angle(np.exp(1j * (heading - np.roll(heading, 1))))  # turning at vertex k
    corner = np.abs(turn) >= math.radians(CORNER_DEG)
    # unroll three laps so every window of a closed contour is contiguous
    s = np.concatenate([[0.0], np.cumsum(np.tile(lengths, 3))])[:-1]  # arc position of vertex k (3 laps)
    cum_turn = np.concatenate([[0.0], np.cumsum(np.tile(turn, 3))])
    cum_corner = np.concatenate([[0], np.cumsum(np.tile(corner, 3))])
    centre = np.arange(n, 2 * n)
    lo = np.searchsorted(s, s[centre] - BEND_WINDOW_UM, side="right") - 1
    hi = np.searchsorted(s, s[centre] + BEND_WINDOW_UM, side="left")
    hi = np.minimum(hi, 3 * n - 1)
    net = np.abs(cum_turn[hi] - cum_turn[lo + 1])  # turning at the window's interior vertices lo+1 .. hi-1
    smooth = (cum_corner[hi] - cum_corner[lo + 1]) == 0
    laps = np.tile(lengths, 3)
    arc = s[hi] - s[lo] - 0.5 * (laps[lo] + laps[hi - 1])  # midpoint of edge lo to midpoint of edge hi-1
    radius = np.where(net > 1e-9, arc / np.maximum(net, 1e-12), np.inf)
    bad = smooth & (radius < limit)
    if not bad.any():
        return []
    out = []
    flagged = np.flatnonzero(bad)
    runs = np.split(flagged, np.flatnonzero(np.diff(flagged) > 1) + 1)
    if len(runs) > 1 and runs[0][0] == 0 and runs[-1][-1] == n - 1:  # a run that wraps round the contour
        runs = [np.concatenate([runs[-1], runs[0]])] + runs[1:-1]
    for run in runs:
        k = run[np.argmin(radius[run])]
        out.append((float(pts[k, 0]), float(pts[k, 1]), float(radius[k])))
    return out
