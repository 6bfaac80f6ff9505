"""numpy simulation of one extracted mesh layer: the layout's own graph, element by element, at the driven phases.

The fast engine of ``verify`` (the sax netlist of :mod:`.simulate` stays as its cross-check). It walks the
extracted connectivity (``LayerCircuit``: elements, routes with their measured lengths, sources and sinks) in
topological order and applies each element's 2x2 (an MZI) or 1x1 (a screen heater) to the N input columns at
once; nothing is taken from the run's MeshSpec, so a swapped route, a heater on the wrong pad or a drawn arm of
another length changes the result. The device models are the sax ones of ``components.models`` written out in
numpy (equal to 1e-12): waveguide (neff linear in wl with group index ng, loss in dB/cm), heater
e^{i phase wl0 / wl}, 2x2 MMI crossing ``mmi_coupling(0.5, wl)``; with ``cell_paths`` an MZI is its drawn
leads, phi heater, input MMI, theta heater and arms, output MMI and fans, a screen heater its heater + through path.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ffzero_photonics.layouts.extract import LayoutExtraction
from ffzero_photonics.layouts.progress import steps
from ffzero_photonics.photonic.netlist import WL0

__all__ = ["NotFeedForward", "LayerPlan", "layer_plan", "propagate_layer"]

_MMI_T0 = math.asin(math.sqrt(0.5))
_CROSS_PHASE = np.exp(1j * np.pi / 2)  # simphony's ideal coupler: cross = sqrt(k) e^{i pi / 2}
_NO_PATHS = {"in_up": 0.0, "in_lo": 0.0, "arm_up": 0.0, "arm_lo": 0.0, "out_up": 0.0, "out_lo": 0.0, "through": 0.0}
_INPUTS = {"mzi": ("o1", "o2"), "heater": ("o1",)}
_OUTPUTS = {"mzi": ("o3", "o4"), "heater": ("o2",)}


class NotFeedForward(ValueError):
    """The extracted layer is not a feed-forward graph from inputs to outputs (a route into an output, a loop):
    only the sax netlist simulates it."""


@dataclass
class LayerPlan:
    """One extracted layer in evaluation order: elements (name, kind), where each output goes, sources and sinks."""

    order: list[tuple[str, str]]
    targets: dict[str, tuple[str, float]]  # element output node -> (element input node, route length µm)
    sources: list[tuple[int, str, float]]  # (input k, element input node, length)
    sinks: list[tuple[int, str, float]]  # (output k, element output node, length)
    n_ports: int


def layer_plan(extraction: LayoutExtraction, layer: int) -> LayerPlan:
    """The :class:`LayerPlan` of ``layer``; :class:`NotFeedForward` when a route or port breaks the in -> out direction."""
    circ = extraction.layers[layer]
    kinds = {name: extraction.kinds[name] for name in circ.elements}

    def split(node: str, want: str) -> str | None:
        inst, port = node.split(",")
        if inst not in kinds:
            return None
        if port not in (_INPUTS if want == "in" else _OUTPUTS)[kinds[inst]]:
            raise NotFeedForward(f"{node} is used as an element {want}put")
        return inst

    feeds: dict[str, set[str]] = {name: set() for name in kinds}
    targets: dict[str, tuple[str, float]] = {}
    for a, (b, length) in circ.routes.items():
        src, dst = split(a, "out"), split(b, "in")
        if src is None or dst is None:
            continue
        targets[a] = (b, length)
        feeds[dst].add(src)
    sources = [(k, s, length) for k, (s, length) in enumerate(zip(circ.sources, circ.source_lengths))
               if s is not None and split(s, "in") is not None]
    sinks = [(k, s, length) for k, (s, length) in enumerate(zip(circ.sinks, circ.sink_lengths))
             if s is not None and split(s, "out") is not None]
    order: list[tuple[str, str]] = []
    waiting = {name: len(up) for name, up in feeds.items()}
    users: dict[str, list[str]] = {name: [] for name in kinds}
    for dst, ups in feeds.items():
        for src in ups:
            users[src].append(dst)
    ready = [name for name in circ.elements if waiting[name] == 0]
    while ready:
        name = ready.pop(0)
        order.append((name, kinds[name]))
        for nxt in users[name]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                ready.append(nxt)
    if len(order) != len(kinds):
        raise NotFeedForward(f"the routes of layer {layer} form a loop through {len(kinds) - len(order)} elements")
    return LayerPlan(order, targets, sources, sinks, extraction.n_ports)


def _waveguide(length: float, wl: float, neff: float, ng: float, loss_dB_cm: float) -> complex:
    n = neff - (wl - WL0) * (ng - neff) / WL0
    alpha = loss_dB_cm / (10 * math.log10(math.e)) * 1e-4
    return math.exp(-alpha * length / 2) * np.exp(1j * 2 * math.pi * n * length / wl)


def propagate_layer(
    extraction: LayoutExtraction,
    layer: int,
    drive: dict[tuple[str, str], float],
    *,
    routes: bool,
    wl: float = WL0,
    neff: float = 2.34,
    ng: float = 3.4,
    loss_dB_cm: float = 0.0,
    cell_paths: dict[str, dict[str, float]] | None = None,
    plan: LayerPlan | None = None,
) -> np.ndarray:
    """U[out, in] (N, N) of one extracted layer at the driven phases: same arguments and result as ``simulate_layer``.

    ``routes=False`` puts the routes (not the cells' own waveguides) at length 0; ``plan`` skips the graph sort.
    """
    plan = layer_plan(extraction, layer) if plan is None else plan
    n = plan.n_ports

    def wg(length: float, is_route: bool) -> complex:
        return _waveguide(length if routes or not is_route else 0.0, wl, neff, ng, loss_dB_cm)

    c = math.sin(_MMI_T0 * wl / WL0) ** 2
    bar, cross = math.sqrt(1 - c), math.sqrt(c) * _CROSS_PHASE
    heat = 1j * WL0 / wl
    fields: dict[str, np.ndarray] = {}

    def feed(node: str, field: np.ndarray) -> None:
        fields[node] = fields[node] + field if node in fields else field

    for k, node, length in plan.sources:
        unit = np.zeros(n, dtype=complex)
        unit[k] = wg(length, True)
        feed(node, unit)
    zero = np.zeros(n, dtype=complex)
    outputs: dict[str, np.ndarray] = {}
    items: Iterable[tuple[str, str]] = steps(plan.order, f"verify: layer {layer} elements")
    for name, kind in items:
        p = cell_paths[name] if cell_paths is not None else _NO_PATHS
        phi = np.exp(heat * drive.get((name, "phi"), 0.0))
        if kind == "heater":
            out = {"o2": fields.pop(f"{name},o1", zero) * (phi * wg(p["through"], False))}
        else:
            theta = np.exp(heat * drive.get((name, "theta"), 0.0))
            up = fields.pop(f"{name},o2", zero) * (wg(p["in_up"], False) * phi)
            lo = fields.pop(f"{name},o1", zero) * wg(p["in_lo"], False)
            up, lo = (bar * up + cross * lo) * (theta * wg(p["arm_up"], False)), (cross * up + bar * lo) * wg(p["arm_lo"], False)
            out = {"o3": (bar * up + cross * lo) * wg(p["out_up"], False), "o4": (cross * up + bar * lo) * wg(p["out_lo"], False)}
        for port, field in out.items():
            node = f"{name},{port}"
            if node in plan.targets:
                target, length = plan.targets[node]
                feed(target, field * wg(length, True))
            else:
                outputs[node] = field
    u = np.zeros((n, n), dtype=complex)
    for k, node, length in plan.sinks:
        u[k] = outputs.get(node, zero) * wg(length, True)
    return u
