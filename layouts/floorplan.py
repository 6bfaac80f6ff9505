"""Placement of a mesh or chip layout: where every element sits, its bump pads, its heater centres.

Floorplan (x grows to the right, port 0 on top at y=0, port k at y=-k*port_pitch_y)::

    mesh: in couplers | col 0 | col 1 | ... | screen | out couplers          (couplers at the 127 um fibre pitch)
    chip: coherent input | layer 0 ... screen | activations (even ports, odd ports) | layer 1 ... | detectors

Columns abut at ``COLUMN_GAP``: nothing is routed between them. Every heater terminal has a
flip-chip bump pad inside its own cell's footprint (``info['pads']`` of the cell: the free strip
between two port rows), wired by a short vertical stub, so the column pitch is the MZI cell's width
and does not grow with N. A chip's activation and detector cells are taller than the port pitch,
so they alternate between two sub-columns. ``fold`` > 1 splits each mesh into that many bands of
columns stacked vertically, joined by U-turn waveguides (a serpentine). The plan is pure placement:
drawing (``mesh_layout``) and the crosstalk model's heater positions (:func:`heater_positions_for`)
both read it, so they agree by construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import gdsfactory as gf
from gdsfactory.component import Component

from ffzero_photonics.components.activation_cell import DEVICE_LABEL_LAYER, ffzero_eo_activation
from ffzero_photonics.components.cells import (
    BUMP_SIZE_UM,
    METAL_SPACE_UM,
    ffzero_heater_mzi,
    ffzero_io_coupler,
    ffzero_phase_screen_heater,
    ffzero_photodetector,
)
from ffzero_photonics.components.input_cells import ffzero_coherent_input
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.layouts.layers import ensure_pdk
from ffzero_photonics.photonic.mesh_spec import MeshSpec, MZISite

__all__ = [
    "ACTIVATION_CELL",
    "BLOCK_GAP",
    "COLUMN_GAP",
    "DETECTOR_CELL",
    "FAN_SEPARATION",
    "INPUT_CELL",
    "INPUT_INSTANCE",
    "IO_PITCH",
    "PORT_PITCH",
    "Bump",
    "Floorplan",
    "Link",
    "Placement",
    "check_specs",
    "chip_links",
    "fan_width",
    "fold_plan",
    "heater_positions_for",
    "optical_links",
    "plan",
    "spec_from_key",
    "spec_key",
]

Link = tuple[str, str]

INPUT_INSTANCE = "input"
"""Instance name of a chip's coherent input; its heaters and pads are labelled ``in{k}_amp`` / ``in{k}_sign``."""
ACTIVATION_CELL = {"pad_size": 30.0, "pad_pitch": 60.0}
"""``ffzero_eo_activation`` arguments of a chip: flip-chip pads small enough that a cell stays within two port pitches."""
DETECTOR_CELL = {"pad_size": 30.0, "pad_pitch": 60.0}
INPUT_CELL = {"pad_size": 30.0, "arm_spacing": 15.0}
"""``ffzero_coherent_input`` arguments of a chip: flip-chip pads and arms close enough to fit the chip's port pitch."""


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
    """Optical links of an L-layer chip: coherent input -> layer meshes (``L{l}_`` names) joined through
    the activations ``L{l}_tap_p{k}`` -> detectors ``out{k}``."""
    links: list[Link] = []
    last = len(specs) - 1
    for layer, spec in enumerate(specs):
        for a, b in optical_links(spec, f"L{layer}_"):
            if layer == 0 and a.startswith("in"):
                a = f"{INPUT_INSTANCE},o{int(a[2:]) + 1}"
            elif a.startswith("in"):
                a = f"L{layer - 1}_tap_p{a[2:]},o2"
            if layer < last and b.startswith("out"):
                b = f"L{layer}_tap_p{b[3:]},o1"
            links.append((a, b))
    return links


