"""The electro-optic activation cell of Williamson et al. drawn as built: tap -> Ge photodiode -> TIA pads -> MZI modulator.

Its model is ``cell_models.eo_activation_model`` (same parameter names); ``cell_models.sax_netlist``
of the drawn netlist simulates to the same S-parameters.
"""

from __future__ import annotations

import gdsfactory as gf
from gdsfactory.component import Component

from ffzero_photonics.components.cell_models import tap_coupler_length
from ffzero_photonics.errors import UserInputError

__all__ = ["DEVICE_LABEL_LAYER", "PAD_LABEL_LAYER", "add_pad", "add_wire", "eo_activation", "ffzero_eo_activation"]

DEVICE_LABEL_LAYER = (66, 0)
"""Text at a device's centre (the layouts' heater label layer): the simulator's name."""
PAD_LABEL_LAYER = (66, 1)
"""Text at a pad's centre (the layouts' pad label layer): the net the pad drives or reads."""
WIRE_WIDTH = 10.0
METAL_SPACE_UM = 10.0
"""Metal space rule (Cornerstone metal 41/0): the photodiode's and modulator's contact via stacks are drawn this far apart."""
_TIP_WIDTH = 0.35  # the terminator's tip at the waveguide layer's minimum feature
_DROP_OFFSET = 5.0  # the bar port's terminator bends this far away from the output
_DROP_LENGTH = 30.0  # its doped taper: ends within the space between activation sub-columns
_PD_LIFT = 30.0
_MMI2X2_LENGTH = 25.5
_MMI_PORT_HALF = 0.625


def add_wire(c: Component, points: list[tuple[float, float]], width: float = WIRE_WIDTH) -> None:
    """Manhattan wire on the routing metal through ``points``; each segment overlaps its neighbours and end shapes by width/2."""
    layer = gf.get_cross_section("metal_routing").layer
    h = width / 2
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 != x1 and y0 != y1:
            raise ValueError(f"wire segment {(x0, y0)} -> {(x1, y1)} is not Manhattan")
        xa, xb, ya, yb = min(x0, x1) - h, max(x0, x1) + h, min(y0, y1) - h, max(y0, y1) + h
        c.add_polygon([(xa, ya), (xb, ya), (xb, yb), (xa, yb)], layer=layer)


def add_pad(c: Component, name: str, x: float, y_bottom: float, size: float, text: str) -> None:
    """Square top-metal pad centred on ``x`` above ``y_bottom``, exposed as port ``name``, labelled ``text``."""
    pad = c.add_ref(gf.components.pad(size=(size, size), layer="MTOP"), name=f"pad_{name}")
    pad.move((x - pad.x, y_bottom + size / 2 - pad.y))
    c.add_port(name, port=pad.ports["pad"])
    c.add_label(text, position=(pad.x, pad.y), layer=PAD_LABEL_LAYER)


