"""gdsfactory cells for the photonic mesh: heater MZI, phase-screen heater, output photodetector, IO coupler, pad.

Cell functions carry the ``ffzero_`` prefix, so a gdsfactory netlist names
them ``ffzero_heater_mzi`` etc. and maps them to the models the PDK registers
under the same names, never to a model of one of gdsfactory's own cells.
Every cell is a function of its parameters returning a Component, composed
from gdsfactory's own couplers, heater straights, detectors and pads; they
draw with the active PDK's ``strip`` and ``metal_routing`` cross-sections. Port
conventions match ``ffzero_photonics.photonic.netlist``: an MZI has o1 lower
input, o2 upper input, o3 upper output, o4 lower output; a two-port cell has o1
in, o2 out. Heater signal ports are named after the heater role (``theta``,
``phi``), a heater cell's ground terminal ``gnd_n``; ``info['pads']`` says where
the mesh layout puts each terminal's flip-chip bump pad (role -> centre).
"""

from __future__ import annotations

import gdsfactory as gf
import numpy as np
from gdsfactory.component import Component

from ffzero_photonics.components.activation_cell import DEVICE_LABEL_LAYER, add_pad, add_wire
from ffzero_photonics.errors import UserInputError

__all__ = [
    "BUMP_SIZE_UM",
    "FAN_RADIUS_UM",
    "HEATED_LENGTH_UM",
    "ROUTING_XS",
    "WIRE_WIDTH",
    "blunt_grating",
    "fan_length",
    "ffzero_heater_mzi",
    "ffzero_io_coupler",
    "ffzero_pad",
    "ffzero_phase_screen_heater",
    "ffzero_photodetector",
    "min_port_spacing",
]

ROUTING_XS = "metal_routing"
WIRE_WIDTH = 10.0
HEATED_LENGTH_UM = 61.6
"""Drawn heater length of the mesh heaters: the heated waveguide length of the physical chip ([heaters] heated_length_um)."""
BUMP_SIZE_UM = 30.0
"""Side of a flip-chip bump pad (the rule deck's ``pad_min_size_um``)."""
FAN_RADIUS_UM = 10.0
"""Smallest radius of an MZI fan-out S-bend: gdsfactory's default strip routing radius, twice the PDK minimum."""
METAL_SPACE_UM = 10.0
_MMI_PORT_HALF_SPACING = 0.625
_VIA_OVERHANG = 15.9  # straight_heater_metal's via stacks reach this far beyond each heater end
_VIA_HALF = 5.5  # half the 11 um via stack


def _wire(length: float) -> Component:
    return gf.components.straight(length=length, cross_section=ROUTING_XS)


def min_port_spacing(pad_size: float = BUMP_SIZE_UM) -> float:
    """Smallest port pitch (µm) at which a heater's bump pad fits between two port rows clear of their heater metal."""
    return 2 * (pad_size / 2 + METAL_SPACE_UM + _VIA_HALF)


def fan_length(port_spacing: float, radius: float = FAN_RADIUS_UM) -> float:
    """Shortest fan-out S-bend (5 µm steps) taking an MMI port to ``port_spacing`` / 2 with radius >= ``radius``."""
    dy = port_spacing / 2 - _MMI_PORT_HALF_SPACING
    length = 10.0
    while _sbend_min_radius(length, dy) < radius:
        length += 5.0
    return length


def _sbend_min_radius(length: float, dy: float) -> float:
    """Smallest radius of gdsfactory's ``bend_s`` (cubic Bezier, control points (0,0) (L/2,0) (L/2,dy) (L,dy))."""
    t = np.linspace(0.0, 1.0, 2001)
    dx1, dy1 = 1.5 * length * ((1 - t) ** 2 + t**2), 6 * dy * t * (1 - t)
    dx2 = 3 * length * (2 * t - 1)
    dy2 = 6 * dy * (1 - 2 * t)
    curvature = np.abs(dx1 * dy2 - dy1 * dx2) / (dx1**2 + dy1**2) ** 1.5
    return float(1.0 / curvature.max())


def _electrical_port(c: Component, name: str, x: float, y: float, orientation: float) -> None:
    c.add_port(name, center=(x, y), orientation=orientation, width=WIRE_WIDTH, layer=gf.get_layer("M3"),
               port_type="electrical")


