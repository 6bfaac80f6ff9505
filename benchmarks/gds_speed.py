"""Time to generate and write the GDS of an N-port mesh layout (Clements and Reck), as a markdown table.

    python benchmarks/gds_speed.py                 # N = 8, 16, 25, wiring="auto"
    python benchmarks/gds_speed.py --sizes 8 --wiring cells polygons

Wall and CPU (process) time are both reported: on a shared machine the wall
clock also measures other jobs. Sub-cells are built once before timing. A
second table times the whole 2-layer Clements chip (coherent input, meshes, EO
activations, detectors; ``chip_layout``) and its floating-metal check; a third a fresh
parameterization of each cell (sub-cells warm) and the floorplan's heater positions
(``heater_positions_for``, cold and cached).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import gdsfactory as gf

from ffzero_photonics.components import cells
from ffzero_photonics.components.activation_cell import ffzero_eo_activation
from ffzero_photonics.components.input_cells import ffzero_coherent_input
from ffzero_photonics.layouts.floorplan import heater_positions_for
from ffzero_photonics.layouts.lvs import unconnected_metal
from ffzero_photonics.layouts.mesh_layout import chip_layout, mesh_layout
from ffzero_photonics.photonic.mesh_spec import build_mesh


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 25])
    ap.add_argument("--topologies", nargs="+", default=["clements", "reck"])
    ap.add_argument("--wiring", nargs="+", default=["auto"], choices=["auto", "cells", "polygons", "none"])
    args = ap.parse_args(argv)

    gf.gpdk.PDK.activate()
    mesh_layout(build_mesh("clements", 2), wiring="cells")
    print("| topology | N | MZIs | heaters | wiring | generate s (wall / cpu) | write s (wall / cpu) | total wall s | GDS MB "
          "| cpu ms / heater | per-heater cost / smallest N |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    reference: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            for topology in args.topologies:
                for wiring in args.wiring:
                    spec = build_mesh(topology, n)
                    c, gw, gc = _timed(lambda: mesh_layout(spec, wiring=wiring))
                    path = Path(tmp) / f"{topology}{n}_{wiring}.gds"
                    _, ww, wc = _timed(lambda: c.write_gds(gdspath=path))
                    per_heater = 1e3 * (gc + wc) / spec.n_params
                    base = reference.setdefault((topology, wiring), per_heater)
                    print(
                        f"| {topology} | {n} | {spec.n_mzis} | {spec.n_params} | {c.info['wiring']} "
                        f"| {gw:.2f} / {gc:.2f} | {ww:.2f} / {wc:.2f} | {gw + ww:.2f} "
                        f"| {path.stat().st_size / 1e6:.2f} | {per_heater:.2f} | {per_heater / base:.2f} |",
                        flush=True,
                    )


    print()
    print("| 2-layer clements chip N | generate s (wall / cpu) | write s (wall / cpu) | GDS MB | floating-metal check s |")
    print("|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            specs = [build_mesh("clements", n)] * 2
            c, gw, gc = _timed(lambda: chip_layout(specs))
            path = Path(tmp) / f"chip{n}.gds"
            _, ww, wc = _timed(lambda: c.write_gds(gdspath=path))
            errors, mw, _ = _timed(lambda: unconnected_metal(c))
            assert not errors, errors[:3]
            print(f"| {n} | {gw:.2f} / {gc:.2f} | {ww:.2f} / {wc:.2f} | {path.stat().st_size / 1e6:.2f} | {mw:.2f} |", flush=True)

    print()
    print("| what | wall ms | cpu ms |")
    print("|---|---:|---:|")
    fresh = [
        ("ffzero_heater_mzi(port_spacing=97)", lambda: cells.ffzero_heater_mzi(port_spacing=97.0)),
        ("ffzero_phase_screen_heater(length=91)", lambda: cells.ffzero_phase_screen_heater(length=91.0)),
        ("ffzero_photodetector(pad_size=31)", lambda: cells.ffzero_photodetector(pad_size=31.0)),
        ("ffzero_eo_activation(modulator_length=1999)", lambda: ffzero_eo_activation(modulator_length=1999.0)),
        ("ffzero_coherent_input(n_ports=7, pitch=101)", lambda: ffzero_coherent_input(n_ports=7, pitch=101.0)),
        ("ffzero_io_coupler(kind='edge')", lambda: cells.ffzero_io_coupler(kind="edge")),
        ("ffzero_pad(size=(61, 61))", lambda: cells.ffzero_pad(size=(61.0, 61.0))),
    ]
    for n in args.sizes:
        spec = build_mesh("clements", n)
        fresh += [(f"heater_positions_for(clements N={n}), cold", lambda spec=spec: heater_positions_for(spec)),
                  (f"heater_positions_for(clements N={n}), cached", lambda spec=spec: heater_positions_for(spec))]
    for what, fn in fresh:
        _, wall, cpu = _timed(fn)
        print(f"| {what} | {1e3 * wall:.1f} | {1e3 * cpu:.1f} |", flush=True)


if __name__ == "__main__":
    main()
