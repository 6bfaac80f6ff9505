"""sax simulation of one extracted mesh layer at the phases its heater table drives: the cross-check of :mod:`.propagate`.

The whole layer is one sax netlist (12,485 instances for N = 64 with the drawn cells: ~100 s and ~3.7 GB to
compile), which is why ``verify`` runs it only up to N = 25 unless asked (``engine="sax"``).

Trusted from the design: the device models (a heater MZI is the ideal MZI
T(theta, phi) of ``components.models.mzi``, a screen heater e^{i phase}, a
route a waveguide of neff/ng). The propagation phase inside element cells is
modelled only when ``cell_paths`` (``paths.cell_paths``: each cell's drawn leads and arms) is given:
an MZI is then drawn as its MMIs, heaters and waveguides, a screen heater as heater + waveguide.
"""

from __future__ import annotations

import jax
import numpy as np
import sax

from ffzero_photonics.components.models import heater, mmi2x2, mzi, waveguide
from ffzero_photonics.layouts.extract import LayoutExtraction

__all__ = ["layer_netlist", "simulate_layer"]

_SAX_CIRCUITS: dict = {}


def layer_netlist(extraction: LayoutExtraction, layer: int,
                  cell_paths: dict[str, dict[str, float]] | None = None) -> tuple[dict, dict[str, str], dict[str, float]]:
    """sax netlist of one extracted layer (devices ``mzi``/``heater``/``waveguide``), the element renaming and route lengths.

    Elements are renamed ``e{i}`` in breadth-first order from the inputs and
    routes ``w{i}`` / ``wi{k}`` / ``wo{k}`` (with their lengths in µm), so
    identical layers share one compiled sax circuit. With ``cell_paths`` each cell is expanded
    (:func:`_drawn_cell`) and its internal waveguides join the lengths.
    """
    circ = extraction.layers[layer]
    canon = {name: f"e{i}" for i, name in enumerate(circ.elements)}
    instances = {canon[n]: {"component": extraction.kinds[n]} for n in circ.elements}
    connections: dict[str, str] = {}
    ports: dict[str, str] = {}
    lengths: dict[str, float] = {}
    outer: dict[str, str] = {}
    if cell_paths is not None:
        for name in circ.elements:
            outer |= _drawn_cell(canon[name], extraction.kinds[name], cell_paths[name], instances, connections, lengths)

    def node(n: str) -> str | None:
        inst, port = n.split(",")
        return outer.get(f"{canon[inst]},{port}", f"{canon[inst]},{port}") if inst in canon else None

    routes = sorted((node(a), node(b), length) for a, (b, length) in circ.routes.items())
    for i, (a, b, length) in enumerate(routes):
        instances[f"w{i}"] = {"component": "waveguide"}
        connections[a] = f"w{i},o1"
        connections[f"w{i},o2"] = b
        lengths[f"w{i}"] = length
    for k, (src, length) in enumerate(zip(circ.sources, circ.source_lengths)):
        if src is not None and node(src) is not None:
            instances[f"wi{k}"] = {"component": "waveguide"}
            ports[f"in{k}"] = f"wi{k},o1"
            connections[f"wi{k},o2"] = node(src)
            lengths[f"wi{k}"] = length
    for k, (snk, length) in enumerate(zip(circ.sinks, circ.sink_lengths)):
        if snk is not None and node(snk) is not None:
            instances[f"wo{k}"] = {"component": "waveguide"}
            connections[node(snk)] = f"wo{k},o1"
            ports[f"out{k}"] = f"wo{k},o2"
            lengths[f"wo{k}"] = length
    return {"instances": instances, "connections": connections, "ports": ports}, canon, lengths


