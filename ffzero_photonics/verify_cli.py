"""``ffzero verify RUN_DIR --gds chip.gds [--heaters CSV]``: post-layout verification from the command line.

Prints the short report of :func:`ffzero_photonics.verify.verify_run` and
exits 0 on PASS, 1 on FAIL; bad input raises ValueError / FileNotFoundError
with a one-line message (``cli.main`` prints it and exits 2).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .argtypes import positive_float

__all__ = ["EXIT_FAIL", "add_verify_parser", "cmd_verify"]

EXIT_FAIL = 1


def add_verify_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``verify`` sub-command to an ``add_subparsers()`` object; returns its parser."""
    v = subparsers.add_parser(
        "verify",
        help="check that an exported GDS + heater table computes what a photonic run trained",
        description=(
            "Read the GDS back, extract every layer's optical circuit and heater wiring, simulate it with sax "
            "at the heater table's phases and compare with the trained chip (per-layer max |U_layout - U_trained| "
            "and test accuracy). Exit 0 on PASS, 1 on FAIL."
        ),
    )
    v.add_argument("run_dir", help="photonic run directory (holds checkpoint.npz)")
    v.add_argument("--gds", required=True, help="the exported .gds file")
    v.add_argument("--heaters", default=None, help="heater table CSV (default: <gds stem>_heaters.csv beside the GDS)")
    v.add_argument(
        "--route-phases",
        default="auto",
        choices=("auto", "exclude", "include"),
        help="include the routed waveguides' phases in the pass criterion (default auto = include; exclude checks the route-free circuit: wiring and connectivity only)",
    )
    v.add_argument("--tol", type=positive_float, default=1e-6, help="largest allowed |U_layout - U_trained| (default 1e-6)")
    v.add_argument("--json", dest="json_path", default=None, help="also write the full report as JSON to this path")
    return v


def cmd_verify(args: argparse.Namespace) -> int:
    """Run the verification of ``args`` and print its report; 0 on PASS, :data:`EXIT_FAIL` on FAIL."""
    from ffzero_photonics.verify import verify_run

    run_dir, gds = Path(args.run_dir), Path(args.gds)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {str(run_dir)!r} does not exist")
    if gds.suffix.lower() != ".gds":
        raise ValueError(f"--gds must name a .gds file, got {args.gds!r}")
    if not gds.is_file():
        raise FileNotFoundError(f"GDS file {str(gds)!r} does not exist")
    if args.heaters is not None and not Path(args.heaters).is_file():
        raise FileNotFoundError(f"heater table {args.heaters!r} does not exist")
    json_path = getattr(args, "json_path", None)
    if json_path is not None and not Path(json_path).parent.exists():
        raise FileNotFoundError(f"directory of --json {json_path!r} does not exist")
    report = verify_run(
        run_dir, gds, heater_csv=args.heaters, route_phases=getattr(args, "route_phases", "auto"),
        tol=getattr(args, "tol", 1e-6),
    )
    print(report.text())
    if json_path is not None:
        Path(json_path).write_text(json.dumps(report.to_dict(), indent=2, default=str))
    return 0 if report.passed else EXIT_FAIL
