"""Views of a simulated chip a designer reads at a glance, written into its run directory.

``mesh_drive.png`` (every MZI's heaters coloured by electrical power), ``power_flow.png``
(one test sample's power in dBm at every port after every column), ``transfer_matrices.png``
(|U|^2 per mesh), ``layout_heater_power.png`` (drawn heater positions coloured by power) and
``activation.png`` (output vs input power at the operating point, for chips with an activation
between layers). Each is readable at N = 64; a served chip exposes no mesh and gets none.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from ..photonic.activation import EOActivation
from ..photonic.mesh_spec import MeshSpec
from ..photonic.physics.activation import Activation
from ..photonic.physics.figures import activation_curve_figure
from .chip_view_data import (
    LayoutHeaters,
    activations,
    has_views,
    heater_grid,
    heater_powers_mW,
    layout_heaters,
    power_flow,
    transfer_powers,
)

__all__ = [
    "VIEW_FILES",
    "draw_layout_heater_power",
    "draw_mesh_drive",
    "draw_power_flow",
    "draw_transfer_matrices",
    "write_chip_views",
]

VIEW_FILES = ("mesh_drive.png", "power_flow.png", "transfer_matrices.png", "layout_heater_power.png")
ACTIVATION_FILE = "activation.png"
POWER_CMAP = "plasma"
ZERO_MW = 1e-9  # a heater below this draws no power: shown hollow, apart from the colour scale
FLOW_RANGE_DB = 50.0  # the power-flow colour scale spans this many dB below its peak
SHARED_SCALE_DB = 20.0  # layers whose power peaks lie further apart get a colour scale each
DPI = 110
# Markers of the three heater kinds (phi: MZI input arm, theta: internal arm, screen: output phase screen).
MARKERS = {"phi": "s", "theta": "o", "screen": "D"}


def write_chip_views(model: Any, out_dir: str | os.PathLike, data: Any) -> list[Path]:
    """Write every view of ``model`` into ``out_dir`` (one test sample of ``data`` for the power flow); returns the paths.

    A model that exposes no mesh (a served chip) gets no views.
    """
    if not has_views(model):
        return []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    specs = list(model.specs)
    powers = [heater_powers_mW(model, l) for l in range(len(specs))]
    x = np.asarray(data.X_test[0], dtype=float)
    paths = [
        draw_mesh_drive(specs, powers, out / "mesh_drive.png"),
        draw_power_flow(power_flow(model, x), out / "power_flow.png"),
        draw_transfer_matrices(transfer_powers(model), out / "transfer_matrices.png"),
        draw_layout_heater_power(layout_heaters(specs, powers), out / "layout_heater_power.png"),
    ]
    between = activations(model)
    hardware = getattr(getattr(model, "physics", None), "activation", None)
    cell = _activation_cell(between[0], hardware) if between else None
    if cell is not None:
        sample = np.asarray(data.X_test[:64], dtype=float)
        fields = np.asarray(model.input_fields(sample)) @ model.unitary(0).T
        mean_mW = float(np.mean(np.abs(fields) ** 2))
        if mean_mW > 0:
            paths.append(_atomic(out / ACTIVATION_FILE, lambda tmp: activation_curve_figure(tmp, cell, mean_mW)))
    return paths


def _activation_cell(activation: Any, hardware: Activation | None) -> Activation | None:
    """The activation after mesh 0 as a physics ``Activation`` with the same alpha, g and phi_b.

    ``hardware`` (the chip's [activation] table) supplies the responsivity and V_pi; the TIA gain and
    bias voltage follow from g and phi_b, so the curve is exactly the one the chip applies. None when
    no such cell exists (no tap, or a negative gain no TIA gives).
    """
    if isinstance(activation, Activation):
        return activation
    if not isinstance(activation, EOActivation) or activation.alpha <= 0 or activation.gain < 0:
        return None
    cell = Activation(tap_fraction=activation.alpha) if hardware is None else hardware
    gain_ohm = activation.gain * 1e3 * cell.v_pi_V / (np.pi * activation.alpha * cell.responsivity_A_per_W)
    return replace(cell, tap_fraction=activation.alpha, tia_gain_ohm=gain_ohm,
                   bias_V=activation.phase_bias * cell.v_pi_V / np.pi)


# ---------------------------------------------------------------- mesh drive
def draw_mesh_drive(specs: Sequence[MeshSpec], powers_mW: Sequence[np.ndarray], path: str | os.PathLike) -> Path:
    """Every mesh as MZI glyphs at (column, row), each heater coloured by its electrical power (mW)."""
    grids = [heater_grid(s, p) for s, p in zip(specs, powers_mW)]
    vmax = max(float(np.nanmax(g)) for g in grids)
    norm = Normalize(0.0, vmax if vmax > ZERO_MW else 1.0)
    n_ports, n_cols = specs[0].n_ports, max(s.n_columns for s in specs)
    fig, axes = _panels(len(specs), width=np.clip(0.16 * (n_cols + 2), 4.0, 11.0),
                        height=np.clip(0.16 * (n_ports + 1), 3.0, 11.0))
    for l, (ax, spec, grid) in enumerate(zip(axes, specs, grids)):
        _draw_mesh(ax, spec, grid, norm)
        total_W = np.nansum(grid) * 1e-3
        ax.set_title(f"layer {l}: {spec.n_mzis} MZIs, {spec.n_params} heaters, {total_W:.3g} W", fontsize=9)
    fig.colorbar(_mappable(norm), ax=axes, label="heater electrical power (mW)", shrink=0.8)
    handles = [
        Line2D([], [], ls="", marker=MARKERS["phi"], color="0.3", label="φ heater (input arm)"),
        Line2D([], [], ls="", marker=MARKERS["theta"], color="0.3", label="θ heater (internal arm)"),
        Line2D([], [], ls="", marker=MARKERS["screen"], color="0.3", label="output screen heater"),
        Line2D([], [], ls="", marker="o", mfc="white", mec="tab:green", label="zero drive (0 mW)"),
        Line2D([], [], color="0.75", label="waveguide, MZI couplers (no heater)"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=8, frameon=False)
    return _save(fig, path)


def _draw_mesh(ax, spec: MeshSpec, grid: np.ndarray, norm: Normalize) -> None:
    n, c = spec.n_ports, spec.n_columns
    ax.hlines(np.arange(n), -0.6, c + 0.4, color="0.85", lw=0.6, zorder=0)
    segs = []
    for m in spec.mzis:
        x0, x1, y0, y1 = m.column - 0.3, m.column + 0.3, m.row, m.row + 1
        segs += [((x0, y0), (x1, y1)), ((x0, y1), (x1, y0))]
    ax.add_collection(LineCollection(segs, colors="0.75", linewidths=0.6, zorder=1))
    size = _marker_size(ax, n, c)
    rows, cols = np.nonzero(~np.isnan(grid))
    value = grid[rows, cols]
    kind = np.where(cols == 2 * c, "screen", np.where(cols % 2 == 0, "phi", "theta"))
    x = np.where(kind == "screen", c, np.where(kind == "phi", cols // 2 - 0.3, cols // 2))
    y = np.where(kind == "theta", rows + 0.5, rows).astype(float)
    for name, marker in MARKERS.items():
        on = (kind == name) & (value > ZERO_MW)
        ax.scatter(x[on], y[on], c=value[on], cmap=POWER_CMAP, norm=norm, marker=marker, s=size, lw=0, zorder=3)
        off = (kind == name) & (value <= ZERO_MW)
        ax.scatter(x[off], y[off], facecolors="white", edgecolors="tab:green", marker=marker, s=size,
                   lw=0.8, zorder=3)
    ax.set_xlim(-1, c + 0.7)
    ax.set_ylim(n - 0.4, -0.6)
    ax.set_xlabel("mesh column (screen at right)")
    ax.set_ylabel("port")
    ax.xaxis.set_major_locator(MaxNLocator(8, integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(8, integer=True))


def _marker_size(ax, n_ports: int, n_cols: int) -> float:
    """Marker area (pt^2) so one glyph takes about a third of the grid pitch."""
    bbox = ax.get_position()
    fig_w, fig_h = ax.figure.get_size_inches()
    pitch_pt = min(bbox.width * fig_w * 72 / (n_cols + 1.7), bbox.height * fig_h * 72 / (n_ports + 0.2))
    return float(np.clip(0.38 * pitch_pt, 1.5, 9.0) ** 2)


# ---------------------------------------------------------------- power flow
def draw_power_flow(flows_mW: Sequence[np.ndarray], path: str | os.PathLike) -> Path:
    """One sample's power (dBm) at every port (rows) entering each mesh and after each column; activation between layers.

    The layers share one colour scale unless their peaks lie more than ``SHARED_SCALE_DB`` apart (an
    activation that darkens the light), when each gets its own so its pattern stays readable.
    """
    dbm = [10 * np.log10(np.maximum(f, 1e-30)) for f in flows_mW]
    peaks = [float(d.max()) for d in dbm]
    shared = max(peaks) - min(peaks) <= SHARED_SCALE_DB
    n_ports, n_cols = flows_mW[0].shape[1], max(f.shape[0] for f in flows_mW)
    fig, axes = _panels(len(flows_mW), width=np.clip(0.12 * n_cols + 2, 4.0, 10.0),
                        height=np.clip(0.12 * n_ports + 1.5, 3.0, 9.0))
    for l, (ax, d, f) in enumerate(zip(axes, dbm, flows_mW)):
        top = max(peaks) if shared else peaks[l]
        im = ax.imshow(d.T, cmap="inferno", norm=Normalize(top - FLOW_RANGE_DB, top), aspect="auto",
                       interpolation="nearest", extent=(-1.5, f.shape[0] - 1.5, f.shape[1] - 0.5, -0.5))
        ax.axvline(-0.5, color="white", lw=0.8)
        source = "encoded sample" if l == 0 else f"activation of layer {l - 1}"
        ax.set_title(f"layer {l} (in: {source})\n{_dbm(f[0].sum())} in → {_dbm(f[-1].sum())} out", fontsize=9)
        ax.set_xlabel("after mesh column (−1: mesh input)")
        ax.set_ylabel("port")
        ax.xaxis.set_major_locator(MaxNLocator(8, integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(8, integer=True))
        if not shared:
            fig.colorbar(im, ax=ax, label="optical power (dBm)", shrink=0.8)
    if shared:
        fig.colorbar(im, ax=axes, label="optical power (dBm)", shrink=0.8)
    return _save(fig, path)


def _dbm(p_mW: float) -> str:
    return f"{10 * np.log10(p_mW):.1f} dBm" if p_mW > 0 else "no light"


# ---------------------------------------------------------------- transfer matrices
def draw_transfer_matrices(u2: Sequence[np.ndarray], path: str | os.PathLike) -> Path:
    """|U[out, in]|^2 of every mesh on one shared colour scale."""
    norm = Normalize(0.0, max(float(m.max()) for m in u2))
    n = u2[0].shape[0]
    size = np.clip(0.09 * n + 2.5, 3.5, 8.0)
    fig, axes = _panels(len(u2), width=size, height=size)
    for l, (ax, m) in enumerate(zip(axes, u2)):
        im = ax.imshow(m, cmap="viridis", norm=norm, interpolation="nearest")
        ax.set_title(f"layer {l}: |U|², transmission {m.sum() / n:.3f}", fontsize=9)
        ax.set(xlabel="input port", ylabel="output port")
        ax.xaxis.set_major_locator(MaxNLocator(8, integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(8, integer=True))
    fig.colorbar(im, ax=axes, label="|U|² (power fraction in → out)", shrink=0.8)
    return _save(fig, path)


# ---------------------------------------------------------------- layout
def draw_layout_heater_power(heaters: LayoutHeaters, path: str | os.PathLike) -> Path:
    """Drawn heater centres (µm, true aspect) coloured by power (mW) in the die outline, and a close-up of the input corner."""
    x0, y0, x1, y1 = heaters.die_um
    zx0, zy0, zx1, zy1 = heaters.zoom_um
    vmax = float(heaters.power_mW.max())
    norm = Normalize(0.0, vmax if vmax > ZERO_MW else 1.0)
    fig_w = 13.0
    die_h = max(fig_w * (y1 - y0) / (x1 - x0), 0.3)
    zoom_h = float(np.clip(fig_w * (zy1 - zy0) / (zx1 - zx0), 1.0, 6.0))
    fig = Figure(figsize=(fig_w + 1.5, die_h + zoom_h + 1.4), layout="constrained", dpi=DPI)
    ax_die, ax_zoom = fig.subplots(2, 1, height_ratios=[die_h + 0.3, zoom_h])
    xy, power = heaters.xy_um, heaters.power_mW
    on = power > ZERO_MW
    for ax, size in ((ax_die, 0.6), (ax_zoom, 30.0)):
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="0.3", lw=0.8))
        sc = ax.scatter(xy[on, 0], xy[on, 1], c=power[on], cmap=POWER_CMAP, norm=norm, s=size, lw=0)
        ax.scatter(xy[~on, 0], xy[~on, 1], facecolors="white", edgecolors="tab:green", s=size, lw=0.8)
        other = heaters.other_xy_um
        ax.scatter(other[:, 0], other[:, 1], marker="x", color="0.55", s=size * 0.8, lw=0.6)
        ax.set_aspect("equal")
        ax.set(xlabel="x (µm)", ylabel="y (µm)")
    pad = 0.01 * (x1 - x0)
    ax_die.set(xlim=(x0 - pad, x1 + pad), ylim=(y0 - pad, y1 + pad))
    ax_die.add_patch(Rectangle((zx0, zy0), zx1 - zx0, zy1 - zy0, fill=False, ec="tab:cyan", lw=1.2))
    ax_die.set_title(f"die {(x1 - x0) / 1000:.2f} × {(y1 - y0) / 1000:.2f} mm (true aspect), {len(heaters.names)} "
                     f"heaters, {power.sum() * 1e-3:.3g} W; cyan box: close-up below", fontsize=9)
    ax_zoom.set(xlim=(zx0, zx1), ylim=(zy0, zy1))
    ax_zoom.set_title("close-up: layer 0, first MZI columns and ports (hollow green: zero drive; "
                      "grey ×: input modulators, activation cells, detectors)", fontsize=9)
    fig.colorbar(sc, ax=[ax_die, ax_zoom], label="heater electrical power (mW)", shrink=0.8)
    return _save(fig, path)


# ---------------------------------------------------------------- helpers
def _panels(n: int, *, width: float, height: float):
    """A figure of ``n`` panels, two per row, each about width x height inches (room below for a legend)."""
    cols = min(n, 2)
    rows = -(-n // cols)
    fig = Figure(figsize=(cols * width + 1.5, rows * height + 0.8), layout="constrained", dpi=DPI)
    fig.get_layout_engine().set(h_pad=0.1, rect=(0, 0.04, 1, 0.96))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, list(axes[:n])


def _mappable(norm: Normalize):
    from matplotlib.cm import ScalarMappable

    return ScalarMappable(norm=norm, cmap=POWER_CMAP)


def _atomic(path: Path, write) -> Path:
    """Call ``write(tmp)`` and move the file into place, so a reader never sees half a figure."""
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    write(tmp)
    tmp.replace(path)
    return path


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    return _atomic(Path(path), lambda tmp: fig.savefig(tmp, dpi=DPI))
