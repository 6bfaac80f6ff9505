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
``phi``); ``gnd_n``/``gnd_s`` are the two ends of the cell's vertical ground
strap, which the mesh layout chains into one ground bus per column.
"""

from __future__ import annotations

import gdsfactory as gf
from gdsfactory.component import Component

from ffzero_photonics.components.activation_cell import DEVICE_LABEL_LAYER, add_pad, add_wire
from ffzero_photonics.errors import UserInputError

__all__ = [
    "ROUTING_XS",
    "WIRE_WIDTH",
    "ffzero_heater_mzi",
    "ffzero_io_coupler",
    "ffzero_pad",
    "ffzero_phase_screen_heater",
    "ffzero_photodetector",
]

ROUTING_XS = "metal_routing"
WIRE_WIDTH = 10.0
_MMI_PORT_HALF_SPACING = 0.625


def _wire(length: float) -> Component:
    return gf.components.straight(length=length, cross_section=ROUTING_XS)


def _add_gnd_strap(c: Component, x: float, y_top: float, y_bot: float) -> None:
    """Vertical ground strap from y_top down to y_bot at x, exposing gnd_n/gnd_s."""
    strap = c << _wire(y_top - y_bot)
    strap.rotate(-90)
    strap.move((x - strap.ports["e1"].x, y_top - strap.ports["e1"].y))
    c.add_port("gnd_n", port=strap.ports["e1"], port_type="electrical")
    c.add_port("gnd_s", port=strap.ports["e2"], port_type="electrical")


def _hwire(c: Component, x0: float, x1: float, y: float) -> None:
    """Horizontal wire on the routing metal between x0 and x1 at height y."""
    lo, hi = min(x0, x1), max(x0, x1)
    w = c << _wire(hi - lo)
    w.move((lo - w.ports["e1"].x, y - w.ports["e1"].y))


@gf.cell
def ffzero_heater_mzi(
    port_spacing: float = 100.0,
    theta_length: float = 200.0,
    phi_length: float = 100.0,
    lead_length: float = 30.0,
    fan_length: float = 100.0,
    cross_section: str = "strip",
) -> Component:
    """2x2 MZI (mmi2x2 splitters) with a theta heater on its upper internal arm and a phi heater on its upper input arm.

    Inputs/outputs are fanned out to ``port_spacing`` so mesh columns connect by
    straight waveguides. Signal ports: ``phi`` (west, phi heater) and ``theta``
    (east, theta heater); both heaters share the ground strap at ``info['gnd_x']``.
    """
    half = port_spacing / 2
    if half - _MMI_PORT_HALF_SPACING < 30.0:
        raise UserInputError(f"port_spacing={port_spacing} µm is too small for the MZI fan-out (need >= 62 µm)")
    c = Component()
    mzi = c << gf.components.mzi2x2_2x2_phase_shifter(
        length_x=theta_length, delta_length=0.0, cross_section=cross_section
    )
    dy = half - _MMI_PORT_HALF_SPACING
    sbend = gf.components.bend_s(size=(fan_length, dy), cross_section=cross_section)
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
    c.add_port("phi", port=phi.ports["l_e1"], port_type="electrical")
    c.add_port("theta", port=mzi.ports["e5"], port_type="electrical")

    phi_gnd = phi.ports["r_e3"]
    theta_gnd = mzi.ports["e1"]
    gnd_x = (phi_gnd.x + theta_gnd.x) / 2
    _hwire(c, phi_gnd.x - WIRE_WIDTH / 2, gnd_x, phi_gnd.y)
    _hwire(c, gnd_x, theta_gnd.x + WIRE_WIDTH / 2, theta_gnd.y)
    _add_gnd_strap(c, gnd_x, phi_gnd.y + WIRE_WIDTH / 2, theta_gnd.y - WIRE_WIDTH / 2)

    theta_l, theta_r = mzi.ports["e1"].x, mzi.ports["e5"].x
    c.info["theta_center"] = ((theta_l + theta_r) / 2, mzi.ports["e1"].y)
    c.info["phi_center"] = ((phi.ports["o1"].x + phi.ports["o2"].x) / 2, phi.ports["o1"].y)
    c.info["gnd_x"] = gnd_x
    return c


@gf.cell
def ffzero_phase_screen_heater(
    length: float = 100.0,
    lead_length: float = 50.0,
    cross_section: str = "strip",
) -> Component:
    """Output phase-screen heater: a metal-heater straight with input/output leads.

    Signal port ``phi`` faces east; the heater's west terminal is strapped to a
    vertical ground strap (gnd_n/gnd_s) inside the input lead.
    """
    if lead_length < 40.0:
        raise UserInputError(f"lead_length={lead_length} µm leaves no room for the ground strap (need >= 40 µm)")
    c = Component()
    lead_in = c << gf.components.straight(length=lead_length, cross_section=cross_section)
    heater = c << gf.components.straight_heater_metal(length=length, cross_section=cross_section)
    heater.connect("o1", lead_in.ports["o2"])
    lead_out = c << gf.components.straight(length=lead_length, cross_section=cross_section)
    lead_out.connect("o1", heater.ports["o2"])
    c.add_port("o1", port=lead_in.ports["o1"])
    c.add_port("o2", port=lead_out.ports["o2"])
    c.add_port("phi", port=heater.ports["r_e3"], port_type="electrical")
    gnd = heater.ports["l_e1"]
    gnd_x = lead_in.ports["o1"].x + WIRE_WIDTH
    _hwire(c, gnd_x - WIRE_WIDTH / 2, gnd.x + WIRE_WIDTH / 2, gnd.y)
    _add_gnd_strap(c, gnd_x, gnd.y + 2 * WIRE_WIDTH, gnd.y - 2 * WIRE_WIDTH)
    c.info["phi_center"] = ((heater.ports["o1"].x + heater.ports["o2"].x) / 2, heater.ports["o1"].y)
    c.info["gnd_x"] = gnd_x
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
    pd = c.add_ref(gf.components.ge_detector_straight_si_contacts(), name="pd")
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
    else:
        ref = c << gf.components.edge_coupler_silicon()
    c.add_port("o1", port=ref.ports["o1"])
    c.add_port("fiber", port=ref.ports["o2"])
    return c


@gf.cell
def ffzero_pad(size: tuple[float, float] = (80.0, 80.0), layer: str = "MTOP") -> Component:
    """DC probe / wire-bond pad on the top metal (gdsfactory ``pad``), ports e1..e4 and ``pad``."""
    c = Component()
    ref = c << gf.components.pad(size=size, layer=layer)
    c.add_ports(ref.ports)
    return c
