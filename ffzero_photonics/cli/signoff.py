"""``ffzero signoff RUN_DIR --gds chip.gds --wavelengths 1.545:1.555:21 --corners``: an alias of
``ffzero verify RUN_DIR --gds chip.gds --wavelengths ... [--corners]`` (the wavelength defaulting to 1.55 µm).

Verifies the chip, prints 1 - F (worst layer) and the test accuracy per wavelength and corner and writes
``signoff.json`` and ``signoff.png`` into the run directory. Exit 0 on PASS, 1 on FAIL, 2 on bad input.
"""

from __future__ import annotations

import click

from .options import SuffixPath, existing_dir, existing_file
from .verify import run_verify


@click.command("signoff", short_help="alias of `ffzero verify --wavelengths ... --corners`")
@click.argument("run_dir", type=existing_dir())
@click.option("--gds", type=SuffixPath(".gds", exists=True), required=True, help="the exported .gds file")
@click.option("--heaters", type=existing_file(), default=None,
              help="heater table CSV  [default: <gds stem>_heaters.csv beside the GDS]")
@click.option("--wavelengths", default="1.55", metavar="START:STOP:N",
              help="wavelengths in µm: START:STOP:N evenly spaced, or a comma list")
@click.option("--corners", is_flag=True,
              help="also the process corners: neff +-1e-4, width +-10 nm (neff +-1e-2), per-waveguide random sigma 1e-4")
def signoff(run_dir: str, gds: str, heaters: str | None, wavelengths: str, corners: bool) -> int:
    """Verify the drawn chip and simulate it (routes and every cell's own waveguides) at each wavelength and corner."""
    return run_verify(run_dir, gds, heaters=heaters, wavelengths=wavelengths, corners=corners)