@gf.cell
def ffzero_heater_mzi(
    port_spacing: float = 70.0,
    theta_length: float = HEATED_LENGTH_UM,
    phi_length: float = HEATED_LENGTH_UM,
    lead_length: float = 16.0,
    pad_size: float = BUMP_SIZE_UM,
    cross_section: str = "strip",
) -> Component:
    """2x2 MZI (mmi2x2 splitters) with a theta heater on its upper internal arm and a phi heater on its upper input arm.

    Inputs/outputs are fanned out (S-bends of radius >= ``FAN_RADIUS_UM``) to ``port_spacing`` so mesh columns
    connect by straight waveguides. Each heater terminal faces north: ``phi`` and ``theta`` (signal) and ``gnd_n``
    (the ground bridge both heaters share); ``info['pads']`` holds where each one's flip-chip bump pad goes
    (``phi``, ``theta``, ``gnd``): in the free strip above the upper port, clear of every heater's metal.
    """
    half = port_spacing / 2
    if port_spacing < min_port_spacing(pad_size):
        raise UserInputError(f"port_spacing={port_spacing} µm is too small for the MZI's {pad_size:g} µm bump pads "
                             f"(need >= {min_port_spacing(pad_size):g} µm)")
    if lead_length < _VIA_OVERHANG:
        raise UserInputError(f"lead_length={lead_length} µm is shorter than the heater's via stack ({_VIA_OVERHANG} µm)")
    c = Component()
    mzi = c << gf.components.mzi2x2_2x2_phase_shifter(
        length_x=theta_length, delta_length=0.0, cross_section=cross_section
    )
    dy = half - _MMI_PORT_HALF_SPACING
    sbend = gf.components.bend_s(size=(fan_length(port_spacing), dy), cross_section=cross_section)
    fan_up = c << sbend
    fan_up.connect("o2", mzi.ports["o2"], mirror=True)
    fan_lo = c << sbend
    fan_lo.connect("o2", mzi.ports["o1"])
    out_up = c << sbend
    out_up.connect("o1", mzi.ports["o3"])
    out_lo = c << sbend
    out_lo.connect("o1", mzi.ports["o4"], mirror=True)

    lead_after = c << gf.components.straight(length=lead_length, cross_section=cross_section)
    lead_after.connect("o2", fan_up.ports["o1"])
    phi = c << gf.components.straight_heater_metal(length=phi_length, cross_section=cross_section)
    phi.connect("o2", lead_after.ports["o1"])
    lead_before = c << gf.components.straight(length=lead_length, cross_section=cross_section)
    lead_before.connect("o2", phi.ports["o1"])
    lower = c << gf.components.straight(length=2 * lead_length + phi_length, cross_section=cross_section)
    lower.connect("o2", fan_lo.ports["o1"])

    c.add_port("o1", port=lower.ports["o1"])
    c.add_port("o2", port=lead_before.ports["o1"])
    c.add_port("o3", port=out_up.ports["o2"])
    c.add_port("o4", port=out_lo.ports["o2"])

    phi_sig, phi_gnd = phi.ports["l_e2"], phi.ports["r_e2"]
    theta_gnd, theta_sig = mzi.ports["e3"], mzi.ports["e4"]
    c.add_port("phi", port=phi_sig, port_type="electrical")
    c.add_port("theta", port=theta_sig, port_type="electrical")
    y_phi = phi.ports["o1"].y
    add_wire(c, [(phi_gnd.x, y_phi), (theta_gnd.x, y_phi), (theta_gnd.x, theta_gnd.y - _VIA_HALF)], width=2 * _VIA_HALF)
    gnd_x = (phi_gnd.x + theta_gnd.x) / 2
    _electrical_port(c, "gnd_n", gnd_x, y_phi + _VIA_HALF, 90)

    y_pad = lower.ports["o1"].y + 1.5 * port_spacing  # the middle of the strip above the upper port
    x0 = phi_sig.x - _VIA_HALF
    c.info["pads"] = {
        "phi": (x0 + pad_size / 2, y_pad),
        "gnd": (gnd_x, y_pad),
        "theta": (theta_sig.x, y_pad),
    }
    theta_l, theta_r = mzi.ports["e1"].x, mzi.ports["e5"].x
    c.info["theta_center"] = ((theta_l + theta_r) / 2, mzi.ports["e1"].y)
    c.info["phi_center"] = ((phi.ports["o1"].x + phi.ports["o2"].x) / 2, phi.ports["o1"].y)
    return c


@gf.cell
def ffzero_phase_screen_heater(
    length: float = HEATED_LENGTH_UM,
    lead_length: float = 16.0,
    port_spacing: float = 70.0,
    pad_size: float = BUMP_SIZE_UM,
    cross_section: str = "strip",
) -> Component:
    """Output phase-screen heater: a metal-heater straight with input/output leads.

    Terminals face south: ``phi`` (signal, east via stack) and ``gnd_n`` (west via stack); ``info['pads']``
    places their bump pads (``phi``, ``gnd``) half a ``port_spacing`` below the waveguide, between port rows.
    """
    if lead_length < _VIA_OVERHANG:
        raise UserInputError(f"lead_length={lead_length} µm is shorter than the heater's via stack ({_VIA_OVERHANG} µm)")
    if port_spacing < min_port_spacing(pad_size):
        raise UserInputError(f"port_spacing={port_spacing} µm is too small for the screen's {pad_size:g} µm bump pads "
                             f"(need >= {min_port_spacing(pad_size):g} µm)")
    c = Component()
    lead_in = c << gf.components.straight(length=lead_length, cross_section=cross_section)
    heater = c << gf.components.straight_heater_metal(length=length, cross_section=cross_section)
    heater.connect("o1", lead_in.ports["o2"])
    lead_out = c << gf.components.straight(length=lead_length, cross_section=cross_section)
    lead_out.connect("o1", heater.ports["o2"])
    c.add_port("o1", port=lead_in.ports["o1"])
    c.add_port("o2", port=lead_out.ports["o2"])
    sig, gnd = heater.ports["r_e4"], heater.ports["l_e4"]
    c.add_port("phi", port=sig, port_type="electrical")
    c.add_port("gnd_n", port=gnd, port_type="electrical")
    y_pad = heater.ports["o1"].y - port_spacing / 2
    c.info["pads"] = {
        "gnd": (gnd.x - _VIA_HALF + pad_size / 2, y_pad),
        "phi": (sig.x + _VIA_HALF - pad_size / 2, y_pad),
    }
    c.info["phi_center"] = ((heater.ports["o1"].x + heater.ports["o2"].x) / 2, heater.ports["o1"].y)
    return c


