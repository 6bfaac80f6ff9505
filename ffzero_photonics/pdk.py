"""The project as a gdsfactory PDK: its cells, and under the same names their sax models.

``PDK.activate()`` lets a user place the mesh cells in their own layouts
(``gf.get_component("ffzero_heater_mzi")``) and simulate them with sax straight
from the layout's netlist::

    import ffzero_photonics.pdk as fp
    fp.PDK.activate()
    c = ...  # a layout built from PDK cells
    circuit, _ = sax.circuit(fp.optical_netlist(c.get_netlist()), models=fp.PDK.models)

A polite plugin: the PDK extends gdsfactory's generic PDK (its layers,
cross-sections and cells are what the project cells are drawn with) and adds
only names of its own (``ffzero_*``): every project cell, and a model under the
cell's name (or the cell is listed in :data:`LAYOUT_ONLY`) -- the EO activation,
coherent input and photodetector cells with the models their drawings simulate to
(``components.cell_models``) -- plus the device models ``ffzero_mzi``,
``ffzero_heater``, ``ffzero_coupler``, ``ffzero_mmi2x2``, ``ffzero_waveguide``. No gdsfactory cell gets a model from activating it.
Routing primitives (:data:`ROUTE_CELLS`) without a model of their own are
simulated by :func:`optical_netlist` as ``ffzero_waveguide`` of their routed
length. The PDK lives above ``components`` and ``layouts`` because its
``ffzero_mesh`` cell is a whole mesh layout.
"""

from __future__ import annotations

import functools
import inspect
import re
from functools import cache

import gdsfactory as gf
import jax.numpy as jnp
import sax
from gdsfactory.component import Component

from ffzero_photonics import __version__
from ffzero_photonics.components import cell_models as _cell_models
from ffzero_photonics.components import cells as _cells
from ffzero_photonics.components import models as _models
from ffzero_photonics.components.activation_cell import ffzero_eo_activation
from ffzero_photonics.components.input_cells import ffzero_coherent_input
from ffzero_photonics.errors import UserInputError
from ffzero_photonics.layouts.mesh_layout import mesh_layout
from ffzero_photonics.photonic.compiled import CompiledMesh
from ffzero_photonics.photonic.mesh_spec import build_mesh
from ffzero_photonics.photonic.netlist import compiled_at_wavelength

__all__ = [
    "CELLS",
    "LAYOUT_ONLY",
    "MODELS",
    "PDK",
    "ROUTE_CELLS",
    "cell_optical_ports",
    "ffzero_mesh",
    "io_coupler_model",
    "mesh_model",
    "model_ports",
    "optical_netlist",
]


@gf.cell
def ffzero_mesh(topology: str = "clements", n_ports: int = 4, coupler: str = "grating", wiring: str = "auto") -> Component:
    """An N-port mesh (``layouts.mesh_layout``: MZIs, screen, heater pads) with its fibre ports as ``in{k}``/``out{k}``.

    The ports are the IO couplers' fibre ports (grating: vertical, edge: facet);
    ``info`` records topology and N so the ``ffzero_mesh`` model picks them up from a netlist.
    """
    spec = build_mesh(topology, n_ports)
    c = Component()
    ref = c << mesh_layout(spec, coupler=coupler, wiring=wiring)
    layout = ref.cell
    for k in range(n_ports):
        for side in ("in", "out"):
            port = layout.insts[f"{side}{k}"].ports["fiber"]
            c.add_port(f"{side}{k}", port=port)
    c.info["topology"] = topology
    c.info["n_ports"] = n_ports
    c.info["n_heaters"] = spec.n_params
    return c


def mesh_model(
    *,
    wl: float = 1.55,
    topology: str = "clements",
    n_ports: int = 4,
    phases=None,
    coupling: float = 0.5,
    mzi_loss_dB: float = 0.0,
) -> sax.SDict:
    """A whole mesh on ports ``in{k}``/``out{k}``: ``phases`` (MeshSpec order, set at 1.55 um, default all zero) -> U[out, in].

    Evaluated with the compiled mesh (jax, differentiable in ``phases``) at the scalar
    wavelength ``wl``: heater phases scale as 1.55 / wl and the MMIs split as
    ``models.mmi_coupling`` (``photonic.netlist.compiled_at_wavelength``). ``topology`` and
    ``n_ports`` are static. Routes and IO couplers are ideal.
    """
    spec = build_mesh(str(topology), int(n_ports))
    params = jnp.zeros(spec.n_params) if phases is None else jnp.asarray(phases, dtype=float)
    if params.shape != (spec.n_params,):
        raise UserInputError(f"phases must have shape ({spec.n_params},) for a {topology} mesh with N={n_ports}, got {params.shape}")
    if jnp.ndim(wl) != 0:
        raise UserInputError(f"ffzero_mesh takes one wavelength per call, got wl of shape {jnp.shape(wl)}")
    scale, kwargs = compiled_at_wavelength(spec, 1.0, float(wl), coupling=float(coupling))
    u = _compiled(spec.topology, spec.n_ports, float(kwargs["coupling"][0, 0]), float(mzi_loss_dB)).unitary_jax(params * scale)
    n = spec.n_ports
    return sax.reciprocal({(f"in{i}", f"out{o}"): u[o, i] for i in range(n) for o in range(n)})


