"""Sign-off of an exported chip over wavelength and process corners: fidelity and accuracy of the drawn circuit.

``signoff_run(run_dir, gds_path, wavelengths, corners)`` reads the GDS back (``layouts.extract``), finds
the phase each heater really gets (:mod:`.drive`), and computes every mesh layer at each wavelength
and corner with the compiled mesh (``photonic.netlist.compiled_at_wavelength``) including the
propagation phase of every route AND of every drawn cell's own waveguides (``paths.cell_paths``: an MZI's
input leads, its two internal arms and its output fans; a screen heater's through path), read from the
cell's drawn hierarchy (straights, bends, heaters: ``info['length']``; an MMI: its port-to-port span).
The compiled path equals the sax netlist of the same layer (``simulate_layer(cell_paths=...)``).

Process corners (:class:`Corner`) shift the effective index of every waveguide: a common shift
(worst case for a path-compensated design: only path-length differences matter, and they are
~100 µm-1 mm) and a seeded per-waveguide random one. Numbers and assumptions: neff = 2.34, ng = 3.4
(500 x 220 nm strip at 1.55 µm, the project's defaults); d neff / d width ~ 1e-3 per nm (500 x 220 nm
strip, TE0; the brief's figure, the order of published mode-solver values), so a +-10 nm width corner
is +-1e-2; the MMIs keep their design coupling law (``models.mmi_coupling``) at every corner; the
heaters' phase per drive scales as wl0 / wl (``models.heater``); activation and input cells are
identical on every port, so their phase is common and left out.

Metrics per (wavelength, corner): per-layer 1 - F with F = |tr(U_ref^H U)|^2 / (||U_ref||^2 ||U||^2)
(Frobenius norms; = |tr(U_ref^H U)|^2 / N^2 for unitaries; blind to a global phase and a common loss),
U_ref the trained chip's mesh; and the test accuracy through the layout's matrices with
``verify.LayoutNetwork`` (the same forward pipeline as ``verify``).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm.auto import tqdm

from ffzero_photonics.errors import UserInputError
from ffzero_photonics.layouts.extract import LayoutExtraction, extract_layout
from ffzero_photonics.photonic.compiled import CompiledMesh
from ffzero_photonics.photonic.mesh_spec import MeshSpec
from ffzero_photonics.photonic.netlist import WL0, compiled_at_wavelength
from ffzero_photonics.runs import CHECKPOINT, load_run
from ffzero_photonics.tapeout.drive import heater_drive
from ffzero_photonics.tapeout.heater_table import read_heater_table
from ffzero_photonics.tapeout.paths import LayerPaths, cell_paths, layer_paths, path_phases
from ffzero_photonics.tapeout.layout_network import LayoutNetwork

__all__ = [
    "DEFAULT_CORNERS",
    "DNEFF_PER_NM_WIDTH",
    "Corner",
    "SignoffReport",
    "drive_params",
    "fidelity",
    "layer_unitary",
    "parse_wavelengths",
    "check_signoff_inputs",
    "signoff_extracted",
    "signoff_run",
]

DNEFF_PER_NM_WIDTH = 1e-3
"""d neff / d width of a 500 x 220 nm strip (TE0, 1.55 µm), per nm: the assumption behind the width corners."""
WIDTH_SPREAD_NM = 10.0
MAX_WAVELENGTHS = 1001


@dataclass(frozen=True)
class Corner:
    """A process corner: ``dneff`` added to every waveguide's neff, plus a per-waveguide N(0, ``sigma``) draw (``seed``)."""

    name: str
    dneff: float = 0.0
    sigma: float = 0.0
    seed: int = 0

    def __post_init__(self):
        if not (math.isfinite(self.dneff) and abs(self.dneff) < 0.5):
            raise UserInputError(f"corner {self.name!r}: dneff must be finite and |dneff| < 0.5, got {self.dneff!r}")
        if not (math.isfinite(self.sigma) and 0 <= self.sigma < 0.5):
            raise UserInputError(f"corner {self.name!r}: sigma must be in [0, 0.5), got {self.sigma!r}")


