"""The coherent input drawn as built: one grating coupler, a 1->N tree of mmi1x2, and per port an amplitude MZI and a sign heater.

Its model is ``cell_models.coherent_input_model``; ``cell_models.sax_netlist`` of the drawn
netlist simulates to the same S-parameters.
"""

from __future__ import annotations

import math

import gdsfactory as gf
from gdsfactory.component import Component

from ffzero_photonics.components.activation_cell import DEVICE_LABEL_LAYER, add_pad, add_wire
from ffzero_photonics.components.cells import blunt_grating
from ffzero_photonics.errors import UserInputError

__all__ = ["coherent_input", "ffzero_coherent_input"]

_MMI_HALF = 0.625
_PAD_GAP = 10.0


def _sbend_length(dy: float) -> float:
    return max(60.0, 1.2 * abs(dy))


@gf.cell
def ffzero_coherent_input(
    n_ports: int = 4,
    pitch: float = 127.0,
    arm_spacing: float = 20.0,
    heater_length: float = 320.0,
    sign_length: float = 100.0,
    pad_size: float = 50.0,
    label: str = "in",
    cross_section: str = "strip",
) -> Component:
    """Grating ``fiber`` -> mmi1x2 tree -> per port: MZI (mmi1x2, heater arm, mmi1x2) for |amplitude|, heater for the sign.

    Outputs ``o1``..``oN`` face east at ``pitch`` from the top down (o{k+1} feeds mesh
    input k, which the mesh layout puts at y = -k pitch). N that is not a power of two:
    the tree is built for the next power of two and the unused arms end in terminators,
    so every port gets the same 1/2^ceil(log2 N) of the light. Each heater terminal has its
    own pad above the heater: ``{label}{k}_amp``, ``{label}{k}_amp_gnd``, ``{label}{k}_sign``,
    ``{label}{k}_sign_gnd``, labelled with those names; heaters are labelled ``{label}{k}_amp`` / ``_sign``.
    Named ``ffzero_*`` so netlists map it to the PDK's model.
    """
    if isinstance(n_ports, bool) or not isinstance(n_ports, int) or n_ports < 1:
        raise UserInputError(f"n_ports must be an integer >= 1, got {n_ports!r}")
    if pad_size > pitch - arm_spacing - _PAD_GAP - 5.5 - 5.0:
        raise UserInputError(
            f"pad_size={pad_size!r} um does not fit between rows at pitch={pitch!r} um and arm_spacing={arm_spacing!r} um")
    if arm_spacing < 15.0:
        raise UserInputError(f"arm_spacing={arm_spacing!r} um is too small for the 11 um heater metal (need >= 15)")
    if heater_length < pad_size or sign_length < pad_size:
        raise UserInputError(f"heater_length and sign_length must be >= pad_size={pad_size!r} um so their two pads fit")
    levels = math.ceil(math.log2(n_ports))
    c = Component()
    gc = c.add_ref(gf.components.grating_coupler_elliptical_trenches(cross_section=cross_section), name="gc")
    lead_in = c.add_ref(gf.components.straight(length=20.0, cross_section=cross_section), name="lead_in")
    lead_in.move((-lead_in.ports["o2"].x, -(2**levels - 1) / 2 * pitch - lead_in.ports["o2"].y))
    gc.connect("o1", lead_in.ports["o1"])
    blunt_grating(c, gc)
    c.add_port("fiber", port=gc.ports["o2"])
    path = float(lead_in.cell.info["length"])

    feeds = {(0, 0): lead_in.ports["o2"]}
    for level in range(levels):
        span = 2 ** (levels - level)
        dy = span / 4 * pitch - _MMI_HALF
        bend = gf.components.bend_s(size=(_sbend_length(dy), dy), cross_section=cross_section)
        path += float(bend.info["length"])
        next_feeds = {}
        for (_, j), port in feeds.items():
            mmi = c.add_ref(gf.components.mmi1x2(cross_section=cross_section), name=f"split_{level}_{j}")
            mmi.connect("o1", port)
            for child, (out, mirror) in enumerate((("o2", False), ("o3", True))):
                index = 2 * j + child
                if index * span // 2 >= n_ports:
                    term = c.add_ref(gf.components.terminator(cross_section_input=cross_section),
                                     name=f"term_{level}_{j}_{out}")
                    term.connect("o1", mmi.ports[out])
                    continue
                b = c.add_ref(bend, name=f"tree_{level}_{index}")
                b.connect("o1", mmi.ports[out], mirror=mirror)
                next_feeds[(level + 1, index)] = b.ports["o2"]
        feeds = next_feeds

    dy = arm_spacing / 2 - _MMI_HALF
    arm_bend = gf.components.bend_s(size=(max(40.0, 2 * dy), dy), cross_section=cross_section)
    spacer_length = pad_size + 2 * _PAD_GAP
    path += 2 * float(arm_bend.info["length"]) + spacer_length + 20.0
    for (_, k), port in sorted(feeds.items()):
        split = c.add_ref(gf.components.mmi1x2(cross_section=cross_section), name=f"amp_split_{k}")
        split.connect("o1", port)
        up_in = c.add_ref(arm_bend, name=f"amp_up_in_{k}")
        up_in.connect("o1", split.ports["o2"])
        lo_in = c.add_ref(arm_bend, name=f"amp_lo_in_{k}")
        lo_in.connect("o1", split.ports["o3"], mirror=True)
        amp = c.add_ref(gf.components.straight_heater_metal(length=heater_length, cross_section=cross_section),
                        name=f"amp_{k}")
        amp.connect("o1", up_in.ports["o2"])
        twin = c.add_ref(gf.components.straight(length=heater_length, cross_section=cross_section), name=f"amp_twin_{k}")
        twin.connect("o1", lo_in.ports["o2"])
        up_out = c.add_ref(arm_bend, name=f"amp_up_out_{k}")
        up_out.connect("o1", amp.ports["o2"], mirror=True)
        lo_out = c.add_ref(arm_bend, name=f"amp_lo_out_{k}")
        lo_out.connect("o1", twin.ports["o2"])
        combine = c.add_ref(gf.components.mmi1x2(cross_section=cross_section), name=f"amp_combine_{k}")
        combine.connect("o3", up_out.ports["o2"])
        spacer = c.add_ref(gf.components.straight(length=spacer_length, cross_section=cross_section), name=f"spacer_{k}")
        spacer.connect("o1", combine.ports["o1"])
        sign = c.add_ref(gf.components.straight_heater_metal(length=sign_length, cross_section=cross_section),
                         name=f"sign_{k}")
        sign.connect("o1", spacer.ports["o2"])
        lead_out = c.add_ref(gf.components.straight(length=20.0, cross_section=cross_section), name=f"lead_out_{k}")
        lead_out.connect("o1", sign.ports["o2"])
        c.add_port(f"o{k + 1}", port=lead_out.ports["o2"])
        for role, heater in (("amp", amp), ("sign", sign)):
            name = f"{label}{k}_{role}"
            c.add_label(name, position=(heater.x, heater.ports["o1"].y), layer=DEVICE_LABEL_LAYER)
            for suffix, terminal in (("", heater.ports["l_e2"]), ("_gnd", heater.ports["r_e2"])):
                y_pad = terminal.y + _PAD_GAP
                add_wire(c, [(terminal.x, terminal.y), (terminal.x, y_pad)])
                add_pad(c, name + suffix, terminal.x, y_pad, pad_size, name + suffix)

    c.info["path_length_um"] = round(path, 6)
    c.info["levels"] = levels
    c.info["pitch"] = pitch
    return c


coherent_input = ffzero_coherent_input
