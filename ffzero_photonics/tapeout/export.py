"""Tape-out bundle of a mesh, a chip or a trained run: GDS, heater drive table (CSV) and a PNG preview.

The routed waveguides between MZI columns have unequal lengths and every drawn cell has its own
(~710 µm through an MZI: leads, arms, fans); for a trained run their phases are absorbed exactly by the
theta and phi heaters and the output screen (:mod:`.paths`), so the exported table drives the drawn
layout, not an idealized path-free one. All files are written to temporaries and renamed only when every one
of them succeeded.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ffzero_photonics.errors import UserInputError
from ffzero_photonics.layouts.extract import extract_layout, pad_positions
from ffzero_photonics.layouts.mesh_layout import chip_layout, mesh_layout
from ffzero_photonics.layouts.preview import render_png
from ffzero_photonics.photonic.mesh_spec import MeshSpec
from ffzero_photonics.runs import load_run
from ffzero_photonics.tapeout.drawn_cells import run_activations
from ffzero_photonics.tapeout.heater_table import heater_rows, write_heater_table
from ffzero_photonics.tapeout.paths import compensated_params

__all__ = ["ExportResult", "export_chip", "export_run", "layout_params", "run_layout_fold"]


@dataclass(frozen=True)
class ExportResult:
    """Paths written by :func:`export_chip` and the size of the heater table."""

    gds_path: Path
    csv_path: Path
    png_path: Path
    n_heaters: int
    n_pads: int


def export_chip(
    specs: MeshSpec | Sequence[MeshSpec],
    params: Sequence | np.ndarray | None = None,
    out_path: str | os.PathLike = "chip.gds",
    *,
    p_pi_mW: float = 20.0,
    resistance_ohm: float = 1000.0,
    phase_range_rad: float | None = None,
    **layout_kwargs,
) -> ExportResult:
    """Write ``out_path`` (GDS), ``<stem>_heaters.csv`` and ``<stem>.png`` for a mesh or an L-layer chip.

    ``specs``: one MeshSpec (layout of :func:`mesh_layout`, unprefixed names) or
    a list (:func:`chip_layout`, ``L{l}_`` names). ``params``: one parameter
    vector per layer in MeshSpec order (a bare vector is accepted for a single
    MeshSpec); None leaves phase/power/voltage blank. ``layout_kwargs`` go to
    the layout function; ``phase_range_rad`` bounds the drives (a physical chip's heaters, see ``heater_rows``).
    """
    single = isinstance(specs, MeshSpec)
    spec_list = [specs] if single else list(specs)
    if not spec_list:
        raise UserInputError("export_chip needs at least one MeshSpec, got an empty list")
    layer_params = _check_params(spec_list, params, single)
    if not (math.isfinite(p_pi_mW) and p_pi_mW > 0):
        raise UserInputError(f"p_pi_mW must be positive, got {p_pi_mW!r}")
    if not (math.isfinite(resistance_ohm) and resistance_ohm > 0):
        raise UserInputError(f"resistance_ohm must be positive, got {resistance_ohm!r}")
    gds_path = Path(out_path)
    if gds_path.suffix.lower() != ".gds":
        raise UserInputError(f"out_path must end in .gds, got {str(out_path)!r}")
    if not gds_path.parent.exists():
        raise UserInputError(f"output directory {str(gds_path.parent)!r} does not exist")

    component = mesh_layout(spec_list[0], **layout_kwargs) if single else chip_layout(spec_list, **layout_kwargs)
    rows = heater_rows(component, spec_list, layer_params, prefixed=not single, p_pi_mW=p_pi_mW,
                       resistance_ohm=resistance_ohm, phase_range_rad=phase_range_rad)
    csv_path = gds_path.with_name(f"{gds_path.stem}_heaters.csv")
    png_path = gds_path.with_suffix(".png")

    temps: list[Path] = []
    try:
        tmp_gds = _temp(gds_path, temps)
        component.write_gds(gdspath=tmp_gds)
        tmp_csv = _temp(csv_path, temps)
        write_heater_table(tmp_csv, rows)
        tmp_png = _temp(png_path, temps)
        render_png(component, tmp_png, title=f"{gds_path.name}: {_describe(spec_list)}")
        mode = 0o666 & ~_umask()
        for tmp, final in ((tmp_gds, gds_path), (tmp_csv, csv_path), (tmp_png, png_path)):
            os.chmod(tmp, mode)
            os.replace(tmp, final)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
    return ExportResult(gds_path, csv_path, png_path, n_heaters=len(rows), n_pads=len(pad_positions(component)))


def _check_params(specs: list[MeshSpec], params, single: bool) -> list[np.ndarray] | None:
    if params is None:
        return None
    if single and np.ndim(params) == 1 and len(params) == specs[0].n_params:
        params = [params]
    if isinstance(params, np.ndarray) and params.ndim == 2:
        params = list(params)
    if not isinstance(params, (list, tuple)):
        raise UserInputError(f"params must be a list of one parameter vector per layer, got {type(params).__name__}")
    if len(params) != len(specs):
        raise UserInputError(f"params has {len(params)} layer vectors but the chip has {len(specs)} layers")
    out = []
    for layer, (spec, p) in enumerate(zip(specs, params)):
        arr = np.asarray(p, dtype=float)
        if arr.shape != (spec.n_params,):
            raise UserInputError(
                f"params for layer {layer} has shape {arr.shape}, expected ({spec.n_params},) "
                f"for a {spec.topology} mesh with N={spec.n_ports} ({spec.n_mzis} MZIs x 2 + {spec.n_ports} screen)"
            )
        if not np.all(np.isfinite(arr)):
            raise UserInputError(f"params for layer {layer} contains non-finite values")
        out.append(arr)
    return out


def _temp(final: Path, temps: list[Path]) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=final.suffix, dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    temps.append(tmp)
    return tmp


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _describe(specs: list[MeshSpec]) -> str:
    layers = ", ".join(f"{s.topology} N={s.n_ports}" for s in specs)
    return f"{len(specs)} layer{'s' if len(specs) > 1 else ''} ({layers})"


def layout_params(specs: Sequence[MeshSpec], params, *, trained_routes=None, **layout_kwargs) -> list[np.ndarray]:
    """Per-layer heater phases compensated for the routes AND cell paths of the layout :func:`export_chip` draws.

    ``trained_routes``: a chip trained with its route lengths (one (C + 1, N) array per layer) has those in ``params``.
    """
    specs = list(specs)
    component = chip_layout(specs, **layout_kwargs) if len(specs) > 1 else mesh_layout(specs[0], **layout_kwargs)
    return compensated_params(extract_layout(component, n_layers=len(specs)), specs, params,
                              trained_routes=trained_routes)


def export_run(
    run_dir: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    compensate_routes: bool = True,
    p_pi_mW: float | None = None,
    resistance_ohm: float | None = None,
    fold: int | None = None,
) -> tuple[ExportResult, bool]:
    """Write the GDS, heater table and preview of a trained photonic run; returns (ExportResult, compensated).

    The phases are compensated for the drawn routes and cells' own waveguides unless ``compensate_routes`` is False
    (a chip trained with its route lengths has those already: only the cells' paths are compensated). A
    multi-layer chip's activation cells tap the run's activation alpha. The heaters' P_pi and resistance default
    to 20 mW and 1 kOhm; a physical run's are its [heaters] table's and its drives stay in their bounded range.
    The layout is folded as the run's ``[chip] fold`` says (the heater positions it was trained with); a ``fold``
    given must agree.
    """
    spec, _, model, _ = load_run(run_dir)
    if spec.model != "photonic" or not hasattr(model, "specs"):
        raise UserInputError(f"run {run_dir} trained a {spec.model!r} model; only photonic runs have a layout")
    run_fold = run_layout_fold(spec)
    if fold is not None and fold != run_fold:
        raise UserInputError(f"fold = {fold!r} differs from the run's [chip] fold = {run_fold}: a trained run is "
                             "exported as it was trained (drop --fold)")
    heaters = _run_heaters(model, p_pi_mW, resistance_ohm)
    specs = list(model.specs)
    params = [model.get_params(l) for l in range(model.n_layers)]
    layout = {"tap_fraction": float(run_activations(model)[0].alpha)} if len(specs) > 1 else {}
    if run_fold != 1:
        layout["fold"] = run_fold
    if compensate_routes:
        params = layout_params(specs, params, trained_routes=getattr(model, "route_lengths", None), **layout)
    result = export_chip(
        specs if len(specs) > 1 else specs[0], params if len(params) > 1 else params[0], Path(out_path),
        **heaters, **layout,
    )
    return result, compensate_routes


def run_layout_fold(spec) -> int:
    """The ``[chip] fold`` a run's chip was trained with (1: flat)."""
    return int(spec.model_options.get("fold", 1))


def _run_heaters(model, p_pi_mW: float | None, resistance_ohm: float | None) -> dict:
    """Heater calibration of a run's table: the physical chip's [heaters] (a different one given is refused)."""
    physics = getattr(model, "physics", None)
    if physics is None:
        return {"p_pi_mW": 20.0 if p_pi_mW is None else p_pi_mW,
                "resistance_ohm": 1000.0 if resistance_ohm is None else resistance_ohm}
    h = physics.heaters
    for name, given, own in (("p_pi_mW", p_pi_mW, h.p_pi_mW), ("resistance_ohm", resistance_ohm, h.resistance_ohm)):
        if given is not None and given != own:
            raise UserInputError(f"{name} = {given!r} differs from the physical run's [heaters] {name} = {own!r}")
    return {"p_pi_mW": h.p_pi_mW, "resistance_ohm": h.resistance_ohm, "phase_range_rad": h.phase_range_rad}
