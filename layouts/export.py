"""Tape-out bundle of a mesh or chip: GDS, heater drive table (CSV) and a PNG preview.

The heater table maps every simulator heater name to its pad and, given a
parameter vector per layer (MeshSpec order), to the phase, the electrical
power (phase/pi * P_pi) and the DC voltage (sqrt(P R)) that set it. All files
are written to temporaries and renamed only when every one of them succeeded.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from gdsfactory.component import Component

from ffzero_photonics.layouts.mesh_layout import chip_layout, heater_positions, mesh_layout, pad_positions
from ffzero_photonics.photonic.mesh_spec import MeshSpec

__all__ = ["ExportResult", "HEATER_TABLE_COLUMNS", "export_chip", "heater_table", "render_png"]

HEATER_TABLE_COLUMNS = ("heater", "pad", "pad_x_um", "pad_y_um", "phase_rad", "power_mW", "voltage_V")

_LAYER_STYLE = {
    (1, 0): ("#1f77b4", 0.9, 0.6),
    (47, 0): ("#d62728", 0.8, 0.0),
    (49, 0): ("#f2c14e", 0.55, 0.0),
    (45, 0): ("#ff7f0e", 0.5, 0.0),
    (8, 0): ("#2ca02c", 0.8, 0.0),
    (5, 0): ("#2ca02c", 0.4, 0.0),
}


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
    **layout_kwargs,
) -> ExportResult:
    """Write ``out_path`` (GDS), ``<stem>_heaters.csv`` and ``<stem>.png`` for a mesh or an L-layer chip.

    ``specs``: one MeshSpec (layout of :func:`mesh_layout`, unprefixed names) or
    a list (:func:`chip_layout`, ``L{l}_`` names). ``params``: one parameter
    vector per layer in MeshSpec order (a bare vector is accepted for a single
    MeshSpec); None leaves phase/power/voltage blank. ``layout_kwargs`` go to
    the layout function.
    """
    single = isinstance(specs, MeshSpec)
    spec_list = [specs] if single else list(specs)
    if not spec_list:
        raise ValueError("export_chip needs at least one MeshSpec, got an empty list")
    layer_params = _check_params(spec_list, params, single)
    if not (math.isfinite(p_pi_mW) and p_pi_mW > 0):
        raise ValueError(f"p_pi_mW must be positive, got {p_pi_mW!r}")
    if not (math.isfinite(resistance_ohm) and resistance_ohm > 0):
        raise ValueError(f"resistance_ohm must be positive, got {resistance_ohm!r}")
    gds_path = Path(out_path)
    if gds_path.suffix.lower() != ".gds":
        raise ValueError(f"out_path must end in .gds, got {str(out_path)!r}")
    if not gds_path.parent.exists():
        raise ValueError(f"output directory {str(gds_path.parent)!r} does not exist")

    component = mesh_layout(spec_list[0], **layout_kwargs) if single else chip_layout(spec_list, **layout_kwargs)
    rows = heater_table(component, spec_list, layer_params, prefixed=not single, p_pi_mW=p_pi_mW, resistance_ohm=resistance_ohm)
    csv_path = gds_path.with_name(f"{gds_path.stem}_heaters.csv")
    png_path = gds_path.with_suffix(".png")

    temps: list[Path] = []
    try:
        tmp_gds = _temp(gds_path, temps)
        component.write_gds(gdspath=tmp_gds)
        tmp_csv = _temp(csv_path, temps)
        with open(tmp_csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=HEATER_TABLE_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
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
        raise ValueError(f"params must be a list of one parameter vector per layer, got {type(params).__name__}")
    if len(params) != len(specs):
        raise ValueError(f"params has {len(params)} layer vectors but the chip has {len(specs)} layers")
    out = []
    for layer, (spec, p) in enumerate(zip(specs, params)):
        arr = np.asarray(p, dtype=float)
        if arr.shape != (spec.n_params,):
            raise ValueError(
                f"params for layer {layer} has shape {arr.shape}, expected ({spec.n_params},) "
                f"for a {spec.topology} mesh with N={spec.n_ports} ({spec.n_mzis} MZIs x 2 + {spec.n_ports} screen)"
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"params for layer {layer} contains non-finite values")
        out.append(arr)
    return out


def heater_table(
    component: Component,
    specs: list[MeshSpec],
    params: list[np.ndarray] | None,
    *,
    prefixed: bool,
    p_pi_mW: float = 20.0,
    resistance_ohm: float = 1000.0,
) -> list[dict]:
    """One row per heater (MeshSpec order, layer by layer): pad, pad position, phase, power, voltage."""
    pads = pad_positions(component)
    rows = []
    for layer, spec in enumerate(specs):
        pre = f"L{layer}_" if prefixed else ""
        for i, name in enumerate(spec.heater_names):
            heater = pre + name
            if heater not in pads:
                raise ValueError(f"heater {heater!r} has no pad in layout {component.name}")
            x, y = pads[heater]
            row = {"heater": heater, "pad": f"pad_{heater}", "pad_x_um": round(x, 3), "pad_y_um": round(y, 3)}
            if params is None:
                row |= {"phase_rad": "", "power_mW": "", "voltage_V": ""}
            else:
                phase = float(np.mod(params[layer][i], 2 * np.pi))
                if phase >= 2 * np.pi:
                    phase = 0.0
                power = phase / np.pi * p_pi_mW
                row |= {
                    "phase_rad": repr(phase),
                    "power_mW": repr(power),
                    "voltage_V": repr(math.sqrt(power * 1e-3 * resistance_ohm)),
                }
            rows.append(row)
    return rows


def render_png(
    component: Component, path: str | os.PathLike, *, title: str = "", dpi: int = 150, show_labels: bool = False
) -> Path:
    """Matplotlib preview of the layout's polygons (headless Agg backend); waveguides outlined so they show at chip scale.

    ``show_labels`` writes each heater's name at its position (readable for small meshes).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    polygons = component.get_polygons_points(by="tuple")
    width = max(component.xsize, 1.0)
    height = max(component.ysize, 1.0)
    fig_w = 14.0
    fig_h = min(max(fig_w * height / width + 1.0, 3.0), 14.0)
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    for layer in sorted(polygons, key=lambda lay: lay == (1, 0)):
        color, alpha, edge = _LAYER_STYLE.get(tuple(layer), (None, 0.0, 0.0))
        if color is None:
            continue
        ax.add_collection(
            PolyCollection(
                polygons[layer],
                facecolors=color,
                edgecolors=color if edge else "none",
                linewidths=edge,
                alpha=alpha,
            )
        )
    if show_labels:
        for name, (x, y) in heater_positions(component).items():
            ax.annotate(name, (x, y), xytext=(0, 4), textcoords="offset points", fontsize=5, ha="center", color="#7a1010")
    pad = 0.02 * max(width, height)
    ax.set_xlim(component.xmin - pad, component.xmax + pad)
    ax.set_ylim(component.ymin - pad, component.ymax + pad)
    ax.set_aspect("equal")
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=dpi, format="png")
    plt.close(fig)
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
