"""A whole MZI mesh as a sax netlist, and its unitary evaluated by sax at any wavelength.

This is the reference ("circuit is data") path: slow but built from the same
device models a layout would use (MZIs of 2x2 MMIs, heaters, routed waveguides,
all functions of ``wl``). :mod:`ffzero_photonics.photonic.compiled` is the fast
path and must agree with it; :func:`compiled_at_wavelength` gives it the same
wavelength.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Mapping

import jax
import numpy as np
import sax

from ffzero_photonics.components.models import MODELS, mmi_coupling
from ffzero_photonics.photonic.compiled import per_coupler, per_mzi, route_kwargs
from ffzero_photonics.photonic.mesh_spec import MeshSpec

__all__ = ["compiled_at_wavelength", "mesh_netlist", "mesh_settings", "netlist_unitary", "mesh_circuit"]

WL0 = 1.55

BACKEND = "klu"


def mesh_netlist(spec: MeshSpec, *, with_waveguides: bool = False) -> dict:
    """sax netlist of ``spec``: one ``mzi`` per site, a ``heater`` screen, ports ``in{k}``/``out{k}``.

    MZI instances are named ``site.name`` (upper mesh port -> MZI o2/o3, lower
    -> o1/o4), screen heaters ``screen_p{k}``. A port that skips a column runs
    straight to its next element. With ``with_waveguides``, every link between
    two consecutive elements on port p gets a ``waveguide`` named
    ``wg_p{p}_c{col}``, ``col`` being the column of the downstream element
    (``spec.n_columns`` for the screen); their length defaults to 0 so the
    unrouted netlist is the ideal mesh, and post-layout code sets real lengths.
    """
    instances: dict[str, dict] = {}
    connections: dict[str, str] = {}
    inputs: dict[int, str] = {}
    drivers: dict[int, str] = {}

    def feed(port: int, column: int, dest: str) -> None:
        src = drivers.get(port)
        if src is None:
            inputs[port] = dest
            return
        if with_waveguides:
            wg = f"wg_p{port}_c{column}"
            instances[wg] = {"component": "waveguide", "settings": {"length": 0.0}}
            connections[src] = f"{wg},o1"
            src = f"{wg},o2"
        connections[src] = dest

    for column in spec.columns():
        for site in column:
            r, name = site.row, site.name
            instances[name] = {"component": "mzi"}
            feed(r, site.column, f"{name},o2")
            feed(r + 1, site.column, f"{name},o1")
            drivers[r], drivers[r + 1] = f"{name},o3", f"{name},o4"

    outputs: dict[int, str] = {}
    for k in range(spec.n_ports):
        name = f"screen_p{k}"
        instances[name] = {"component": "heater"}
        feed(k, spec.n_columns, f"{name},o1")
        outputs[k] = f"{name},o2"

    ports = {f"in{k}": inputs[k] for k in range(spec.n_ports)}
    ports |= {f"out{k}": outputs[k] for k in range(spec.n_ports)}
    return {"instances": instances, "connections": connections, "ports": ports}


def mesh_settings(
    spec: MeshSpec,
    params,
    *,
    coupling=0.5,
    mzi_loss_dB=0.0,
    wl: float = 1.55,
    with_waveguides: bool | None = None,
    waveguides: Mapping[str, Mapping] | None = None,
) -> dict:
    """Per-instance sax settings for a parameter vector (MeshSpec order).

    ``coupling`` is a scalar, one value per MZI (n_mzis,) or one per coupler
    (n_mzis, 2) = (input, output); ``mzi_loss_dB`` a scalar or (n_mzis,).
    With ``with_waveguides`` (default: whether ``waveguides`` is given),
    ``waveguides`` maps ``wg_p{p}_c{col}`` names to waveguide settings (e.g.
    ``{"length": 12.3}``); unnamed ones have length 0.
    """
    params = np.asarray(params, dtype=float)
    if params.shape != (spec.n_params,):
        raise ValueError(f"params must have shape ({spec.n_params},), got {params.shape}")
    theta, phi, screen = spec.split_params(params)
    cpl = per_coupler(coupling, spec.n_mzis)
    loss = per_mzi(mzi_loss_dB, spec.n_mzis, "mzi_loss_dB")
    settings: dict[str, dict] = {}
    for i, site in enumerate(spec.mzis):
        settings[site.name] = {
            "wl": wl,
            "theta": float(theta[i]),
            "phi": float(phi[i]),
            "coupling": float(cpl[i, 0]),
            "coupling_out": float(cpl[i, 1]),
            "loss_dB": float(loss[i]),
        }
    for k in range(spec.n_ports):
        settings[f"screen_p{k}"] = {"wl": wl, "phase": float(screen[k])}
    waveguides = dict(waveguides or {})
    if with_waveguides is None:
        with_waveguides = bool(waveguides)
    if waveguides and not with_waveguides:
        raise ValueError(f"waveguide settings given for a mesh without waveguides: {sorted(waveguides)!r}")
    if with_waveguides:
        names = [k for k in mesh_netlist(spec, with_waveguides=True)["instances"] if k.startswith("wg_")]
        unknown = sorted(set(waveguides) - set(names))
        if unknown:
            raise ValueError(f"no such waveguides in this mesh: {unknown!r}")
        for name in names:
            settings[name] = {"wl": wl, "length": 0.0, **waveguides.get(name, {})}
    return settings


@lru_cache(maxsize=32)
def _cached_circuit(topology: str, n_ports: int, mzis: tuple, with_waveguides: bool, jit: bool):
    if jit:
        return jax.jit(_cached_circuit(topology, n_ports, mzis, with_waveguides, False))
    spec = MeshSpec(topology, n_ports, mzis)
    circuit, _ = sax.circuit(
        mesh_netlist(spec, with_waveguides=with_waveguides), models=MODELS, backend=BACKEND
    )
    return circuit


def mesh_circuit(spec: MeshSpec, *, with_waveguides: bool = False, jit: bool = False):
    """sax circuit function of ``spec``'s netlist, cached per (topology, N, waveguides, jit).

    Eager by default: jitting the whole mesh circuit costs seconds (N=4) to
    minutes (N>=16) of compile time, which only pays off over many evaluations.
    """
    return _cached_circuit(spec.topology, spec.n_ports, spec.mzis, with_waveguides, jit)


def netlist_unitary(
    spec: MeshSpec,
    params,
    *,
    with_waveguides: bool | None = None,
    coupling=0.5,
    mzi_loss_dB=0.0,
    wl: float = 1.55,
    waveguides: Mapping[str, Mapping] | None = None,
    jit: bool = False,
) -> np.ndarray:
    """Transfer matrix U[out, in] (N, N) of the mesh evaluated by sax from its netlist.

    Settings as in :func:`mesh_settings`; ``jit`` as in :func:`mesh_circuit`. Evaluated in float64
    (``jax.enable_x64``) whatever the global jax flag.
    """
    if with_waveguides is None:
        with_waveguides = bool(waveguides)
    settings = mesh_settings(
        spec,
        params,
        coupling=coupling,
        mzi_loss_dB=mzi_loss_dB,
        wl=wl,
        with_waveguides=with_waveguides,
        waveguides=waveguides,
    )
    with jax.enable_x64(True):
        sdict = mesh_circuit(spec, with_waveguides=with_waveguides, jit=jit)(**settings)
        dense, port_map = sax.sdense(sdict)
        dense = np.asarray(dense)
    n = spec.n_ports
    idx_in = [port_map[f"in{k}"] for k in range(n)]
    idx_out = [port_map[f"out{k}"] for k in range(n)]
    return dense[np.ix_(idx_in, idx_out)].T.astype(complex)


def compiled_at_wavelength(
    spec: MeshSpec,
    params,
    wl: float,
    *,
    wl0: float = WL0,
    coupling=0.5,
    lengths_um=None,
    neff: float = 2.34,
    ng: float = 3.4,
    loss_dB_cm: float = 0.0,
) -> tuple[np.ndarray, dict]:
    """(params, ``CompiledMesh`` keyword arguments) under which the compiled mesh equals this netlist at ``wl``.

    Heater phases set at ``wl0`` scale as wl0 / wl; MMI couplings (``coupling`` at ``wl0``,
    scalar, (n_mzis,) or (n_mzis, 2)) follow ``models.mmi_coupling``; routes of
    ``lengths_um`` (``wg_p{p}_c{col}`` names or (n_columns + 1, N)) add their phase and loss at ``wl``.
    """
    if not (np.isfinite(wl) and wl > 0 and np.isfinite(wl0) and wl0 > 0):
        raise ValueError(f"wavelengths must be positive, got wl={wl!r}, wl0={wl0!r}")
    scaled = np.asarray(params, dtype=float) * (wl0 / wl)
    couplings = np.asarray(mmi_coupling(per_coupler(coupling, spec.n_mzis), wl, wl0), dtype=float)
    kwargs = {"coupling": couplings}
    kwargs |= route_kwargs(spec, lengths_um, wl=wl, wl0=wl0, neff=neff, ng=ng, loss_dB_cm=loss_dB_cm)
    return scaled, kwargs