@cache
def _compiled(topology: str, n_ports: int, coupling: float, mzi_loss_dB: float) -> CompiledMesh:
    return CompiledMesh(build_mesh(topology, n_ports), coupling=coupling, mzi_loss_dB=mzi_loss_dB)


def io_coupler_model(*, wl: float = 1.55, loss_dB: float = 0.0) -> sax.SDict:
    """Fibre coupler (grating or edge): chip waveguide ``o1`` <-> ``fiber`` with insertion loss ``loss_dB``."""
    ones = jnp.ones_like(jnp.asarray(wl, dtype=float))
    return sax.reciprocal({("o1", "fiber"): 10 ** (-loss_dB / 20) * ones})


CELLS: dict = {
    "ffzero_heater_mzi": _cells.ffzero_heater_mzi,
    "ffzero_phase_screen_heater": _cells.ffzero_phase_screen_heater,
    "ffzero_eo_activation": ffzero_eo_activation,
    "ffzero_coherent_input": ffzero_coherent_input,
    "ffzero_photodetector": _cells.ffzero_photodetector,
    "ffzero_io_coupler": _cells.ffzero_io_coupler,
    "ffzero_pad": _cells.ffzero_pad,
    "ffzero_mesh": ffzero_mesh,
}
"""The project's cells by PDK name, which is also each cell's function name (what a netlist calls it)."""

LAYOUT_ONLY: tuple[str, ...] = ("ffzero_pad",)
"""Cells without optical ports, hence without a sax model."""

MODELS: dict = {
    "ffzero_heater_mzi": _models.mzi,
    "ffzero_phase_screen_heater": _models.heater,
    "ffzero_eo_activation": _cell_models.eo_activation_model,
    "ffzero_coherent_input": _cell_models.coherent_input_model,
    "ffzero_photodetector": _cell_models.photodiode,
    "ffzero_io_coupler": io_coupler_model,
    "ffzero_mesh": mesh_model,
    **{f"ffzero_{name}": model for name, model in _models.MODELS.items()},
}
"""Cell name -> sax model, and the device models ``ffzero_mzi``, ``ffzero_heater``, ``ffzero_coupler``, ``ffzero_mmi2x2``,
``ffzero_waveguide``."""

ROUTE_CELLS: tuple[str, ...] = ("straight", "bend_euler", "bend_circular", "bend_s")
"""gdsfactory routing primitives :func:`optical_netlist` simulates as ``ffzero_waveguide`` when no model of theirs is given."""


def _build_pdk() -> gf.Pdk:
    generic = gf.gpdk.PDK
    return gf.Pdk(
        name="ffzero",
        version=__version__,
        cells=dict(CELLS),
        models=dict(MODELS),
        cross_sections={
            "strip": generic.cross_sections["strip"],
            "metal_routing": generic.cross_sections["metal_routing"],
        },
        base_pdks=[generic],
        layers=generic.layers,
        layer_stack=generic.layer_stack,
        layer_views=generic.layer_views,
        layer_transitions=generic.layer_transitions,
        constants=generic.constants,
        materials_index=generic.materials_index,
        routing_strategies=generic.routing_strategies,
        connectivity=generic.connectivity,
    )


PDK: gf.Pdk = _build_pdk()
"""The ffzero PDK: generic layers / cross-sections / cells, plus the project's cells and models."""

_OPTICAL_PORT = re.compile(r"o\d+|in\d+|out\d+|fiber")


