"""A PNG preview of a layout: its polygons drawn with matplotlib (headless)."""

from __future__ import annotations

import os
from pathlib import Path

from gdsfactory.component import Component

from ffzero_photonics.layouts.extract import heater_positions

__all__ = ["render_png"]

_LAYER_STYLE = {
    (1, 0): ("#1f77b4", 0.9, 0.6),
    (47, 0): ("#d62728", 0.8, 0.0),
    (49, 0): ("#f2c14e", 0.55, 0.0),
    (45, 0): ("#ff7f0e", 0.5, 0.0),
    (8, 0): ("#2ca02c", 0.8, 0.0),
    (5, 0): ("#2ca02c", 0.4, 0.0),
}


def render_png(
    component: Component, path: str | os.PathLike, *, title: str = "", dpi: int = 150, show_labels: bool = False
) -> Path:
    """Matplotlib preview of the layout's polygons; waveguides outlined so they show at chip scale.

    Drawn on a bare matplotlib Figure: no backend or pyplot state is touched.

    ``show_labels`` writes each heater's name at its position (readable for small meshes).
    """
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure

    polygons = component.get_polygons_points(by="tuple")
    width = max(component.xsize, 1.0)
    height = max(component.ysize, 1.0)
    fig_w = 14.0
    fig_h = min(max(fig_w * height / width + 1.0, 3.0), 14.0)
    fig = Figure(figsize=(fig_w, fig_h))
    ax = fig.subplots()
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
    return out
