"""Layout-versus-schematic checks for mesh layouts.

Optical: the connectivity extracted from the layout (``layout_netlist``, via
``component.get_netlist()``) and the simulator's netlist
(``ffzero_photonics.photonic.netlist.mesh_netlist``) are both reduced to a
canonical graph: element port -> element port, routes and ``waveguide``
instances collapsed, external ports ``in{k}``/``out{k}`` as nodes. Layout
instances carry the simulator's names, so the graphs compare name by name.

Electrical: the top metal is merged into islands; every heater's signal
terminal must share an island with exactly its own pad and nothing else, and
every heater cell's ground terminal with exactly one ground pad.
"""

from __future__ import annotations

from collections import defaultdict

import gdsfactory as gf
from gdsfactory.component import Component

from ffzero_photonics.layouts.extract import HEATER_ROLES, element_kind, layout_netlist
from ffzero_photonics.layouts.islands import Islands, terminal_point
from ffzero_photonics.layouts.layers import METAL_LAYER, PAD_LABEL_LAYER, VIA_LAYER
from ffzero_photonics.layouts.progress import steps
from ffzero_photonics.photonic.mesh_spec import MeshSpec
from ffzero_photonics.photonic.netlist import mesh_netlist

__all__ = ["canonical_graph", "check_electrical", "compare_connectivity", "expected_netlist", "unconnected_metal"]

_COLLAPSED = {"waveguide", "straight", "wg"}


def canonical_graph(netlist: dict) -> dict[str, str]:
    """Symmetric map node -> node of a sax-style netlist; two-port ``waveguide`` instances collapsed.

    Nodes are ``"inst,port"`` for element ports and ``"in{k}"``/``"out{k}"``
    for external ports.
    """
    instances = netlist.get("instances", {})
    wires = {name for name, inst in instances.items() if _component(inst) in _COLLAPSED}
    adj: dict[str, str] = {}

    def link(a: str, b: str) -> None:
        for x, y in ((a, b), (b, a)):
            if x in adj and adj[x] != y:
                raise ValueError(f"{x} is connected twice in the netlist: to {adj[x]} and {y}")
            adj[x] = y

    for a, b in netlist.get("connections", {}).items():
        link(a, b)
    for ext, node in netlist.get("ports", {}).items():
        link(ext, node)
    for w in wires:
        ends = [n for n in list(adj) if n.split(",")[0] == w]
        if len(ends) != 2:
            continue
        a, b = (adj.pop(e) for e in ends)
        adj[a], adj[b] = b, a
    return adj


def _component(inst) -> str:
    return inst["component"] if isinstance(inst, dict) else str(inst)


def expected_netlist(spec: MeshSpec | list[MeshSpec]) -> dict:
    """The simulator's netlist of a mesh, or of a chip (``L{l}_`` names, layers joined through the activations ``L{l}_tap_p{k}``)."""
    if isinstance(spec, MeshSpec):
        return mesh_netlist(spec)
    specs = list(spec)
    instances: dict = {}
    connections: dict = {}
    ports: dict = {}
    last = len(specs) - 1
    for layer, s in enumerate(specs):
        pre = f"L{layer}_"
        net = mesh_netlist(s)
        instances |= {pre + k: v for k, v in net["instances"].items()}
        connections |= {pre + a: pre + b for a, b in net["connections"].items()}
        for ext, node in net["ports"].items():
            is_input = ext.startswith("in")
            k = int(ext[2:] if is_input else ext[3:])
            if is_input and layer == 0 or not is_input and layer == last:
                ports[ext] = pre + node
            elif is_input:
                connections[f"L{layer - 1}_tap_p{k},o2"] = pre + node
            else:
                instances[f"{pre}tap_p{k}"] = {"component": "activation"}
                connections[pre + node] = f"{pre}tap_p{k},o1"
    return {"instances": instances, "connections": connections, "ports": ports}


def compare_connectivity(
    layout_component: Component, spec: MeshSpec | list[MeshSpec], *, netlist: dict | None = None
) -> list[str]:
    """Mismatches between the layout's optical connectivity and the simulator netlist (empty list = match).

    ``spec`` is the MeshSpec of a ``mesh_layout`` or the list of MeshSpecs of a
    ``chip_layout``. Each message names the place, e.g.
    ``"mzi_c2_r1,o3 connects to mzi_c3_r2,o2 in layout, to mzi_c3_r0,o1 in netlist"``.
    ``netlist``: the component's :func:`layout_netlist` when already extracted (it takes seconds at N = 64).
    """
    layout = layout_netlist(layout_component) if netlist is None else netlist
    reference = expected_netlist(spec)
    errors: list[str] = list(layout.get("warnings", []))
    lay_inst = {k: _component(v) for k, v in layout["instances"].items()}
    ref_inst = {k: _component(v) for k, v in reference["instances"].items() if _component(v) not in _COLLAPSED}
    for name in sorted(set(ref_inst) - set(lay_inst)):
        errors.append(f"{name} ({ref_inst[name]}) is in the netlist but not in the layout")
    for name in sorted(set(lay_inst) - set(ref_inst)):
        errors.append(f"{name} ({lay_inst[name]}) is in the layout but not in the netlist")
    for name in sorted(set(lay_inst) & set(ref_inst)):
        if ref_inst[name] != lay_inst[name]:
            errors.append(f"{name} is a {lay_inst[name]} in the layout but a {ref_inst[name]} in the netlist")
    try:
        lay = canonical_graph(layout)
    except ValueError as e:
        return errors + [f"layout: {e}"]
    ref = canonical_graph(reference)
    reported: set[frozenset] = set()
    for node in sorted(set(lay) | set(ref), key=_node_order):
        a, b = lay.get(node), ref.get(node)
        if a == b:
            continue
        key = frozenset((node, a or "", b or ""))
        if key in reported:
            continue
        reported.add(key)
        errors.append(f"{node} connects to {a or 'nothing'} in layout, to {b or 'nothing'} in netlist")
    return errors


