"""The heater drive table of a tape-out (``<stem>_heaters.csv``): one row per heater, its pad and its drive.

Every simulator heater name maps to its pad and, given a parameter vector per
layer (MeshSpec order), to the phase (wrapped to [0, 2 pi)), the electrical
power (phase/pi * P_pi) and the DC voltage (sqrt(P R)) that set it.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gdsfactory.component import Component

from ffzero_photonics.errors import UserInputError
from ffzero_photonics.layouts.extract import pad_positions
from ffzero_photonics.photonic.mesh_spec import MeshSpec

__all__ = ["HEATER_TABLE_COLUMNS", "HeaterRow", "heater_rows", "read_heater_table", "table_consistency", "write_heater_table"]

HEATER_TABLE_COLUMNS = ("heater", "pad", "pad_x_um", "pad_y_um", "phase_rad", "power_mW", "voltage_V")


def heater_rows(
    component: Component,
    specs: list[MeshSpec],
    params: list[np.ndarray] | None,
    *,
    prefixed: bool,
    p_pi_mW: float = 20.0,
    resistance_ohm: float = 1000.0,
    phase_range_rad: float | None = None,
) -> list[dict]:
    """One row per heater (MeshSpec order, layer by layer): pad, pad position, phase, power, voltage.

    ``phase_range_rad`` (a physical chip's bounded drive, [heaters] v_max_V): phases inside [0, range] are
    written as they are, others wrapped to [0, 2 pi); a phase the heaters cannot reach is refused.
    """
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
                phase = float(params[layer][i])
                if phase_range_rad is None or not 0.0 <= phase <= phase_range_rad:
                    phase = float(np.mod(phase, 2 * np.pi))
                    if phase >= 2 * np.pi:
                        phase = 0.0
                if phase_range_rad is not None and phase > phase_range_rad:
                    raise UserInputError(f"heater {heater}: phase {phase:.6g} rad is beyond the heaters' range "
                                         f"{phase_range_rad:.6g} rad ([heaters] v_max_V)")
                power = phase / np.pi * p_pi_mW
                row |= {
                    "phase_rad": repr(phase),
                    "power_mW": repr(power),
                    "voltage_V": repr(math.sqrt(power * 1e-3 * resistance_ohm)),
                }
            rows.append(row)
    return rows


def write_heater_table(path: str | Path, rows: list[dict]) -> None:
    """Write ``rows`` (from :func:`heater_rows`) as CSV with the :data:`HEATER_TABLE_COLUMNS` header."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HEATER_TABLE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


@dataclass(frozen=True)
class HeaterRow:
    """One row of an exported heater table."""

    index: int
    heater: str
    pad: str
    x: float
    y: float
    phase: float
    power_mW: float | None
    voltage_V: float | None


def read_heater_table(path: str | Path) -> list[HeaterRow]:
    """Rows of ``<stem>_heaters.csv`` (:data:`HEATER_TABLE_COLUMNS`); every row must carry a phase."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"heater table {str(path)!r} does not exist")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in HEATER_TABLE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise UserInputError(f"heater table {str(path)!r} lacks columns {missing} (has {reader.fieldnames})")
        rows = []
        for i, r in enumerate(reader):
            where = f"heater table {path.name} row {i + 2} ({r['heater']!r})"
            if not r["phase_rad"].strip():
                raise UserInputError(f"{where} has no phase: export the trained chip (export-gds --from RUN_DIR)")
            try:
                rows.append(
                    HeaterRow(
                        i, r["heater"], r["pad"], float(r["pad_x_um"]), float(r["pad_y_um"]), float(r["phase_rad"]),
                        _opt_float(r["power_mW"]), _opt_float(r["voltage_V"]),
                    )
                )
            except ValueError:
                raise UserInputError(f"{where}: non-numeric pad position or phase {r!r}") from None
            if not all(math.isfinite(v) for v in (rows[-1].x, rows[-1].y, rows[-1].phase)):
                raise UserInputError(f"{where}: non-finite pad position or phase")
    if not rows:
        raise UserInputError(f"heater table {str(path)!r} has no rows")
    return rows


def _opt_float(text: str) -> float | None:
    return float(text) if text and text.strip() else None


def table_consistency(rows: list[HeaterRow]) -> list[str]:
    """Rows whose power or voltage disagrees with the phase under the table's own P_pi and R."""
    ratios = [(r.power_mW / r.phase, r) for r in rows if r.power_mW is not None and r.phase > 1e-6]
    if not ratios:
        return []
    p_per_rad = float(np.median([q for q, _ in ratios]))
    out = []
    for q, r in ratios:
        if abs(q - p_per_rad) > 1e-6 * abs(p_per_rad):
            out.append(
                f"heater table: row {r.heater}: power {r.power_mW:.6g} mW does not set phase {r.phase:.6g} rad "
                f"(the table's other rows use P_pi = {p_per_rad * math.pi:.6g} mW)"
            )
    volts = [(r.voltage_V**2 / r.power_mW, r) for r in rows if r.voltage_V is not None and r.power_mW and r.power_mW > 1e-9]
    if volts:
        v_ratio = float(np.median([q for q, _ in volts]))
        for q, r in volts:
            if abs(q - v_ratio) > 1e-6 * abs(v_ratio):
                out.append(f"heater table: row {r.heater}: voltage {r.voltage_V:.6g} V does not give power {r.power_mW:.6g} mW")
    return out