_W = WIDTH_SPREAD_NM * DNEFF_PER_NM_WIDTH
DEFAULT_CORNERS = (
    Corner("nominal"),
    Corner("neff+1e-4", 1e-4),
    Corner("neff-1e-4", -1e-4),
    Corner(f"width+{WIDTH_SPREAD_NM:g}nm", _W),
    Corner(f"width-{WIDTH_SPREAD_NM:g}nm", -_W),
    Corner("random sigma 1e-4", sigma=1e-4, seed=0),
)
"""Nominal; neff +-1e-4 (a good foundry's wafer-scale spread); width +-10 nm (neff +-1e-2 at 1e-3 / nm); a per-waveguide
random corner of sigma 1e-4 (~0.1 nm of local width variation), seed 0."""


def parse_wavelengths(text: str) -> np.ndarray:
    """µm wavelengths from ``"start:stop:n"`` (n evenly spaced, start < stop unless n = 1), ``"a,b,c"`` or ``"a"``."""
    parts = text.split(":")
    try:
        if len(parts) == 3:
            start, stop, n = float(parts[0]), float(parts[1]), int(parts[2])
        elif len(parts) == 1:
            values = [float(v) for v in text.split(",")]
        else:
            raise ValueError(text)
    except ValueError:
        raise UserInputError(f"--wavelengths: {text!r} is not START:STOP:N or a comma list of µm values") from None
    if len(parts) == 3:
        if not 1 <= n <= MAX_WAVELENGTHS:
            raise UserInputError(f"--wavelengths: {text!r} asks for {n} points; give 1 to {MAX_WAVELENGTHS}")
        if n > 1 and not stop > start:
            raise UserInputError(f"--wavelengths: {text!r} must go up (start < stop)")
        values = np.linspace(start, stop, n) if n > 1 else [start]
    wl = np.round(np.asarray(values, dtype=float), 9)
    if not (wl.size and np.all(np.isfinite(wl)) and np.all(wl > 0)):
        raise UserInputError(f"--wavelengths: {text!r} holds a non-positive or non-finite wavelength")
    if np.any(np.abs(wl - WL0) > 0.5):
        raise UserInputError(f"--wavelengths: {text!r} leaves 1.05-2.05 µm, outside the models' linear range")
    return wl


# ---------------------------------------------------------------- one layer on the compiled path


def _corner_dneff(corner: Corner, paths: LayerPaths, layer: int) -> dict[str, Any]:
    rng = np.random.default_rng([corner.seed, layer])
    return {k: corner.dneff + (corner.sigma * rng.standard_normal(np.shape(getattr(paths, k))) if corner.sigma else 0.0)
            for k in ("routes", "leads", "arm_up", "arm_lo")}


def layer_unitary(spec: MeshSpec, params, paths: LayerPaths, wl: float, corner: Corner = Corner("nominal"),
                  layer: int = 0) -> np.ndarray:
    """U[out, in] of a drawn layer driven with ``params`` (phases set at wl0) at ``wl`` under ``corner``, compiled path."""
    scaled, kwargs = compiled_at_wavelength(spec, params, wl)
    route, theta_offset = path_phases(paths, spec, wl, _corner_dneff(corner, paths, layer))
    scaled = scaled.copy()
    scaled[0 : 2 * spec.n_mzis : 2] += theta_offset
    return CompiledMesh(spec, route_phase=route, **kwargs).unitary(scaled)


def fidelity(u: np.ndarray, ref: np.ndarray) -> float:
    """|tr(ref^H u)|^2 / (||ref||^2 ||u||^2): 1 when u = ref up to a global phase and a common loss."""
    den = float(np.vdot(ref, ref).real * np.vdot(u, u).real)
    return float(abs(np.vdot(ref, u)) ** 2 / den) if den > 0 else 0.0


def drive_params(extraction: LayoutExtraction, spec: MeshSpec, layer: int, drive: dict[tuple[str, str], float]) -> np.ndarray:
    """The parameter vector (MeshSpec order) of ``layer`` that the heater table really drives (0 for an undriven heater)."""
    pre = f"L{layer}_" if extraction.prefixed else ""
    values = []
    for m in spec.mzis:
        values += [drive.get((pre + m.name, "theta"), 0.0), drive.get((pre + m.name, "phi"), 0.0)]
    values += [drive.get((f"{pre}screen_p{k}", "phi"), 0.0) for k in range(spec.n_ports)]
    return np.asarray(values, dtype=float)


