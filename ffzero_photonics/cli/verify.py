"""``ffzero verify RUN_DIR --gds chip.gds [--wavelengths 1.545:1.555:21 --corners]``: post-layout verification of an
exported photonic run, and its sign-off over wavelength and process corners.

Exit 0 on PASS, 1 on FAIL, 2 on bad input (nothing is written then). The sign-off writes ``signoff.json`` and
``signoff.png`` into the run directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import UserInputError
from .options import POSITIVE_FLOAT, NamedChoice, SuffixPath, existing_dir, existing_file

EXIT_FAIL = 1
DATA_SIZED = ("seed", "n_features", "image_shape")  # set by the run's data and --seed, not by the design


@click.command("verify", short_help="check an exported GDS against the trained run")
@click.argument("run_dir", type=existing_dir())
@click.option("--gds", type=SuffixPath(".gds", exists=True), required=True, help="the exported .gds file")
@click.option("--heaters", type=existing_file(), default=None,
              help="heater table CSV  [default: <gds stem>_heaters.csv beside the GDS]")
@click.option("--route-phases", type=NamedChoice("route-phases mode", ("auto", "include", "exclude")), default="auto",
              help="include the routed waveguides' and the cells' own waveguides' phases in the pass criterion (auto = include; exclude checks "
                   "the route-free circuit: wiring and connectivity only)")
@click.option("--tol", type=POSITIVE_FLOAT, default=1e-6, help="largest allowed |U_layout - U_trained|")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="also write the full report as JSON to this path")
@click.option("--config", "config_path", type=existing_file(), default=None, metavar="CHIP.toml",
              help="the chip configuration the run should match: [chip], [nonideal] and a physical chip's "
                   "physics tables (checked before verifying)")
@click.option("--engine", type=NamedChoice("engine", ("auto", "numpy", "sax")), default="auto",
              help="simulation of the extracted circuit: numpy, the sax netlist, or auto (numpy, cross-checked with sax "
                   "up to N = 25)")
@click.option("--wavelengths", default=None, metavar="START:STOP:N",
              help="also sign off over these wavelengths in µm (START:STOP:N evenly spaced, or a comma list)")
@click.option("--corners", is_flag=True,
              help="also sign off over the process corners: neff +-1e-4, width +-10 nm (neff +-1e-2), per-waveguide "
                   "random sigma 1e-4")
def verify(run_dir: str, gds: str, heaters: str | None, route_phases: str, tol: float, json_path: str | None,
           config_path: str | None, engine: str, wavelengths: str | None, corners: bool) -> int:
    """Read the GDS back, simulate it at the heater table's phases and compare with the trained chip."""
    return run_verify(run_dir, gds, heaters=heaters, route_phases=route_phases, tol=tol, json_path=json_path,
                      config_path=config_path, engine=engine, wavelengths=wavelengths, corners=corners)


def run_verify(run_dir: str, gds: str, *, heaters: str | None = None, route_phases: str = "auto", tol: float = 1e-6,
               json_path: str | None = None, config_path: str | None = None, engine: str = "auto",
               wavelengths: str | None = None, corners: bool = False) -> int:
    """``ffzero verify`` (and its alias ``ffzero signoff``): check every input, verify, then write the files."""
    from ..tapeout import verify_run
    from ..tapeout.signoff import DEFAULT_CORNERS, parse_wavelengths
    from ..tapeout.signoff_files import atomic_write, write_signoff

    if json_path is not None and not Path(json_path).parent.exists():
        raise UserInputError(f"--json: directory {str(Path(json_path).parent)!r} does not exist")
    wl = parse_wavelengths(wavelengths) if wavelengths is not None else None
    if config_path is not None:
        check_run_matches_config(run_dir, config_path)
    report = verify_run(run_dir, gds, heater_csv=heaters, route_phases=route_phases, tol=tol, engine=engine,
                        wavelengths=wl, corners=list(DEFAULT_CORNERS) if corners else None)
    click.echo(report.text())
    if wl is not None or corners:
        written = write_signoff(report.signoff, run_dir)
        click.echo(f"wrote {written[0]} and {written[1]}")
    if json_path is not None:
        text = json.dumps(report.to_dict(), indent=2, default=str)
        atomic_write(Path(json_path), lambda tmp: tmp.write_text(text))
    return 0 if report.passed else EXIT_FAIL


def check_run_matches_config(run_dir: str, config_path: str) -> None:
    """UserInputError naming the first design setting where the run's chip differs from the config file."""
    from ..photonic.chip_config import ChipConfig
    from ..photonic.nonideal_config import NonIdealConfig
    from ..photonic.physical import PHYSICS_SECTIONS, Physics
    from ..runs import RUN_RECORD, read_run_record

    if not (Path(run_dir) / RUN_RECORD).is_file():
        raise UserInputError(f"{run_dir} holds no {RUN_RECORD}: not a training run directory")
    trained = read_run_record(run_dir)["model_config"]
    config = ChipConfig.from_toml(config_path)
    for key, value in config.chip.to_dict().items():
        if key in DATA_SIZED or key not in trained:
            continue
        got = trained[key]
        if (list(got) if isinstance(got, tuple) else got) != (list(value) if isinstance(value, tuple) else value):
            raise UserInputError(f"{config_path}: [chip] {key} = {value!r} but run {run_dir} trained {got!r}")
    if NonIdealConfig.from_dict(trained.get("nonideal")) != config.nonideal:
        raise UserInputError(f"{config_path}: [nonideal] differs from the non-idealities run {run_dir} trained with")
    run_model = "physical" if trained.get("physics") is not None else "paper"
    if run_model != config.chip.model:
        raise UserInputError(f"{config_path}: [chip] model = {config.chip.model!r} but run {run_dir} trained {run_model!r}")
    if config.is_physical:
        ours, theirs = Physics.from_dict(config.physics_tables()), Physics.from_dict(trained["physics"])
        for name in PHYSICS_SECTIONS:
            if getattr(ours, name) != getattr(theirs, name):
                raise UserInputError(f"{config_path}: [{name}] differs from the physics run {run_dir} trained with")
