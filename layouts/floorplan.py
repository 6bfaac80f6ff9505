"""Placement of a mesh or chip layout: where every element sits, its wiring channels, its heater centres.

Floorplan (x grows to the right, port 0 on top at y=0, port k at y=-k*port_pitch_y)::

    mesh: in couplers | gap | col 0 | gap | col 1 | ... | gap | screen | gap | out couplers
    chip: coherent input | gap | layer 0 ... screen | gap | activations (even ports, odd ports) | layer 1 ... | detectors

A chip's activation cells are taller than the port pitch, so they alternate between two
sub-columns: a cell's neighbours on the ports above and below sit in the other one, and
only their straight through-waveguides pass it.

Every MZI sits at its (column, row); the gaps are the wiring channels, wide
enough for the heater tracks they carry. The plan is pure placement: drawing
(``mesh_layout``) and the crosstalk model's heater positions
(:func:`heater_positions_for`) both read it, so they agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import gdsfactory as gf
from gdsfactory.component import Component

from ffzero_photonics.components.activation_cell import DEVICE_LABEL_LAYER, ffzero_eo_activation
from ffzero_photonics.components.cells import (
    ffzero_heater_mzi,
    ffzero_io_coupler,
    ffzero_phase_screen_heater,
    ffzero_photodetector,
)
from ffzero_photonics.components.input_cells import ffzero_coherent_input
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.layouts.layers import ensure_pdk
from ffzero_photonics.layouts.wiring import STUB_MARGIN, Gap, Terminal, track_slots
from ffzero_photonics.photonic.mesh_spec import MeshSpec, MZISite

__all__ = [
    "ACTIVATION_CELL",
    "DETECTOR_CELL",
    "INPUT_INSTANCE",
    "Floorplan",
    "Link",
    "Placement",
    "chip_links",
    "check_specs",
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
"""``ffzero_eo_activation`` arguments of a chip: flip-chip pads small enough that a cell stays within its port pitch."""
DETECTOR_CELL = {"pad_size": 30.0, "pad_pitch": 60.0}


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


@dataclass
class Floorplan:
    """Where everything sits: instances, wiring channels, column ground groups, label positions.

    ``heater_labels`` are the mesh heaters' (the layout draws them); ``cell_labels`` those the
    input, activation and detector cells draw themselves.
    """

    placements: dict[str, Placement]
    gaps: list[Gap]
    grounds: list[tuple[str, list[str]]]
    heater_labels: dict[str, tuple[float, float]]
    pitch_x: float
    cell_labels: dict[str, tuple[float, float]] = field(default_factory=dict)


def plan(
    specs: list[MeshSpec],
    *,
    prefixed: bool,
    mzi_pitch_x: float | None = None,
    port_pitch_y: float = 100.0,
    track_pitch: float = 20.0,
    coupler: str = "grating",
    tap_fraction: float = 0.1,
) -> Floorplan:
    """Placement of meshes in sequence; ``prefixed`` (a chip): ``L{l}_`` names, coherent input, activations, detectors.

    ``mzi_pitch_x`` defaults to the narrowest pitch whose gaps hold all electrical tracks;
    ``coupler`` is the IO coupler kind of a bare mesh. ``heater_labels`` holds every device
    label: the mesh heaters' and those drawn inside the input, activation and detector cells.
    """
    n = specs[0].n_ports
    pitch_y = float(port_pitch_y)
    mzi_cell = ffzero_heater_mzi(port_spacing=pitch_y)
    screen_cell = ffzero_phase_screen_heater()
    mzi_w = mzi_cell.ports["o3"].x - mzi_cell.ports["o2"].x
    screen_w = screen_cell.ports["o2"].x - screen_cell.ports["o1"].x

    slots = 1
    for spec in specs:
        sizes = [len(col) for col in spec.columns()]
        for col in range(spec.n_columns + 1):
            left = sizes[col - 1] if col > 0 else 0
            right = sizes[col] if col < spec.n_columns else 0
            slots = max(slots, track_slots(left) + track_slots(right))
    gap_needed = 2 * STUB_MARGIN + (slots - 1) * track_pitch + 2 * track_pitch
    pitch_x = mzi_w + gap_needed if mzi_pitch_x is None else float(mzi_pitch_x)
    if pitch_x < mzi_w + gap_needed:
        raise UserInputError(
            f"mzi_pitch_x={mzi_pitch_x} µm is too small: MZI cell {mzi_w:.0f} µm + {slots} tracks need >= {mzi_w + gap_needed:.0f} µm"
        )
    gap = pitch_x - mzi_w
    screen_gap = 2 * STUB_MARGIN + track_slots(n) * track_pitch

    placements: dict[str, Placement] = {}
    gaps: list[Gap] = []
    grounds: list[tuple[str, list[str]]] = []
    labels: dict[str, tuple[float, float]] = {}
    cell_labels: dict[str, tuple[float, float]] = {}

    def place(cell: Component, name: str, port: str, x: float, y: float, rotation: float = 0.0) -> Placement:
        placements[name] = Placement(cell, port, x, y, rotation)
        for text in cell.get_labels(DEVICE_LABEL_LAYER, recursive=False):
            cell_labels[text.string] = tuple(round(v, 6) for v in placements[name].point(text.x, text.y))
        return placements[name]

    def label(name: str, p: Placement, key: str) -> None:
        labels[name] = p.point(*p.cell.info[key])

    x = 0.0
    if prefixed:
        place(ffzero_coherent_input(n_ports=n, pitch=pitch_y), INPUT_INSTANCE, "o1", x, 0.0)
    else:
        io_cell = ffzero_io_coupler(kind=coupler)
        for k in range(n):
            place(io_cell, f"in{k}", "o1", x, -k * pitch_y, rotation=180)
    x += 2 * STUB_MARGIN
    for layer, spec in enumerate(specs):
        pre = f"L{layer}_" if prefixed else ""
        layer_gaps = [Gap(x + col * pitch_x, x + col * pitch_x + gap) for col in range(spec.n_columns + 1)]
        for col, sites in enumerate(spec.columns()):
            x_col = x + col * pitch_x + gap
            members = []
            for site in sites:
                heater = pre + site.name
                p = place(mzi_cell, heater, "o2", x_col, -site.row * pitch_y)
                layer_gaps[col].right.append(Terminal(f"{heater}_phi", heater, "phi"))
                layer_gaps[col + 1].left.append(Terminal(f"{heater}_theta", heater, "theta"))
                label(f"{heater}_theta", p, "theta_center")
                label(f"{heater}_phi", p, "phi_center")
                members.append(heater)
            grounds.append((f"{pre}gnd_c{col}", members))
        x_screen = x + spec.n_columns * pitch_x + gap
        screen_channel = Gap(x_screen + screen_w, x_screen + screen_w + screen_gap)
        members = []
        for k in range(n):
            name = f"{pre}screen_p{k}"
            p = place(screen_cell, name, "o1", x_screen, -k * pitch_y)
            screen_channel.left.append(Terminal(f"{name}_phi", name, "phi"))
            label(f"{name}_phi", p, "phi_center")
            members.append(name)
        grounds.append((f"{pre}gnd_screen", members))
        gaps.extend(layer_gaps + [screen_channel])
        x = screen_channel.x1
        if layer < len(specs) - 1:
            width = 0.0
            for k in range(n):
                cell = ffzero_eo_activation(tap_fraction=tap_fraction, label=f"{pre}tap_p{k}", **ACTIVATION_CELL)
                width = cell.ports["o2"].x - cell.ports["o1"].x
                place(cell, f"{pre}tap_p{k}", "o1", x + (k % 2) * (width + 2 * STUB_MARGIN), -k * pitch_y)
            x += (2 if n > 1 else 1) * (width + 2 * STUB_MARGIN)
    for k in range(n):
        if prefixed:
            place(ffzero_photodetector(label=f"out{k}", **DETECTOR_CELL), f"out{k}", "o1", x, -k * pitch_y)
        else:
            place(io_cell, f"out{k}", "o1", x, -k * pitch_y)
    return Floorplan(placements, gaps, grounds, labels, pitch_x, cell_labels)


def heater_positions_for(specs: MeshSpec | list[MeshSpec], **layout_kwargs) -> dict[str, tuple[float, float]]:
    """Heater name -> (x, y) µm of its centre in the layout ``export_chip`` draws, without drawing it.

    One MeshSpec: the ``mesh_layout`` and its names (``mzi_c0_r0_theta``); a list:
    the ``chip_layout`` and the simulator's chip names (``L{l}_mzi_c0_r0_theta``).
    ``layout_kwargs``: ``mzi_pitch_x``, ``port_pitch_y``, ``track_pitch``,
    ``coupler``, ``tap_fraction`` as for the layout. Cached; equal to the labels read back from the drawn layout
    (a chip's also name its input heaters ``in{k}_amp``/``in{k}_sign``, activations and detectors).
    """
    prefixed = not isinstance(specs, MeshSpec)
    spec_list = list(specs) if prefixed else [specs]
    check_specs(spec_list)
    allowed = {"mzi_pitch_x", "port_pitch_y", "track_pitch", "coupler", "tap_fraction"}
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