def check_specs(specs: list[MeshSpec]) -> None:
    """A chip's MeshSpecs: at least one, all MeshSpecs, all with the same number of ports."""
    if not specs:
        raise UserInputError("a chip needs at least one MeshSpec, got an empty list")
    for i, s in enumerate(specs):
        if not isinstance(s, MeshSpec):
            raise TypeError(f"specs[{i}] must be a MeshSpec, got {type(s).__name__}")
    ports = {s.n_ports for s in specs}
    if len(ports) != 1:
        raise UserInputError(f"all layers of a chip need the same number of ports, got {[s.n_ports for s in specs]}")


def spec_key(spec: MeshSpec) -> tuple:
    """A hashable key of a MeshSpec (gdsfactory cell arguments must be hashable)."""
    return (spec.topology, spec.n_ports, tuple((m.column, m.row) for m in spec.mzis))


def spec_from_key(key: tuple) -> MeshSpec:
    topology, n_ports, sites = key
    return MeshSpec(topology, n_ports, tuple(MZISite(c, r) for c, r in sites))


@dataclass(frozen=True)
class Placement:
    """One element instance: ``cell`` placed (after ``rotation``) so that its port ``port`` lands on (x, y)."""

    cell: Component
    port: str
    x: float
    y: float
    rotation: float = 0.0

    def point(self, lx: float, ly: float) -> tuple[float, float]:
        """A point given in the cell's coordinates, where it lands in the layout."""
        t = gf.kdb.DCplxTrans(1.0, self.rotation, False, 0.0, 0.0)
        p = self.cell.ports[self.port]
        anchor = t * gf.kdb.DPoint(p.x, p.y)
        q = t * gf.kdb.DPoint(lx, ly)
        return (q.x + self.x - anchor.x, q.y + self.y - anchor.y)


@dataclass(frozen=True)
class Bump:
    """A flip-chip bump pad for net ``net`` centred at (x, y), wired to terminal ``port`` of instance ``inst``."""

    net: str
    inst: str
    port: str
    x: float
    y: float


@dataclass
class Floorplan:
    """Where everything sits: instances, the mesh heaters' bump pads, label positions.

    ``heater_labels`` are the mesh heaters' (the layout draws them); ``cell_labels`` those the
    input, activation and detector cells draw themselves.
    """

    placements: dict[str, Placement]
    bumps: list[Bump]
    heater_labels: dict[str, tuple[float, float]]
    pitch_x: float
    cell_labels: dict[str, tuple[float, float]] = field(default_factory=dict)


IO_PITCH = 127.0
"""Fibre-array pitch (µm) of a bare mesh's grating couplers; a waveguide bundle fans them in to the port pitch."""
PORT_PITCH = 70.0
"""Default port pitch (µm) of meshes and chips: the smallest at which the MZI, screen, input, activation and detector
cells fit (a chip's activation cells alternate between two sub-columns and are 128.6 µm tall)."""
FAN_SEPARATION = 5.0
"""Waveguide separation (µm) in an IO fan: the rule deck's recommended spacing against coupling."""
COLUMN_GAP = 10.0
"""Straight waveguide (µm) between abutting cell columns."""
BLOCK_GAP = 50.0
"""Space (µm) between blocks of different cells (input, mesh, screen, activations, detectors)."""
_HEATER_PORTS = {"phi": "phi", "theta": "theta", "gnd": "gnd_n"}