def optical_netlist(netlist: dict, models: dict | None = None) -> dict:
    """A gdsfactory netlist reduced to what sax simulates: modelled instances and their optical nets and ports.

    Instances without a model (pads, wires) and nets or ports on electrical
    ports (``theta``, ``phi``, ``e1``, ...) are dropped; an optical port of an
    unmodelled instance is an error naming it. Routing primitives
    (:data:`ROUTE_CELLS`) without a model in ``models`` become ``ffzero_waveguide``
    instances of their routed length (``info["length"]``). ``ffzero_mesh``
    instances become ``ffzero_mesh_{topology}_{N}``, registered in ``models`` on
    first use (sax fixes a model's ports from its defaults); ``ffzero_coherent_input`` likewise per N.
    Activation and coherent-input instances carry their drawn route length (``info["path_length_um"]``).
    """
    models = PDK.models if models is None else models
    instances = netlist.get("instances", {})
    keep = {name for name, inst in instances.items() if _component(inst) in models or _is_route(inst, models)}

    def optical(node: str) -> bool:
        inst, _, port = node.partition(",")
        if not _OPTICAL_PORT.fullmatch(port):
            return False
        if inst not in keep:
            raise UserInputError(f"optical port {node!r} belongs to a {_component(instances.get(inst, '?'))!r} instance with no model")
        return True

    out = {"instances": {k: _specialize(v, models) for k, v in instances.items() if k in keep}}
    if "nets" in netlist:
        out["nets"] = [n for n in netlist["nets"] if optical(n["p1"]) and optical(n["p2"])]
    if "connections" in netlist:
        out["connections"] = {a: b for a, b in netlist["connections"].items() if optical(a) and optical(b)}
    out["ports"] = {k: v for k, v in netlist.get("ports", {}).items() if optical(v)}
    if "placements" in netlist:
        out["placements"] = {k: v for k, v in netlist["placements"].items() if k in keep}
    return out


def _is_route(inst, models: dict) -> bool:
    return _component(inst) in ROUTE_CELLS and _component(inst) not in models


_DRAWN_CELL_MODELS = {"ffzero_eo_activation": _cell_models.eo_activation_model,
                      "ffzero_coherent_input": _cell_models.coherent_input_model}


def _drawn_cell(inst, models: dict):
    """An activation / coherent-input instance with its drawn route length (``info``) and, for the input, its N fixed."""
    settings = dict(inst.get("settings", {}))
    model = _DRAWN_CELL_MODELS[_component(inst)]
    accepted = inspect.signature(model).parameters
    kept = {k: v for k, v in settings.items() if k in accepted}
    kept["path_length_um"] = float(inst.get("info", {}).get("path_length_um", 0.0))
    if _component(inst) != "ffzero_coherent_input":
        return {**inst, "settings": kept}
    n = int(kept.pop("n_ports", 4))
    name = f"ffzero_coherent_input_{n}"
    if name not in models:
        models[name] = functools.partial(model, n_ports=n)
    return {**inst, "component": name, "settings": kept}


def _specialize(inst, models: dict):
    """A routing primitive as a waveguide of its length; an ``ffzero_mesh`` as a per-(topology, N) model; drawn cells
    with their route lengths."""
    if _is_route(inst, models):
        length = float(inst.get("info", {}).get("length", 0.0)) if isinstance(inst, dict) else 0.0
        return {"component": "ffzero_waveguide", "settings": {"length": length}}
    if isinstance(inst, dict) and _component(inst) in _DRAWN_CELL_MODELS and models.get(_component(inst)) is _DRAWN_CELL_MODELS[_component(inst)]:
        return _drawn_cell(inst, models)
    if _component(inst) != "ffzero_mesh":
        return inst
    settings = dict(inst.get("settings", {}))
    topology, n_ports = str(settings.get("topology", "clements")), int(settings.get("n_ports", 4))
    name = f"ffzero_mesh_{topology}_{n_ports}"
    if name not in models:
        models[name] = functools.partial(mesh_model, topology=topology, n_ports=n_ports)
    return {**inst, "component": name}


def _component(inst) -> str:
    return inst["component"] if isinstance(inst, dict) else str(inst)


def model_ports(name: str, **settings) -> set[str]:
    """Port names of the model registered as ``name``, evaluated at its defaults updated by ``settings``."""
    if name not in PDK.models:
        raise KeyError(f"the ffzero PDK has no model {name!r}; models: {', '.join(sorted(PDK.models))}")
    return {p for pair in PDK.models[name](**settings) for p in pair}


_NON_OPTICAL_PORT_TYPES = frozenset({"electrical", "electrical_rf", "pad", "placement", "dc"})


def cell_optical_ports(component: Component) -> set[str]:
    """Names of a component's optical ports (waveguide, vertical fibre, edge facet): what its model must cover."""
    return {p.name for p in component.ports if p.port_type not in _NON_OPTICAL_PORT_TYPES}

