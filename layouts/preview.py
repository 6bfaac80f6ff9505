"""A PNG preview of a layout: klayout renders the polygons, matplotlib adds axes in µm and the title (headless)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gdsfactory.component import Component

from ffzero_photonics.layouts.extract import heater_positions

__all__ = ["render_png"]

_LAYER_STYLE = {
    (1, 0): (0x1F77B4, 0),
    (47, 0): (0xD62728, 0),
    (49, 0): (0xF2C14E, 0),
    (45, 0): (0xFF7F0E, 0),
    (8, 0): (0x2CA02C, 0),
    (5, 0): (0x2CA02C, 1),
}
"""Layer -> (fill colour, klayout dither pattern: 0 solid, 1 hollow)."""


def render_png(
    component: Component, path: str | os.PathLike, *, title: str = "", dpi: int = 150, show_labels: bool = False
) -> Path:
    """Preview of the layout's polygons: rasterised by klayout's LayoutView at the figure's pixel size, so a 2016-MZI
    chip renders in about a second and a hundred MB, then framed by a bare matplotlib Figure (no pyplot state).

    ``show_labels`` writes each heater's name at its position (readable for small meshes).
    """
    from matplotlib.figure import Figure

    width = max(component.xsize, 1.0)
    height = max(component.ysize, 1.0)
    fig_w = 14.0
    fig_h = min(max(fig_w * height / width + 1.0, 3.0), 14.0)
    fig = Figure(figsize=(fig_w, fig_h))
    ax = fig.subplots()
    pad = 0.02 * max(width, height)
    box = (component.xmin - pad, component.xmax + pad, component.ymin - pad, component.ymax + pad)
    px_w = int(fig_w * dpi)
    px_h = max(int(px_w * (box[3] - box[2]) / (box[1] - box[0])), 16)
    ax.imshow(_raster(component, box, px_w, px_h), extent=box, origin="upper", interpolation="antialiased")
    if show_labels:
        for name, (x, y) in heater_positions(component).items():
            ax.annotate(name, (x, y), xytext=(0, 4), textcoords="offset points", fontsize=5, ha="center", color="#7a1010")
    ax.set_xlim(box[0], box[1])
    ax.set_ylim(box[2], box[3])
    ax.set_aspect("equal")
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=dpi, format="png")
    return out


def _raster(component: Component, box: tuple[float, float, float, float], px_w: int, px_h: int):
    """RGBA array of the layout inside ``box`` (µm), drawn by klayout on white with the preview's layer colours."""
    import klayout.db as kdb
    import klayout.lay as klay
    from matplotlib.image import imread

    layout = kdb.Layout()
    layout.dbu = component.kcl.dbu
    top = layout.create_cell(component.name)
    top.copy_tree(component.kdb_cell)
    view = klay.LayoutView()
    view.set_config("background-color", "#ffffff")
    view.set_config("grid-visible", "false")
    view.set_config("text-visible", "false")
    view.show_layout(layout, False)
    view.max_hier()
    for info in layout.layer_infos():
        style = _LAYER_STYLE.get((info.layer, info.datatype))
        if style is None:
            continue
        node = klay.LayerPropertiesNode()
        node.source = f"{info.layer}/{info.datatype}@1"
        node.fill_color = node.frame_color = style[0]
        node.dither_pattern = style[1]
        node.width = 1
        view.insert_layer(view.end_layers(), node)
    view.zoom_box(kdb.DBox(box[0], box[2], box[1], box[3]))
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "raster.png"
        view.save_image(str(image), px_w, px_h)
        return imread(image)