def plan(
    specs: list[MeshSpec],
    *,
    prefixed: bool,
    mzi_pitch_x: float | None = None,
    port_pitch_y: float | None = None,
    coupler: str = "grating",
    tap_fraction: float = 0.1,
    pad_size: float = BUMP_SIZE_UM,
    fold: int = 1,
) -> Floorplan:
    """Placement of meshes in sequence; ``prefixed`` (a chip): ``L{l}_`` names, coherent input, activations, detectors.

    ``mzi_pitch_x`` defaults to the MZI cell's width plus ``COLUMN_GAP``, ``port_pitch_y`` to
    ``PORT_PITCH``; ``coupler`` is the IO coupler kind of a bare mesh, its couplers sit at ``IO_PITCH``
    (or the port pitch if larger), centred on the mesh, joined to it by a fan (:func:`fan_width`). ``heater_labels`` holds every mesh heater label, ``cell_labels`` those drawn inside the
    input, activation and detector cells; ``bumps`` one pad per mesh heater terminal and heater ground.
    ``fold`` > 1 cuts the flat plan into that many bands (:func:`fold_plan`).
    """
    if isinstance(fold, bool) or not isinstance(fold, int) or fold < 1:
        raise UserInputError(f"fold must be an integer >= 1, got {fold!r}")
    n = specs[0].n_ports
    pitch_y = float(port_pitch_y if port_pitch_y is not None else PORT_PITCH)
    io_pitch = max(IO_PITCH, pitch_y)
    fan = 0.0 if prefixed or io_pitch == pitch_y else fan_width(n)

    def io_y(k: int) -> float:
        return -k * io_pitch + (n - 1) * (io_pitch - pitch_y) / 2
    mzi_cell = ffzero_heater_mzi(port_spacing=pitch_y, pad_size=pad_size)
    screen_cell = ffzero_phase_screen_heater(port_spacing=pitch_y, pad_size=pad_size)
    mzi_w = mzi_cell.ports["o3"].x - mzi_cell.ports["o2"].x
    screen_w = screen_cell.ports["o2"].x - screen_cell.ports["o1"].x
    pitch_x = mzi_w + COLUMN_GAP if mzi_pitch_x is None else float(mzi_pitch_x)
    if pitch_x < mzi_w + COLUMN_GAP:
        raise UserInputError(
            f"mzi_pitch_x={mzi_pitch_x} µm is too small: the MZI cell is {mzi_w:.1f} µm wide, need >= {mzi_w + COLUMN_GAP:.1f} µm"
        )

    placements: dict[str, Placement] = {}
    bumps: list[Bump] = []
    labels: dict[str, tuple[float, float]] = {}
    cell_labels: dict[str, tuple[float, float]] = {}

    def place(cell: Component, name: str, port: str, x: float, y: float, rotation: float = 0.0) -> Placement:
        placements[name] = Placement(cell, port, x, y, rotation)
        for text in cell.get_labels(DEVICE_LABEL_LAYER, recursive=False):
            cell_labels[text.string] = tuple(round(v, 6) for v in placements[name].point(text.x, text.y))
        return placements[name]

    def heater(cell: Component, name: str, x: float, y: float, roles: tuple[str, ...]) -> None:
        p = place(cell, name, "o2" if "theta" in roles else "o1", x, y)
        for role in roles:
            labels[f"{name}_{role}"] = tuple(round(v, 6) for v in p.point(*p.cell.info[f"{role}_center"]))
        for role, (px, py) in cell.info["pads"].items():
            bx, by = p.point(px, py)
            bumps.append(Bump(f"{name}_{role}", name, _HEATER_PORTS[role], round(bx, 6), round(by, 6)))

    if prefixed:
        _check_chip_pitch(pitch_y, tap_fraction)
    x = 0.0
    if prefixed:
        place(ffzero_coherent_input(n_ports=n, pitch=pitch_y, **INPUT_CELL), INPUT_INSTANCE, "o1", x, 0.0)
    else:
        io_cell = ffzero_io_coupler(kind=coupler)
        for k in range(n):
            place(io_cell, f"in{k}", "o1", x, io_y(k), rotation=180)
    x += max(BLOCK_GAP, fan)
    for layer, spec in enumerate(specs):
        pre = f"L{layer}_" if prefixed else ""
        for col, sites in enumerate(spec.columns()):
            for site in sites:
                heater(mzi_cell, pre + site.name, x + col * pitch_x, -site.row * pitch_y, ("theta", "phi"))
        x += spec.n_columns * pitch_x
        for k in range(n):
            heater(screen_cell, f"{pre}screen_p{k}", x, -k * pitch_y, ("phi",))
        x += screen_w + max(BLOCK_GAP, fan)
        if layer < len(specs) - 1:
            width = 0.0
            for k in range(n):
                cell = ffzero_eo_activation(tap_fraction=tap_fraction, label=f"{pre}tap_p{k}", **ACTIVATION_CELL)
                width = cell.ports["o2"].x - cell.ports["o1"].x
                place(cell, f"{pre}tap_p{k}", "o1", x + (k % 2) * (width + BLOCK_GAP), -k * pitch_y)
            x += (2 if n > 1 else 1) * (width + BLOCK_GAP)
    for k in range(n):
        if prefixed:
            cell = ffzero_photodetector(label=f"out{k}", **DETECTOR_CELL)
            width = cell.xmax - cell.ports["o1"].x
            place(cell, f"out{k}", "o1", x + (k % 2) * (width + BLOCK_GAP), -k * pitch_y)
        else:
            place(io_cell, f"out{k}", "o1", x, io_y(k))
    flat = Floorplan(placements, bumps, labels, pitch_x, cell_labels)
    if fold == 1:
        return flat
    return fold_plan(flat, fold, chip_links(specs) if prefixed else optical_links(specs[0]))