@gf.cell
def ffzero_photodetector(
    pad_size: float = 30.0,
    pad_pitch: float = 60.0,
    label: str = "pd",
    cross_section: str = "strip",
) -> Component:
    """Output detector: a lead into a Ge photodiode whose contacts are wired to pads ``pd_k`` and ``pd_a`` above it.

    Optical port o1 (west); the pads (flip-chip / probe, read by an off-chip TIA) are
    labelled ``{label}_pd_k`` / ``{label}_pd_a`` and the diode ``label``. Its model is
    ``cell_models.photodiode`` (an optical sink; the current is the readout's).
    """
    if pad_pitch <= pad_size:
        raise UserInputError(f"pad_pitch={pad_pitch!r} um must be > pad_size={pad_size!r} um")
    c = Component()
    lead = c.add_ref(gf.components.straight(length=10.0, cross_section=cross_section), name="lead")
    pd = c.add_ref(gf.components.ge_detector_straight_si_contacts(via_stack_spacing=METAL_SPACE_UM), name="pd")
    pd.connect("o1", lead.ports["o2"])
    pd_n, pd_p = pd.ports["top"], pd.ports["bot"]
    x_k = pd_n.x + 20.0
    y_pads = pd.ymax + 20.0
    add_wire(c, [(pd_n.x, pd_n.y), (x_k, pd_n.y), (x_k, y_pads)])
    add_wire(c, [(pd_p.x, pd_p.y), (x_k + pad_pitch, pd_p.y), (x_k + pad_pitch, y_pads)])
    add_pad(c, "pd_k", x_k, y_pads, pad_size, f"{label}_pd_k")
    add_pad(c, "pd_a", x_k + pad_pitch, y_pads, pad_size, f"{label}_pd_a")
    c.add_label(label, position=(pd.x, pd.y), layer=DEVICE_LABEL_LAYER)
    c.add_port("o1", port=lead.ports["o1"])
    return c


@gf.cell
def ffzero_io_coupler(kind: str = "grating", cross_section: str = "strip") -> Component:
    """Fibre interface: a TE grating coupler or a silicon edge coupler.

    Port ``o1`` is the chip-side waveguide (facing west, coupler to its east);
    ``fiber`` is the grating's vertical port or the edge facet.
    """
    if kind not in ("grating", "edge"):
        raise UserInputError(f"io_coupler kind must be 'grating' or 'edge', got {kind!r}")
    c = Component()
    if kind == "grating":
        ref = c << gf.components.grating_coupler_elliptical_trenches(cross_section=cross_section)
        blunt_grating(c, ref)
    else:
        ref = c << gf.components.edge_coupler_silicon()
    c.add_port("o1", port=ref.ports["o1"])
    c.add_port("fiber", port=ref.ports["o2"])
    return c


def blunt_grating(c: Component, ref) -> None:
    """Square off the two 75-degree corners at the wide end of a grating's slab wedge (a sub-0.35 µm tip each).

    Two slivers of waveguide layer, the last 1 µm of the wedge's bounding box that the wedge leaves empty, make
    both corners 90 degrees; they abut the wedge without overlapping it, and the grating's trenches are untouched.
    """
    box = ref.dbbox()
    o1 = ref.ports["o1"]
    far = box.left if o1.x > box.center().x else box.right
    x0, x1 = sorted((far, far + (1.0 if far == box.left else -1.0)))
    index = gf.get_layer(o1.layer)
    wedge = gf.kdb.Region(ref.cell.kdb_cell.begin_shapes_rec(index)).transformed(ref.trans)
    end = gf.kdb.Region(gf.kdb.DBox(x0, box.bottom, x1, box.top).to_itype(c.kcl.dbu))
    for poly in (end - wedge).each():
        c.shapes(index).insert(poly)


@gf.cell
def ffzero_pad(size: tuple[float, float] = (80.0, 80.0), layer: str = "MTOP") -> Component:
    """DC probe / wire-bond pad on the top metal (gdsfactory ``pad``), ports e1..e4 and ``pad``."""
    c = Component()
    ref = c << gf.components.pad(size=size, layer=layer)
    c.add_ports(ref.ports)
    return c
