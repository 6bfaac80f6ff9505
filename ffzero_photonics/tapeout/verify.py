"""Post-layout verification: does the exported GDS, driven by its heater table, compute what was trained?

``verify_run(run_dir, gds_path)`` reads the GDS back (``layouts.extract``:
elements, optical connectivity and route lengths, labels, metal islands, pads;
nothing is taken from the design), finds the heater each table row really
drives (:mod:`.drive`: row -> pad at its position -> metal island -> heater
terminal), simulates each extracted layer at those phases (numpy on the extracted graph, :mod:`.propagate`;
the sax netlist of :mod:`.simulate` as its cross-check up to N = 25) and compares with the trained chip: per-layer max
|U_layout - U_trained|, and the test accuracy of the network computed through
the layout's matrices with the chip's own forward pipeline (``photonic.forward``).
The input and output order is the IO couplers' and taps' top-to-bottom order.

Trusted from the design: the device models, which cell port is which heater
role, and the run's encoder and readout. A physical run is compared as its nominal design in mW (each
mesh's budget loss, the per-layer activations, the coherent input; no heater spread, crosstalk or noise).
The drawn EO activation cells are simulated with their model at the run's activation law (:mod:`.drawn_cells`); every metal island
must join one pad to a device contact (``lvs.unconnected_metal``).

Path phases: unequal routes and each drawn cell's own waveguides (an MZI's leads, arms and fans,
``paths.cell_paths``) put a phase on every (column, port) and MZI, exactly absorbable by the heaters
(:mod:`.paths`). ``route_phases="include"`` (the default ``"auto"``; tables from ``tapeout.export_run``
are compensated for both) makes the drawn circuit, routes AND cell paths, the pass criterion;
``"exclude"`` checks the path-free circuit (connectivity and wiring) and reports the deviation the paths would add.
With ``wavelengths`` / ``corners`` the same extraction is also signed off over wavelength and process (:mod:`.signoff`).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ffzero_photonics.errors import UserInputError
from ffzero_photonics.layouts.extract import extract_layout
from ffzero_photonics.layouts.layers import METAL_LAYER
from ffzero_photonics.layouts.lvs import check_electrical, compare_connectivity, unconnected_metal
from ffzero_photonics.runs import CHECKPOINT, load_run
from ffzero_photonics.tapeout.drawn_cells import drawn_cell_errors
from ffzero_photonics.tapeout.drive import heater_drive
from ffzero_photonics.tapeout.heater_table import read_heater_table, table_consistency
from ffzero_photonics.tapeout.layout_network import LayoutNetwork
from ffzero_photonics.tapeout.paths import cell_paths, compensated_params
from ffzero_photonics.tapeout.propagate import NotFeedForward, layer_plan, propagate_layer
from ffzero_photonics.tapeout.signoff import Corner, SignoffReport, check_signoff_inputs, signoff_extracted
from ffzero_photonics.tapeout.simulate import simulate_layer

__all__ = ["ENGINES", "ROUTE_MODES", "SAX_CROSSCHECK_MAX_N", "LayoutNetwork", "VerifyReport", "verify_run"]

ROUTE_MODES = ("auto", "exclude", "include")
ENGINES = ("auto", "numpy", "sax")
SAX_CROSSCHECK_MAX_N = 25
"""``engine="auto"`` simulates with numpy and, up to this N, also with the sax netlist (they must agree to 1e-9)."""
_CROSSCHECK_TOL = 1e-9


# ---------------------------------------------------------------- the report


@dataclass
class VerifyReport:
    """Result of :func:`verify_run`. ``passed`` is False when ``errors`` is not empty."""

    run_dir: str
    gds_path: str
    heater_csv: str
    route_phases: str
    tol: float
    deviation: list[float]
    deviation_routes: list[float]
    trained_accuracy: float
    layout_accuracy: float
    layout_accuracy_routes: float
    errors: list[str]
    warnings: list[str]
    extracted: str
    timings: dict[str, float]
    engine: str = "numpy"
    crosscheck: list[float] = field(default_factory=list)
    signoff: SignoffReport | None = None

    @property
    def passed(self) -> bool:
        return not self.errors

    def text(self, max_lines: int = 12) -> str:
        """Short human-readable report (what ``ffzero verify`` prints)."""
        basis = "route and cell-path phases " + ("included" if self.route_phases == "include" else "excluded")
        lines = [
            f"verify {self.run_dir} against {self.gds_path} (heater table {self.heater_csv})",
            f"layout: {self.extracted}",
        ]
        common = " (up to a common phase)" if self.route_phases != "include" else ""
        for l, (d, dr) in enumerate(zip(self.deviation, self.deviation_routes)):
            lines.append(f"layer {l}: max |U_layout - U_trained| = {d:.3g} without route and cell-path phases, "
                         f"{dr:.3g} with them{common}")
        lines.append(
            f"test accuracy: trained {self.trained_accuracy:.4f} | layout {self.layout_accuracy:.4f} | "
            f"layout with route and cell-path phases {self.layout_accuracy_routes:.4f}"
        )
        for kind, items in (("warning", self.warnings), ("error", self.errors)):
            for msg in items[:max_lines]:
                lines.append(f"{kind}: {msg}")
            if len(items) > max_lines:
                lines.append(f"... {len(items) - max_lines} more {kind}s")
        check = f"; sax netlist cross-check: max |U_numpy - U_sax| = {max(self.crosscheck):.3g}" if self.crosscheck else ""
        lines.append(f"simulated with {self.engine}{check}")
        if self.signoff is not None:
            lines.append(self.signoff.text())
        lines.append(f"{'PASS' if self.passed else 'FAIL'} ({basis}, tolerance {self.tol:g})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def _phase_distance(a: float, b: float) -> float:
    return abs((a - b + math.pi) % (2 * math.pi) - math.pi)


def _deviation(u: np.ndarray, ref: np.ndarray, *, common_phase: bool) -> float:
    if common_phase:
        overlap = np.vdot(ref, u)
        if abs(overlap) > 0:
            u = u * np.conj(overlap) / abs(overlap)
    return float(np.max(np.abs(u - ref)))


def _has_design_cells(paths: dict, specs, prefixed: bool) -> bool:
    """Whether every MZI and screen heater of the design is drawn under its name (else connectivity errors say what is not)."""
    names = [f"L{l}_" * prefixed + m.name for l, s in enumerate(specs) for m in s.mzis]
    names += [f"L{l}_" * prefixed + f"screen_p{k}" for l, s in enumerate(specs) for k in range(s.n_ports)]
    return all(name in paths for name in names)


def open_export(run_dir: str | Path, gds_path: str | Path, heater_csv: str | Path | None = None):
    """(run_dir, gds_path, heater_csv, table rows, load_run(run_dir)) of a photonic run's export, checked.

    The table defaults to ``<gds stem>_heaters.csv`` beside the GDS; a missing run, GDS or table, or a run of a
    digital model, is refused in one line.
    """
    run_dir, gds_path = Path(run_dir), Path(gds_path)
    if not (run_dir / CHECKPOINT).is_file():
        raise UserInputError(f"{str(run_dir)!r} is not a run directory (no {CHECKPOINT})")
    if not gds_path.is_file():
        raise UserInputError(f"GDS file {str(gds_path)!r} does not exist")
    heater_csv = Path(heater_csv) if heater_csv is not None else gds_path.with_name(f"{gds_path.stem}_heaters.csv")
    rows = read_heater_table(heater_csv)
    loaded = load_run(run_dir)
    spec, _, model, _ = loaded
    if spec.model != "photonic" or not hasattr(model, "specs"):
        raise UserInputError(f"run {str(run_dir)!r} trained a {spec.model!r} model; only photonic runs have a layout")
    return run_dir, gds_path, heater_csv, rows, loaded


def verify_run(
    run_dir: str | Path,
    gds_path: str | Path,
    *,
    heater_csv: str | Path | None = None,
    route_phases: str = "auto",
    tol: float = 1e-6,
    wl: float = 1.55,
    neff: float = 2.34,
    ng: float = 3.4,
    loss_dB_cm: float = 0.0,
    engine: str = "auto",
    wavelengths=None,
    corners=None,
) -> VerifyReport:
    """Verify that ``gds_path`` driven by its heater table computes what the photonic run in ``run_dir`` trained.

    ``heater_csv`` defaults to ``<gds stem>_heaters.csv`` beside the GDS.
    ``route_phases``: ``"exclude"`` compares the path-free layout circuit
    (connectivity and heater wiring) and reports what the routes and cell paths add;
    ``"include"`` compares the drawn circuit with its routes AND cells' own waveguides, the one the fabricated
    chip computes (``"auto"``, the default, means include: tables from ``tapeout.export_run`` compensate both).
    Fails when any extraction, wiring or table check fails or a layer deviates by more than ``tol``.
    ``engine``: ``"numpy"`` (:mod:`.propagate`), ``"sax"`` (:mod:`.simulate`) or ``"auto"`` (numpy, and sax as a
    cross-check up to N = ``SAX_CROSSCHECK_MAX_N``). ``wavelengths`` (µm) and/or ``corners`` (``signoff.Corner``s)
    add a sign-off of the same extraction (``report.signoff``; default ``wl`` / the nominal corner).
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if route_phases not in ROUTE_MODES:
        raise UserInputError(f"route_phases must be one of {', '.join(ROUTE_MODES)}, got {route_phases!r}")
    if not (tol > 0 and math.isfinite(tol)):
        raise UserInputError(f"tol must be a positive number, got {tol!r}")
    if engine not in ENGINES:
        raise UserInputError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    sweep = wavelengths is not None or corners is not None
    if sweep:
        wavelengths, corners = check_signoff_inputs(np.atleast_1d(wl if wavelengths is None else wavelengths),
                                                    corners or [Corner("nominal")])
    run_dir, gds_path, heater_csv, rows, loaded = open_export(run_dir, gds_path, heater_csv)
    spec, data, model, trainer = loaded
    if route_phases == "auto":
        route_phases = "include"
    include = route_phases == "include"
    reference = model.ideal_copy() if not getattr(model, "is_ideal", True) and hasattr(model, "ideal_copy") else model
    timings["load_run_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    extraction = extract_layout(gds_path, n_layers=model.n_layers)
    if sweep and (len(extraction.layers) != model.n_layers or extraction.n_ports != model.specs[0].n_ports):
        raise UserInputError(f"{gds_path}: {extraction.summary()} is not the run's {model.n_layers}-layer "
                             f"N={model.specs[0].n_ports} chip (verify it without --wavelengths/--corners for the details)")
    errors = list(extraction.errors)
    warnings: list[str] = []
    if extraction.n_ports != model.specs[0].n_ports:
        errors.append(f"layout: {extraction.n_ports} input ports but the run's chip has N={model.specs[0].n_ports}")
    design = list(model.specs) if extraction.prefixed else model.specs[0]
    if not extraction.prefixed and model.n_layers > 1:
        errors.append(f"layout: unprefixed heater names (a single mesh) but the run has {model.n_layers} layers")
    errors += [f"optical: {e}" for e in compare_connectivity(extraction.component, design, netlist=extraction.netlist) if f"optical: {e}" not in errors]
    errors += [f"electrical: {e}" for e in check_electrical(extraction.component, layer=METAL_LAYER)]
    errors += [f"electrical: {e}" for e in unconnected_metal(extraction.component, layer=METAL_LAYER)]
    if len(extraction.layers) == model.n_layers:
        errors += drawn_cell_errors(extraction, model, wl=wl)
    timings["extract_s"] = time.perf_counter() - t

    drive, drive_errors = heater_drive(extraction, rows)
    errors += drive_errors
    errors += table_consistency(rows)
    n_checked = model.n_layers if extraction.prefixed else 1
    expected_params = [reference.get_params(l) for l in range(n_checked)]
    n = model.specs[0].n_ports
    structural = len(extraction.layers) == model.n_layers and extraction.n_ports == n
    paths = None
    if structural:
        try:
            paths = cell_paths(extraction)
        except UserInputError as e:
            errors.append(str(e))
            structural = False
    if include and structural and _has_design_cells(paths, model.specs[:n_checked], extraction.prefixed):
        expected_params = compensated_params(extraction, model.specs[:n_checked], expected_params,
                                             trained_routes=getattr(model, "route_lengths", None), wl=wl, neff=neff, ng=ng)
    trained = {}
    for l in range(n_checked):
        for name, value in zip(model.layer_info(l).param_names, expected_params[l]):
            trained[name if extraction.prefixed else name[len(f"L{l}_"):]] = float(value)
    unknown = sorted({r.heater for r in rows} - set(trained))
    if unknown:
        errors.append(f"heater table: rows for heaters the run does not have: {unknown[:8]}{' ...' if len(unknown) > 8 else ''}")
    needs = "the drawn layout needs (trained phases compensated for route and cell-path phases)" if include else "the run trained"
    wrong = [r for r in rows if r.heater in trained and _phase_distance(r.phase, trained[r.heater]) > 1e-9]
    for r in wrong[:8]:
        errors.append(f"heater table: {r.heater} is set to {r.phase:.6f} rad, {needs} {trained[r.heater] % (2 * math.pi):.6f} rad")
    if len(wrong) > 8:
        errors.append(f"heater table: {len(wrong) - 8} more heaters differ (export with `ffzero export-gds --from RUN`)")

    t = time.perf_counter()
    u_ref = [reference.unitary(l) for l in range(model.n_layers)]
    deviation, deviation_routes, u_plain, u_routed, crosscheck = [], [], [], [], []
    used = "sax" if engine == "sax" else "numpy"
    kw = dict(wl=wl, neff=neff, ng=ng, loss_dB_cm=loss_dB_cm)
    for l in range(model.n_layers):
        if not structural:
            deviation.append(float("inf"))
            deviation_routes.append(float("inf"))
            continue
        pair, check, note = _simulate_layer_pair(extraction, l, drive, paths, engine, kw)
        u_plain.append(pair[0])
        u_routed.append(pair[1])
        if note:
            used = "numpy + sax"
            warnings.append(note)
        if check is not None:
            crosscheck.append(check)
            if not check <= _CROSSCHECK_TOL:
                errors.append(f"simulation: layer {l}: the numpy and sax simulations differ by {check:.3g} "
                              f"(> {_CROSSCHECK_TOL:g}); rerun with --engine sax")
        deviation.append(_deviation(u_plain[-1], u_ref[l], common_phase=False))
        deviation_routes.append(_deviation(u_routed[-1], u_ref[l], common_phase=not include))
    timings["simulate_s"] = time.perf_counter() - t
    physical = getattr(model, "physical", None)
    if physical is not None:  # the nominal design in mW: each mesh's budget loss on the layout's and the design's matrices
        amps = [physical.loss_amplitude(l) for l in range(model.n_layers)]
        u_plain, u_routed = ([u * a for u, a in zip(us, amps)] for us in (u_plain, u_routed))
        warnings.append("physical run: 'trained' accuracy is the nominal design's at the trained drives "
                        "(no heater P_pi spread, crosstalk, drift or detector noise)")

    for l in range(model.n_layers):
        d = deviation_routes[l] if include else deviation[l]
        if not d <= tol:
            errors.append(
                f"layer {l}: max |U_layout - U_trained| = {d:.3g} {'with' if include else 'without'} route and cell-path "
                f"phases exceeds {tol:g}"
            )
        elif not include and deviation_routes[l] > tol:
            spread = extraction.layers[l].route_lengths()
            warnings.append(
                f"layer {l}: unequal routes ({min(spread):.1f}-{max(spread):.1f} µm) and the cells' own waveguides add a "
                f"phase error of max {deviation_routes[l]:.3g} to U; compensate them (`ffzero export-gds --from RUN`)"
            )

    t = time.perf_counter()
    if physical is None:
        trained_acc = float(trainer.evaluate(model, data, "test")["test_accuracy"])
    else:  # the nominal design at the trained drives (no heater spread, crosstalk, drift or detector noise)
        trained_acc = float(trainer.evaluate(LayoutNetwork(model, [u * a for u, a in zip(u_ref, amps)]), data,
                                             "test")["test_accuracy"])
    acc_plain = acc_routed = float("nan")
    if structural:
        acc_plain = float(trainer.evaluate(LayoutNetwork(model, u_plain), data, "test")["test_accuracy"])
        acc_routed = float(trainer.evaluate(LayoutNetwork(model, u_routed), data, "test")["test_accuracy"])
        verified = acc_routed if include else acc_plain
        if not errors and verified != trained_acc:
            errors.append(f"test accuracy through the layout {verified:.4f} differs from the trained {trained_acc:.4f}")
    timings["accuracy_s"] = time.perf_counter() - t
    swept = None
    if sweep:
        swept = signoff_extracted(loaded, extraction, drive, wavelengths, corners, run_dir=run_dir,
                                  gds_path=gds_path, paths_by_inst=paths)
        timings["signoff_s"] = swept.timings["sweep_s"]
    timings["total_s"] = time.perf_counter() - t0

    return VerifyReport(
        run_dir=str(run_dir), gds_path=str(gds_path), heater_csv=str(heater_csv), route_phases=route_phases, tol=tol,
        deviation=deviation, deviation_routes=deviation_routes, trained_accuracy=trained_acc,
        layout_accuracy=acc_plain, layout_accuracy_routes=acc_routed, errors=errors, warnings=warnings,
        extracted=extraction.summary(), timings=timings, engine=used,
        crosscheck=crosscheck, signoff=swept,
    )


def _simulate_layer_pair(extraction, layer: int, drive, paths, engine: str, kw: dict):
    """((U without route phases, U with routes and cell paths), max |numpy - sax| or None, warning or "") of one layer."""
    def sax_pair():
        return (simulate_layer(extraction, layer, drive, routes=False, **kw),
                simulate_layer(extraction, layer, drive, routes=True, cell_paths=paths, **kw))

    if engine == "sax":
        return sax_pair(), None, ""
    try:
        plan = layer_plan(extraction, layer)
    except NotFeedForward as e:
        return sax_pair(), None, f"layer {layer}: simulated with sax only ({e})"
    pair = (propagate_layer(extraction, layer, drive, routes=False, plan=plan, **kw),
            propagate_layer(extraction, layer, drive, routes=True, cell_paths=paths, plan=plan, **kw))
    if engine == "numpy" or extraction.n_ports > SAX_CROSSCHECK_MAX_N:
        return pair, None, ""
    reference = sax_pair()
    return pair, max(float(np.max(np.abs(a - b))) for a, b in zip(pair, reference)), ""