def _port_point(fp: Floorplan, node: str) -> tuple[float, float]:
    inst, _, port = node.partition(",")
    p = fp.placements[inst]
    q = p.cell.ports[port or "o1"]
    return p.point(q.x, q.y)


def _x_span(p: Placement) -> tuple[float, float]:
    box = p.cell.dbbox()
    xs = [p.point(x, y)[0] for x in (box.left, box.right) for y in (box.bottom, box.top)]
    return min(xs), max(xs)


def _y_span(p: Placement) -> tuple[float, float]:
    box = p.cell.dbbox()
    ys = [p.point(x, y)[1] for x in (box.left, box.right) for y in (box.bottom, box.top)]
    return min(ys), max(ys)


def fold_plan(fp: Floorplan, n_bands: int, links: list[Link]) -> Floorplan:
    """A serpentine of ``fp``: cut into ``n_bands`` bands of about equal length, stacked downwards, every second one
    turned by 180 degrees so light runs back west; the layout joins the bands with nested U-turns.

    Cuts fall in the free space between cell columns (never inside a cell), where the optical ``links`` cross
    on straight waveguides (not in an IO fan), and no link crosses two cuts.
    """
    spans = sorted(_x_span(p) for p in fp.placements.values())
    merged = [list(spans[0])]
    for lo, hi in spans[1:]:
        if lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    ends = [(_port_point(fp, a), _port_point(fp, b)) for a, b in links]
    spans = [(min(pa[0], pb[0]), max(pa[0], pb[0])) for pa, pb in ends]
    fans = [span for span, (pa, pb) in zip(spans, ends) if abs(pa[1] - pb[1]) > 1e-3]
    gaps = [g for g in ((a[1] + b[0]) / 2 for a, b in zip(merged, merged[1:])) if not any(lo < g < hi for lo, hi in fans)]
    x0, x1 = merged[0][0], merged[-1][1]
    cuts: list[float] = []
    for i in range(1, n_bands):
        last = cuts[-1] if cuts else -math.inf
        free = [g for g in gaps if g > last and not any(lo < last and g < hi for lo, hi in spans)]
        if not free:
            raise UserInputError(f"fold={n_bands}: no {n_bands - 1} places between cell columns where every waveguide "
                                 "crosses at most one fold (a Reck mesh's through-ports skip many columns); fold it "
                                 "into fewer bands")
        cuts.append(min(free, key=lambda g: abs(g - (x0 + i * (x1 - x0) / n_bands))))
    edges = [x0, *cuts, x1]
    width = max(b - a for a, b in zip(edges, edges[1:]))
    ys = [y for p in fp.placements.values() for y in _y_span(p)] + [b.y for b in fp.bumps]
    y_lo, y_hi = min(ys) - BUMP_SIZE_UM, max(ys) + BUMP_SIZE_UM
    height = y_hi - y_lo + BLOCK_GAP

    def point(x: float, y: float) -> tuple[float, float]:
        band = sum(x > c for c in cuts)
        if band % 2 == 0:
            return round(x - edges[band], 6), round(y - band * height, 6)
        return round(width - (x - edges[band]), 6), round(y_lo + y_hi - band * height - y, 6)

    placements = {}
    for name, p in fp.placements.items():
        turned = sum(p.x > c for c in cuts) % 2 == 1
        placements[name] = Placement(p.cell, p.port, *point(p.x, p.y), (p.rotation + 180.0 * turned) % 360)
    bumps = [Bump(b.net, b.inst, b.port, *point(b.x, b.y)) for b in fp.bumps]
    return Floorplan(placements, bumps, {k: point(*v) for k, v in fp.heater_labels.items()}, fp.pitch_x,
                     {k: point(*v) for k, v in fp.cell_labels.items()})