# ---------------------------------------------------------------- the report


@dataclass
class SignoffReport:
    """Result of :func:`signoff_run`: ``infidelity[corner][wl][layer]`` (1 - F) and ``accuracy[corner][wl]``."""

    run_dir: str
    gds_path: str
    wavelengths: list[float]
    corners: list[dict]
    trained_accuracy: float
    infidelity: dict[str, list[list[float]]]
    accuracy: dict[str, list[float]]
    cell_paths_um: dict[str, float]
    include_cells: bool = True
    errors: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def worst_infidelity(self, corner: str) -> list[float]:
        """Per wavelength, the worst layer's 1 - F at ``corner``."""
        return [max(layers) for layers in self.infidelity[corner]]

    def text(self, max_rows: int = 25) -> str:
        """A table: one row per wavelength, for each corner the worst layer's 1 - F and the test accuracy."""
        names = [c["name"] for c in self.corners]
        lines = [f"signoff {self.run_dir} against {self.gds_path}: 1-F (worst layer) | test accuracy "
                 f"(trained {self.trained_accuracy:.4f}); routes{' and cell paths' if self.include_cells else ' only'}",
                 "wl (µm)    d (nm) " + "".join(f"| {n[:22]:>22} " for n in names)]
        rows = range(len(self.wavelengths))
        step = max(1, math.ceil(len(self.wavelengths) / max_rows))
        for i in list(rows)[::step]:
            wl = self.wavelengths[i]
            cells = "".join(f"| {max(self.worst_infidelity(n)[i], 0.0):9.3g} {self.accuracy[n][i]:>11.4f} " for n in names)
            lines.append(f"{wl:.6f} {1e3 * (wl - WL0):+8.3f} {cells}")
        lines += [f"error: {e}" for e in self.errors]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_signoff_inputs(wavelengths: Sequence[float], corners: Sequence[Corner]) -> tuple[np.ndarray, list[Corner]]:
    """The wavelengths as an array and the corners as a list, or a one-line UserInputError naming the bad value."""
    wl = np.asarray(wavelengths, dtype=float)
    if wl.ndim != 1 or not wl.size or not np.all(np.isfinite(wl) & (wl > 0)):
        raise UserInputError(f"wavelengths must be a non-empty list of positive µm values, got {wavelengths!r}")
    if np.any(np.abs(wl - WL0) > 0.5):
        raise UserInputError(f"wavelengths {wl.min():g}-{wl.max():g} µm leave 1.05-2.05 µm, outside the models' linear range")
    corners = list(corners)
    if not corners or len({c.name for c in corners}) != len(corners):
        raise UserInputError(f"corners must be a non-empty list with distinct names, got {[c.name for c in corners]}")
    return wl, corners


def signoff_run(
    run_dir: str | Path,
    gds_path: str | Path,
    wavelengths: Sequence[float] = (WL0,),
    corners: Sequence[Corner] = (Corner("nominal"),),
    *,
    heater_csv: str | Path | None = None,
    include_cells: bool = True,
) -> SignoffReport:
    """Fidelity and test accuracy of the drawn chip ``gds_path`` driven by its heater table, per wavelength and corner.

    Structural problems (unreadable layout, heater wiring) are ``verify``'s: they are listed in ``errors``
    and the layers are simulated as extracted by name. ``include_cells=False`` leaves the cells' own waveguides out
    (routes only: what a route-only table was compensated for).
    """
    t0 = time.perf_counter()
    run_dir, gds_path = Path(run_dir), Path(gds_path)
    if not (run_dir / CHECKPOINT).is_file():
        raise UserInputError(f"{str(run_dir)!r} is not a run directory (no {CHECKPOINT})")
    if not gds_path.is_file():
        raise UserInputError(f"GDS file {str(gds_path)!r} does not exist")
    wl, corners = check_signoff_inputs(wavelengths, corners)
    heater_csv = Path(heater_csv) if heater_csv is not None else gds_path.with_name(f"{gds_path.stem}_heaters.csv")
    rows = read_heater_table(heater_csv)
    loaded = load_run(run_dir)
    spec, model = loaded[0], loaded[2]
    if spec.model != "photonic" or not hasattr(model, "specs"):
        raise UserInputError(f"run {str(run_dir)!r} trained a {spec.model!r} model; only photonic runs have a layout")
    extraction = extract_layout(gds_path, n_layers=model.n_layers)
    drive, drive_errors = heater_drive(extraction, rows)
    report = signoff_extracted(loaded, extraction, drive, wl, corners, run_dir=run_dir, gds_path=gds_path,
                               include_cells=include_cells)
    report.errors[:0] = list(extraction.errors) + drive_errors
    report.timings["load_and_extract_s"] = report.timings["total_s"] = time.perf_counter() - t0
    report.timings["load_and_extract_s"] -= report.timings["sweep_s"]
    return report


