"""End to end: design a mesh chip, train it on digits with FFzero, export the GDS + heater table, verify the layout.

    python examples/end_to_end.py                      # 16 ports, 2 Clements layers, ~1 min on 2 cores
    python examples/end_to_end.py --out /tmp/e2e --epochs 20

Steps: (1) train a photonic run (``runs.train_run``), (2) export its layout
and heater drive table (``tapeout.export_run``), (3) verify that the
GDS, driven by that table, computes what was trained (``tapeout.verify_run``),
the heater table being compensated for the phases of the routed waveguides and of every drawn
cell's own waveguides (an MZI's leads, arms and fans), (4) show that the uncompensated trained
phases fail on the drawn chip. Re-running with the same ``--out``
resumes the finished run instead of training again.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ffzero_photonics.runs import RunSpec, load_run, train_run
from ffzero_photonics.tapeout import export_chip, export_run, verify_run
from ffzero_photonics.trainer import TrainConfig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/end_to_end", help="directory for the run, GDS files and tables")
    ap.add_argument("--ports", type=int, default=16, help="ports per mesh (a square number pools the 8x8 digits)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--mesh", default="clements", choices=["clements", "reck"])
    ap.add_argument("--epochs", type=int, default=150, help="FFzero epochs per layer")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    run_dir = out / "run"
    spec = RunSpec(
        model="photonic",
        model_options={"ports": args.ports, "layers": args.layers, "mesh": args.mesh},
        dataset="digits",
        train=TrainConfig(paradigm="ffzero", epochs=args.epochs, batch_size=16, lr=1e-2, optimizer="adam", schedule="cosine"),
    )
    metrics = train_run(spec, run_dir, progress=False, log=print)
    print(f"[1] trained {args.layers} x {args.mesh} N={args.ports} on digits: test accuracy {metrics['test_accuracy']:.4f} "
          f"({metrics['queries']:,} training sample queries)")

    exported, _ = export_run(run_dir, out / "chip.gds")
    print(f"[2] wrote {exported.gds_path} ({exported.n_heaters} heaters, {exported.n_pads} pads) and "
          f"{exported.csv_path.name} (phases compensated for the routes and the cells' own waveguides)")

    report = verify_run(run_dir, exported.gds_path)
    print("[3] " + report.text().replace("\n", "\n    "))

    _, _, chip, _ = load_run(run_dir)
    raw = export_chip(list(chip.specs), [chip.get_params(l) for l in range(chip.n_layers)], out / "chip_raw.gds")
    plain = verify_run(run_dir, raw.gds_path)
    print(f"[4] the trained phases written as they are would give {plain.layout_accuracy_routes:.4f} on the drawn chip "
          f"(max deviation {max(plain.deviation_routes):.2f}) -> {'PASS' if plain.passed else 'FAIL'}, as it should")

    print(f"verified test accuracy {report.layout_accuracy_routes:.4f} (trained {report.trained_accuracy:.4f}); "
          f"{time.perf_counter() - t0:.0f} s in all")
    return 0 if report.passed and not plain.passed else 1


if __name__ == "__main__":
    sys.exit(main())