def fan_width(n_ports: int) -> float:
    """x span (µm) a ``gf.routing.route_bundle`` fan needs between N couplers at ``IO_PITCH`` and the mesh's ports."""
    return 100.0 + FAN_SEPARATION * math.ceil(n_ports / 2)


def _check_chip_pitch(pitch_y: float, tap_fraction: float) -> None:
    """A chip's activation and detector cells alternate between two sub-columns: two port pitches must hold one."""
    for what, cell in (("activation", ffzero_eo_activation(tap_fraction=tap_fraction, **ACTIVATION_CELL)),
                       ("detector", ffzero_photodetector(**DETECTOR_CELL))):
        need = (cell.ysize + METAL_SPACE_UM) / 2
        if pitch_y < need:
            raise UserInputError(f"port_pitch_y={pitch_y:g} µm is below the {need:.1f} µm a chip needs: its {what} cells are "
                                 f"{cell.ysize:.1f} µm tall and alternate between two sub-columns")


def heater_positions_for(specs: MeshSpec | list[MeshSpec], **layout_kwargs) -> dict[str, tuple[float, float]]:
    """Heater name -> (x, y) µm of its centre in the layout ``export_chip`` draws, without drawing it.

    One MeshSpec: the ``mesh_layout`` and its names (``mzi_c0_r0_theta``); a list:
    the ``chip_layout`` and the simulator's chip names (``L{l}_mzi_c0_r0_theta``).
    ``layout_kwargs``: ``mzi_pitch_x``, ``port_pitch_y``, ``coupler``, ``tap_fraction``, ``pad_size``, ``fold``
    as for the layout. Cached; equal to the labels read back from the drawn layout
    (a chip's also name its input heaters ``in{k}_amp``/``in{k}_sign``, activations and detectors).
    """
    prefixed = not isinstance(specs, MeshSpec)
    spec_list = list(specs) if prefixed else [specs]
    check_specs(spec_list)
    allowed = {"mzi_pitch_x", "port_pitch_y", "coupler", "tap_fraction", "pad_size", "fold"}
    unknown = sorted(set(layout_kwargs) - allowed)
    if unknown:
        raise UserInputError(
            f"heater_positions_for: unknown layout argument {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}"
        )
    key = tuple(spec_key(s) for s in spec_list)
    return dict(_positions(key, prefixed, tuple(sorted(layout_kwargs.items()))))


@lru_cache(maxsize=32)
def _positions(keys: tuple, prefixed: bool, kwargs: tuple) -> dict[str, tuple[float, float]]:
    ensure_pdk()
    fp = plan([spec_from_key(k) for k in keys], prefixed=prefixed, **dict(kwargs))
    return fp.heater_labels | fp.cell_labels