def _node_order(node: str):
    inst, _, port = node.partition(",")
    return (inst, port)


def check_electrical(component: Component, layer=METAL_LAYER) -> list[str]:
    """Shorts and opens on the routing metal: each heater terminal must reach its own pad only (empty list = clean).

    Terminals come from the element instances' ports (``theta``/``phi`` signal,
    ``gnd_n`` ground); pads from the pad labels. The metal layer is merged into
    islands and each island's terminals and pad labels are compared.
    """
    islands = Islands(component, layer)
    members: dict[int | None, list[str]] = defaultdict(list)
    pads: dict[int | None, list[str]] = defaultdict(list)
    signal_island: dict[str, int | None] = {}
    for inst in steps(list(component.insts), "electrical: heater terminals"):
        roles = HEATER_ROLES.get(element_kind(inst.cell) or "", ())
        if not roles:
            continue
        for role in roles:
            net = f"{inst.name}_{role}"
            isl = islands.at(*terminal_point(inst.ports[role]))
            members[isl].append(net)
            signal_island[net] = isl
        members[islands.at(*terminal_point(inst.ports["gnd_n"]))].append(f"ground of {inst.name}")
    for text in component.get_labels(layer=PAD_LABEL_LAYER):
        pads[islands.at(text.x, text.y)].append(text.string)

    errors: list[str] = []
    if None in members:
        errors.append(f"terminals off the routing metal: {sorted(members[None])}")
    for net, isl in signal_island.items():
        if isl is None:
            continue
        others = [m for m in members[isl] if m != net]
        if others:
            errors.append(f"{net} is shorted to {', '.join(sorted(others))}")
        if pads.get(isl, []) != [net]:
            errors.append(f"{net} reaches pads {sorted(pads.get(isl, []))}, expected only its own pad")
    for isl, names in members.items():
        grounds = [m for m in names if m.startswith("ground of")]
        if isl is None or not grounds:
            continue
        gpads = pads.get(isl, [])
        if len(gpads) != 1 or "gnd" not in gpads[0]:
            errors.append(f"{grounds[0]} ({len(grounds)} heaters) reaches pads {sorted(gpads)}, expected one ground pad")
    return errors


def unconnected_metal(component: Component, layer=METAL_LAYER, contact_layer=VIA_LAYER) -> list[str]:
    """Islands of the routing metal that do not join exactly one pad to a device contact (empty list = clean).

    Pads are the shapes of pad cells; a device contact is a via (``contact_layer``) under the
    metal, which every heater, photodiode and modulator terminal ends in. An island without a
    pad cannot be driven or read; one without a contact drives nothing. Pads and contacts are looked up
    in the islands' box tree (:class:`~.islands.Islands`): seconds for the 4000 islands of N = 64.
    """
    pads, everything = gf.kdb.Region(), gf.kdb.Region()
    layer_index = component.kcl.layer(*layer)
    it = component.kdb_cell.begin_shapes_rec(layer_index)
    while not it.at_end():
        shape = it.shape()
        if shape.is_box() or shape.is_polygon() or shape.is_path():
            poly = shape.polygon.transformed(it.trans())
            everything.insert(poly)
            if component.kcl.layout.cell(it.cell_index()).name.startswith("pad"):
                pads.insert(poly)
        it.next()
    contacts = gf.kdb.Region(component.kdb_cell.begin_shapes_rec(component.kcl.layer(*contact_layer))).merged()
    islands = Islands(component, layer, region=everything)
    pads_on = defaultdict(int)
    for pad in pads.merged().each():
        for i in islands.touching(pad):
            pads_on[i] += 1
    contacted: set[int] = set()
    for contact in steps(contacts.each(), "metal: device contacts", contacts.count()):
        contacted |= islands.touching(contact)
    errors = []
    dbu = component.kcl.dbu
    for i, island in enumerate(islands.polygons):
        box = island.bbox()
        where = f"metal island at ({box.center().x * dbu:.1f}, {box.center().y * dbu:.1f}) µm"
        missing = [what for what, ok in (("pad", pads_on[i] > 0), ("device contact", i in contacted)) if not ok]
        if missing:
            errors.append(f"{where} reaches no {' and no '.join(missing)}")
        if pads_on[i] > 1:
            errors.append(f"{where} joins {pads_on[i]} pads (a short)")
    return errors
