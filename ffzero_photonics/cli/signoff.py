"""``ffzero signoff RUN_DIR --gds chip.gds --wavelengths 1.545:1.555:21 --corners``: the drawn chip over wavelength
and process corners.

Prints 1 - F (worst layer) and the test accuracy per wavelength and corner and writes ``signoff.json`` and
``signoff.png`` beside the GDS. Exit 0 when the layout was read without errors, 1 otherwise.
"""

from __future__ import annotations

from pathlib import Path

import click

from .options import SuffixPath, existing_dir, existing_file

EXIT_FAIL = 1


@click.command("signoff", short_help="fidelity and accuracy of an exported GDS over wavelength and process corners")
@click.argument("run_dir", type=existing_dir())
@click.option("--gds", type=SuffixPath(".gds", exists=True), required=True, help="the exported .gds file")
@click.option("--heaters", type=existing_file(), default=None,
              help="heater table CSV  [default: <gds stem>_heaters.csv beside the GDS]")
@click.option("--wavelengths", default="1.55", metavar="START:STOP:N",
              help="wavelengths in µm: START:STOP:N evenly spaced, or a comma list")
@click.option("--corners", is_flag=True,
              help="also the process corners: neff +-1e-4, width +-10 nm (neff +-1e-2), per-waveguide random sigma 1e-4")
def signoff(run_dir: str, gds: str, heaters: str | None, wavelengths: str, corners: bool) -> int:
    """Simulate the drawn chip (routes and every cell's own waveguides) at each wavelength and corner."""
    from ..tapeout.signoff import DEFAULT_CORNERS, parse_wavelengths, signoff_run
    from ..tapeout.signoff_files import write_signoff

    wl = parse_wavelengths(wavelengths)
    report = signoff_run(run_dir, gds, wl, DEFAULT_CORNERS if corners else DEFAULT_CORNERS[:1], heater_csv=heaters)
    click.echo(report.text())
    json_path, png_path = write_signoff(report, Path(gds).parent)
    click.echo(f"wrote {json_path} and {png_path}")
    return EXIT_FAIL if report.errors else 0
