"""A trained photonic run to a tape-out bundle whose heater table makes the routed layout compute what was trained.

The routed waveguides between MZI columns have unequal lengths; their phases
are absorbed exactly by the phi heaters and the output screen
(``compiled.compensate_route_phases``), so the exported table drives the real
layout, not an idealized route-free one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def layout_params(specs, params, **layout_kwargs) -> list[np.ndarray]:
    """Per-layer heater phases compensated for the route phases of the layout that ``export_chip`` draws."""
    from .layouts.mesh_layout import chip_layout, mesh_layout
    from .photonic.compiled import compensate_route_phases, route_phases_from_lengths
    from .verify import extract_layout, layout_route_lengths

    specs = list(specs)
    component = chip_layout(specs, **layout_kwargs) if len(specs) > 1 else mesh_layout(specs[0], **layout_kwargs)
    lengths = layout_route_lengths(extract_layout(component, n_layers=len(specs)), specs)
    return [
        compensate_route_phases(s, p, route_phases_from_lengths(length, s)[0])
        for s, p, length in zip(specs, params, lengths)
    ]


def export_run(run_dir, out_path, *, compensate_routes: bool = True, p_pi_mW: float = 20.0,
               resistance_ohm: float = 1000.0):
    """Write the GDS, heater table and preview of a trained photonic run; returns (ExportResult, compensated)."""
    from .layouts.export import export_chip
    from .run import load_run

    spec, _, model, _ = load_run(run_dir)
    if spec.model != "photonic" or not hasattr(model, "specs"):
        raise ValueError(f"run {run_dir} trained a {spec.model!r} model; only photonic runs have a layout")
    specs = list(model.specs)
    params = [model.get_params(l) for l in range(model.n_layers)]
    compensated = compensate_routes and getattr(model, "route_lengths", None) is None
    if compensated:
        params = layout_params(specs, params)
    result = export_chip(specs if len(specs) > 1 else specs[0], params if len(params) > 1 else params[0],
                         Path(out_path), p_pi_mW=p_pi_mW, resistance_ohm=resistance_ohm)
    return result, compensated
