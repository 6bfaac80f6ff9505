"""Which phase reaches which heater: heater table row -> pad at its position -> metal island -> heater terminal.

Names (labels, instance names) are only cross-checked and used in messages;
the drive itself follows the pad positions and the metal.
"""

from __future__ import annotations

from collections import defaultdict

from ffzero_photonics.layouts.extract import LayoutExtraction, pad_at
from ffzero_photonics.tapeout.heater_table import HeaterRow

__all__ = ["heater_drive"]


def heater_drive(extraction: LayoutExtraction, rows: list[HeaterRow]) -> tuple[dict[tuple[str, str], float], list[str]]:
    """(instance, role) -> phase the heater table really applies, through pad position and metal; errors name the place."""
    errors: list[str] = []
    by_island: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for key, island in extraction.terminals.items():
        if island is None:
            errors.append(f"electrical: the {key[1]} terminal of {key[0]} touches no routing metal")
        else:
            by_island[island].append(key)

    def label(key: tuple[str, str]) -> str:
        return extraction.heater_labels.get(key) or f"{key[0]}_{key[1]}"

    drive: dict[tuple[str, str], float] = {}
    driven_by: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        where = f"({row.x:.3f}, {row.y:.3f})"
        pad = pad_at(extraction.pads, row.x, row.y)
        if pad is None:
            errors.append(f"heater table: row for {row.heater} names pad {row.pad} at {where}, where the GDS has no pad")
            continue
        if pad["label"] is not None and pad["label"] != row.heater:
            errors.append(f"heater table: row for {row.heater} drives the pad at {where}, which is labelled {pad['label']!r}")
        elif row.pad != f"pad_{row.heater}":
            errors.append(f"heater table: row for {row.heater} names pad {row.pad!r}, expected 'pad_{row.heater}'")
        heaters = by_island.get(pad["island"], []) if pad["island"] is not None else []
        name = pad["label"] or pad["inst"]
        if not heaters:
            errors.append(f"electrical: pad {name} at {where} (table row {row.heater}) is wired to no heater")
            continue
        if len(heaters) > 1:
            errors.append(
                f"electrical: pad {name} at {where} is wired to {len(heaters)} heaters: "
                f"{', '.join(sorted(label(h) for h in heaters))} (short)"
            )
        for h in heaters:
            if label(h) != row.heater:
                errors.append(
                    f"electrical: table row {row.heater} drives pad {name} at {where}, which is wired to heater "
                    f"{label(h)} ({h[0]}, {h[1]})"
                )
            drive[h] = row.phase
            driven_by[h].append(row.heater)
    for key in extraction.terminals:
        if not driven_by.get(key):
            errors.append(f"heater table: heater {label(key)} ({key[0]}, {key[1]}) is driven by no row")
        elif len(driven_by[key]) > 1:
            errors.append(f"electrical: heater {label(key)} is driven by rows {driven_by[key]} at once")
    return drive, errors