@gf.cell
def ffzero_eo_activation(
    tap_fraction: float = 0.1,
    tap_gap: float = 0.3,
    modulator_length: float = 2000.0,
    arm_spacing: float = 60.0,
    pad_size: float = 60.0,
    pad_pitch: float = 90.0,
    label: str = "act",
    cross_section: str = "strip",
) -> Component:
    """Tap coupler, Ge photodiode, pads for a flip-chip TIA, and an MZI (two mmi2x2, ``straight_pn`` arm) on o1 -> o2.

    alpha is set by the tap coupler's length for ``tap_gap`` (``tap_coupler_length``). The
    photodiode's contacts go to pads ``pd_k`` (n) and ``pd_a`` (p), the TIA's input pair; the
    TIA output pad ``tia_out`` is wired to the modulator's p side and pad ``bias`` to its n
    side (reverse bias = bias - TIA output; ``cell_models.eo_drive_voltage_V``). The TIA is
    off-chip (flip-chip or probe card): the cell draws its pads, not the amplifier. Optical:
    o1 in, o2 out on the same axis (the MZI's cross port; its bar port ends in a terminator). Labels carry
    ``label`` (the simulator's cell name). Named ``ffzero_*`` so netlists map it to the PDK's model.
    """
    if pad_pitch <= pad_size:
        raise UserInputError(f"pad_pitch={pad_pitch!r} um must be >= pad_size={pad_size!r} um")
    if arm_spacing < 40.0:
        raise UserInputError(f"arm_spacing={arm_spacing!r} um is too small for the 22 um pn modulator (need >= 40)")
    if modulator_length < 2 * pad_pitch:
        raise UserInputError(f"modulator_length={modulator_length!r} um must be >= 2 * pad_pitch={2 * pad_pitch!r} um")
    c = Component()
    tap_length = tap_coupler_length(tap_fraction, tap_gap)
    tap = c.add_ref(gf.components.coupler(gap=tap_gap, length=tap_length, cross_section=cross_section), name="tap")
    to_pd = c.add_ref(gf.components.bend_s(size=(40.0, _PD_LIFT), cross_section=cross_section), name="to_pd")
    to_pd.connect("o1", tap.ports["o3"])
    pd = c.add_ref(gf.components.ge_detector_straight_si_contacts(via_stack_spacing=METAL_SPACE_UM), name="pd")
    pd.connect("o1", to_pd.ports["o2"])

    pd_n, pd_p = pd.ports["top"], pd.ports["bot"]
    x_pd_k = pd_n.x + 20.0
    x_pd_a = x_pd_k + pad_pitch
    dy = arm_spacing / 2 - 0.625
    bend_len = max(40.0, 2 * dy)
    arm_bend = gf.components.bend_s(size=(bend_len, dy), cross_section=cross_section)
    x_tia = x_pd_a + pad_pitch
    lead_length = x_tia + 20.0 + WIRE_WIDTH - _MMI2X2_LENGTH - bend_len - tap.ports["o4"].x
    lead_in = c.add_ref(gf.components.straight(length=round(lead_length, 3), cross_section=cross_section), name="lead_in")
    lead_in.connect("o1", tap.ports["o4"])
    split = c.add_ref(gf.components.mmi2x2(cross_section=cross_section), name="mzi_split")
    split.connect("o1", lead_in.ports["o2"])
    up_in = c.add_ref(arm_bend, name="arm_up_in")
    up_in.connect("o1", split.ports["o3"])
    lo_in = c.add_ref(arm_bend, name="arm_lo_in")
    lo_in.connect("o1", split.ports["o4"], mirror=True)
    mod = c.add_ref(gf.components.straight_pn(length=modulator_length, via_stack_spacing=METAL_SPACE_UM),
                    name="modulator")
    mod.connect("o1", up_in.ports["o2"])
    twin = c.add_ref(gf.components.straight(length=modulator_length, cross_section=cross_section), name="twin")
    twin.connect("o1", lo_in.ports["o2"])
    up_out = c.add_ref(arm_bend, name="arm_up_out")
    up_out.connect("o1", mod.ports["o2"], mirror=True)
    lo_out = c.add_ref(arm_bend, name="arm_lo_out")
    lo_out.connect("o1", twin.ports["o2"])
    combine = c.add_ref(gf.components.mmi2x2(cross_section=cross_section), name="mzi_combine")
    combine.connect("o2", up_out.ports["o2"])
    realign = 2 * _MMI_PORT_HALF  # the MZI exits on the upper port of its combiner: step back onto the o1 axis
    lead_out = c.add_ref(gf.components.bend_s(size=(40.0, -realign), cross_section=cross_section), name="lead_out")
    lead_out.connect("o1", combine.ports["o3"])
    drop_bend = c.add_ref(gf.components.bend_s(size=(40.0, -_DROP_OFFSET), cross_section=cross_section), name="drop_bend")
    drop_bend.connect("o1", combine.ports["o4"])
    drop = c.add_ref(gf.components.terminator(length=_DROP_LENGTH, cross_section_input=cross_section,
                                              tapered_width=_TIP_WIDTH), name="drop")
    drop.connect("o1", drop_bend.ports["o2"])
    c.add_port("o1", port=tap.ports["o1"])
    c.add_port("o2", port=lead_out.ports["o2"])

    mod_p, mod_n = mod.ports["bot_e1"], mod.ports["top_e2"]
    x_bias = x_tia + pad_pitch
    y_pads = max(pd.ymax, mod.ymax) + 20.0
    add_wire(c, [(pd_n.x, pd_n.y), (x_pd_k, pd_n.y), (x_pd_k, y_pads)])
    add_wire(c, [(pd_p.x, pd_p.y), (x_pd_a, pd_p.y), (x_pd_a, y_pads)])
    add_wire(c, [(mod_p.x, mod_p.y), (x_tia, mod_p.y), (x_tia, y_pads)])
    add_wire(c, [(x_bias, mod_n.y), (x_bias, y_pads)])
    for name, x in (("pd_k", x_pd_k), ("pd_a", x_pd_a), ("tia_out", x_tia), ("bias", x_bias)):
        add_pad(c, name, x, y_pads, pad_size, f"{label}_{name}")
    c.add_label(label, position=(mod.x, mod.y), layer=DEVICE_LABEL_LAYER)
    c.add_label(f"{label}_pd", position=(pd.x, pd.y), layer=DEVICE_LABEL_LAYER)

    c.info["tap_length_um"] = tap_length
    c.info["path_length_um"] = round(
        float(lead_in.cell.info["length"]) + 2 * float(arm_bend.info["length"]) + float(lead_out.cell.info["length"]), 6)
    c.info["tia"] = "off-chip: inputs pd_k/pd_a, output tia_out"
    return c


eo_activation = ffzero_eo_activation