def _drawn_cell(c: str, kind: str, paths: dict[str, float], instances: dict, connections: dict, lengths: dict) -> dict[str, str]:
    """Replace element ``c`` by its drawn parts (waveguides of ``paths``); returns its outer port -> inner port."""
    if kind != "mzi":
        instances[f"{c}_t"] = {"component": "waveguide"}
        connections[f"{c},o2"] = f"{c}_t,o1"
        lengths[f"{c}_t"] = paths["through"]
        return {f"{c},o2": f"{c}_t,o2"}
    del instances[c]
    parts = {"ps_ext": "heater", "ps_int": "heater", "cp_in": "mmi2x2", "cp_out": "mmi2x2"}
    for wg, key in (("iu", "in_up"), ("il", "in_lo"), ("au", "arm_up"), ("al", "arm_lo"), ("ou", "out_up"), ("ol", "out_lo")):
        parts[wg] = "waveguide"
        lengths[f"{c}_{wg}"] = paths[key]
    instances.update({f"{c}_{k}": {"component": v} for k, v in parts.items()})
    links = (("iu,o2", "ps_ext,o1"), ("ps_ext,o2", "cp_in,o2"), ("il,o2", "cp_in,o1"), ("cp_in,o3", "ps_int,o1"),
             ("ps_int,o2", "au,o1"), ("au,o2", "cp_out,o2"), ("cp_in,o4", "al,o1"), ("al,o2", "cp_out,o1"),
             ("cp_out,o3", "ou,o1"), ("cp_out,o4", "ol,o1"))
    connections.update({f"{c}_{a}": f"{c}_{b}" for a, b in links})
    return {f"{c},o1": f"{c}_il,o1", f"{c},o2": f"{c}_iu,o1", f"{c},o3": f"{c}_ou,o2", f"{c},o4": f"{c}_ol,o2"}


def _circuit(netlist: dict):
    """The sax circuit of ``netlist``, compiled once per distinct layer netlist (at most 17 kept)."""
    key = repr((sorted(netlist["instances"].items()), sorted(netlist["connections"].items()), sorted(netlist["ports"].items())))
    if key not in _SAX_CIRCUITS:
        if len(_SAX_CIRCUITS) > 16:
            _SAX_CIRCUITS.clear()
        circuit, _ = sax.circuit(
            netlist, models={"mzi": mzi, "heater": heater, "waveguide": waveguide, "mmi2x2": mmi2x2}, backend="klu",
            ignore_missing_ports=True,
        )
        _SAX_CIRCUITS[key] = circuit
    return _SAX_CIRCUITS[key]


def simulate_layer(
    extraction: LayoutExtraction,
    layer: int,
    drive: dict[tuple[str, str], float],
    *,
    routes: bool,
    wl: float = 1.55,
    neff: float = 2.34,
    ng: float = 3.4,
    loss_dB_cm: float = 0.0,
    cell_paths: dict[str, dict[str, float]] | None = None,
) -> np.ndarray:
    """U[out, in] (N, N) of one extracted layer, by sax in float64, at the driven phases; routes at their length or at 0.

    ``cell_paths`` (instance -> drawn internal lengths, ``paths.cell_paths``) adds each cell's own waveguides.
    """
    netlist, canon, lengths = layer_netlist(extraction, layer, cell_paths)
    settings: dict[str, dict] = {}
    for name, c in canon.items():
        if extraction.kinds[name] == "mzi" and cell_paths is not None:
            settings[f"{c}_ps_int"] = {"phase": drive.get((name, "theta"), 0.0), "wl": wl}
            settings[f"{c}_ps_ext"] = {"phase": drive.get((name, "phi"), 0.0), "wl": wl}
            settings[f"{c}_cp_in"] = settings[f"{c}_cp_out"] = {"wl": wl}
        elif extraction.kinds[name] == "mzi":
            settings[c] = {"theta": drive.get((name, "theta"), 0.0), "phi": drive.get((name, "phi"), 0.0), "wl": wl}
        else:
            settings[c] = {"phase": drive.get((name, "phi"), 0.0), "wl": wl}
    for wg, length in lengths.items():
        inside = cell_paths is not None and not wg.startswith("w")
        settings[wg] = {"wl": wl, "neff": neff, "ng": ng, "loss_dB_cm": loss_dB_cm, "length": length if routes or inside else 0.0}
    with jax.enable_x64(True):
        dense, port_map = sax.sdense(_circuit(netlist)(**settings))
        dense = np.asarray(dense)
    n = extraction.n_ports
    u = np.zeros((n, n), dtype=complex)
    for i in range(n):
        for o in range(n):
            if f"in{i}" in port_map and f"out{o}" in port_map:
                u[o, i] = dense[port_map[f"in{i}"], port_map[f"out{o}"]]
    return u