def signoff_extracted(
    loaded,
    extraction: LayoutExtraction,
    drive: dict[tuple[str, str], float],
    wavelengths: Sequence[float],
    corners: Sequence[Corner],
    *,
    run_dir: str | Path,
    gds_path: str | Path,
    include_cells: bool = True,
    paths_by_inst: dict[str, dict[str, float]] | None = None,
) -> SignoffReport:
    """:func:`signoff_run` on a run already loaded (``runs.load_run``'s tuple) and a layout already extracted and driven.

    ``paths_by_inst`` (``paths.cell_paths`` of ``extraction``) is read from the layout when not given.
    """
    t0 = time.perf_counter()
    wl, corners = check_signoff_inputs(wavelengths, corners)
    _, data, model, trainer = loaded
    reference = model.ideal_copy() if not getattr(model, "is_ideal", True) and hasattr(model, "ideal_copy") else model
    specs = list(model.specs)
    if len(extraction.layers) != model.n_layers or extraction.n_ports != specs[0].n_ports:
        raise UserInputError(f"{gds_path}: {extraction.summary()} does not match the run's {model.n_layers}-layer "
                             f"N={specs[0].n_ports} chip (run `ffzero verify` for the details)")
    paths_by_inst = cell_paths(extraction) if paths_by_inst is None else paths_by_inst
    if not include_cells:
        paths_by_inst = {n: dict.fromkeys(p, 0.0) for n, p in paths_by_inst.items()}
    paths = [layer_paths(extraction, specs, l, paths_by_inst) for l in range(model.n_layers)]
    params = [drive_params(extraction, s, l, drive) for l, s in enumerate(specs)]

    physical = getattr(model, "physical", None)
    amps = [physical.loss_amplitude(l) if physical is not None else 1.0 for l in range(model.n_layers)]
    u_ref = [reference.unitary(l) for l in range(model.n_layers)]
    trained_acc = float(trainer.evaluate(LayoutNetwork(model, [u * a for u, a in zip(u_ref, amps)]), data,
                                         "test")["test_accuracy"])
    infidelity: dict[str, list[list[float]]] = {c.name: [] for c in corners}
    accuracy: dict[str, list[float]] = {c.name: [] for c in corners}
    cases = [(corner, float(w)) for corner in corners for w in wl]
    bar = tqdm(cases, desc="sign-off: wavelengths x corners", leave=False, mininterval=0.5,
               disable=True if os.environ.get("FFZERO_PROGRESS", "") == "0" else None)
    for corner, w in bar:
        us = [layer_unitary(s, p, lp, w, corner, l) for l, (s, p, lp) in enumerate(zip(specs, params, paths))]
        infidelity[corner.name].append([1.0 - fidelity(u, r) for u, r in zip(us, u_ref)])
        net = LayoutNetwork(model, [u * a for u, a in zip(us, amps)])
        accuracy[corner.name].append(float(trainer.evaluate(net, data, "test")["test_accuracy"]))
    example = next(iter(p for n, p in paths_by_inst.items() if extraction.kinds[n] == "mzi"))
    sweep_s = time.perf_counter() - t0
    return SignoffReport(
        run_dir=str(run_dir), gds_path=str(gds_path), wavelengths=[float(w) for w in wl],
        corners=[asdict(c) for c in corners], trained_accuracy=trained_acc, infidelity=infidelity, accuracy=accuracy,
        cell_paths_um={k: round(v, 3) for k, v in example.items()}, include_cells=include_cells, errors=[],
        timings={"sweep_s": sweep_s, "total_s": sweep_s},
    )
