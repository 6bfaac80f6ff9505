"""Read a GDS file back as a gdsfactory Component, isolated from the cells in memory."""

from __future__ import annotations

import uuid
from pathlib import Path

from gdsfactory.component import Component

from ffzero_photonics.errors import UserInputError
from ffzero_photonics.layouts.layers import ensure_pdk

__all__ = ["read_gds"]


def read_gds(path: str | Path) -> Component:
    """A GDS file as a Component (geometry + kfactory cell metadata), renamed so it never clashes with cells in memory."""
    import kfactory as kf
    from gdsfactory.read.import_gds import kcell_to_component

    ensure_pdk()
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"GDS file {str(path)!r} does not exist")
    temp = kf.KCLayout(name=f"ffzero_verify_{uuid.uuid4().hex[:12]}")
    try:
        options = kf.utilities.load_layout_options()
        options.warn_level = 0
        try:
            temp.read(str(path), options=options)
        except RuntimeError as exc:
            raise UserInputError(f"{str(path)!r} is not a readable GDS file: {exc}") from None
        tops = temp.layout.top_cells()
        if len(tops) != 1:
            raise UserInputError(f"{str(path)!r} must hold one top cell, found {len(tops)}: {[t.name for t in tops]}")
        kcell = temp[tops[0].name]
        kcell.name = f"{tops[0].name}__readback_{temp.name[-12:]}"
        for xs in temp.cross_sections.cross_sections.values():
            kf.kcl.get_symmetrical_cross_section(xs)
        return kcell_to_component(kcell)
    finally:
        temp.library.delete()
        del kf.layout.kcls[temp.name]
