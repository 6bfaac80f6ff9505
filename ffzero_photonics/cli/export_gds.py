"""``ffzero export-gds``: the GDS layout, heater table and PNG preview of a mesh, a chip config or a trained run."""

from __future__ import annotations

import csv
from pathlib import Path

import click

from ..errors import UserInputError
from ..photonic.mesh_spec import TOPOLOGIES
from ..photonic.nonideal_config import Drive
from .options import POSITIVE_FLOAT, POSITIVE_INT, NamedChoice, SuffixPath, existing_dir, existing_file, with_default

LAYOUT_DEFAULTS = {"mesh": "clements", "ports": 8, "layers": 1}
HEATERS = Drive()  # heater calibration defaults: the design's [nonideal.drive] table


@click.command("export-gds", short_help="write the GDS layout of a mesh, chip config or trained run")
@click.option("--from", "run_dir", type=existing_dir(), default=None, help="a photonic run directory: export the trained chip")
@click.option("--config", "config_path", type=existing_file(), default=None, metavar="CHIP.toml",
              help="take the untrained layout's mesh, ports and layers, and the heaters' p_pi_mW and resistance_ohm "
                   "([heaters] of a physical chip, else [nonideal.drive]), from a chip configuration file")
@click.option("--mesh", type=NamedChoice("mesh topology", TOPOLOGIES), default=None,
              help=with_default("mesh topology (untrained layout)", LAYOUT_DEFAULTS["mesh"]))
@click.option("--ports", type=POSITIVE_INT, default=None,
              help=with_default("ports per mesh", LAYOUT_DEFAULTS["ports"]))
@click.option("--layers", type=POSITIVE_INT, default=None,
              help=with_default("mesh layers", LAYOUT_DEFAULTS["layers"]))
@click.option("--out", type=SuffixPath(".gds"), required=True, help="path of the .gds file to write")
@click.option("--p-pi-mw", type=POSITIVE_FLOAT, default=None,
              help=with_default("heater power for a pi phase shift (mW)", f"{HEATERS.p_pi_mW:g}, or the config's or "
                                "physical run's"))
@click.option("--resistance-ohm", type=POSITIVE_FLOAT, default=None,
              help=with_default("heater resistance (ohm)", f"{HEATERS.resistance_ohm:g}, or the config's or "
                                "physical run's"))
@click.option("--fold", type=POSITIVE_INT, default=None,
              help=with_default("fold the layout into this many bands joined by U-turns (a serpentine, for long "
                                "meshes)", "1, or the config's or trained run's [chip] fold"))
@click.option("--raw-phases", is_flag=True,
              help="write the trained phases as they are (no compensation of route and cell-path phases)")
def export_gds(run_dir: str | None, config_path: str | None, mesh: str | None, ports: int | None, layers: int | None,
               out: str, p_pi_mw: float | None, resistance_ohm: float | None, fold: int | None, raw_phases: bool) -> int:
    """Write OUT (GDS), OUT_heaters.csv and OUT.png."""
    out_path = Path(out)
    if not out_path.parent.exists():
        raise UserInputError(f"--out: directory {str(out_path.parent)!r} does not exist")
    layout = {k: v for k, v in (("mesh", mesh), ("ports", ports), ("layers", layers)) if v is not None}
    if run_dir is not None and (layout or config_path):
        raise UserInputError("--from exports the trained chip's own layout; drop --config/--mesh/--ports/--layers")
    design = design_from_config(config_path) if config_path else {}
    heaters = {"p_pi_mW": HEATERS.p_pi_mW, "resistance_ohm": HEATERS.resistance_ohm, **design.pop("heaters", {})}
    given = {k: v for k, v in (("p_pi_mW", p_pi_mw), ("resistance_ohm", resistance_ohm)) if v is not None}
    heaters.update(given)
    if run_dir is not None:
        from ..tapeout import export_run

        result, compensated = export_run(run_dir, out_path, compensate_routes=not raw_phases, fold=fold, **given)
        if compensated:
            click.echo("heater phases compensate the routed waveguides' and the cells' own waveguides' phases (verify with `ffzero verify`)")
    else:
        from ..photonic.mesh_spec import build_mesh
        from ..tapeout import export_chip

        chosen = {**LAYOUT_DEFAULTS, **design, **layout}
        fold = chosen.pop("fold", 1) if fold is None else fold
        specs = [build_mesh(chosen["mesh"], chosen["ports"]) for _ in range(chosen["layers"])]
        result = export_chip(specs if len(specs) > 1 else specs[0], None, out_path, **heaters,
                             **({"fold": fold} if fold != 1 else {}))
    click.echo(f"wrote {result.gds_path} ({result.n_heaters} heaters, {result.n_pads} pads), "
               f"heater table {result.csv_path}, preview {result.png_path}")
    report_tapeout(result.gds_path, result.csv_path)
    return 0


def report_tapeout(gds_path: Path, csv_path: Path) -> None:
    """Print die size, total heater power and the DRC count of a written GDS; warn when the die exceeds the reticle."""
    from ..components.rules import CORNERSTONE_SI220 as rules
    from ..layouts.drc import die_size_mm, fits_reticle, run_drc

    width, height = die_size_mm(gds_path)
    power_w = total_heater_power_w(csv_path)
    power = "n/a (untrained: the table has no drive powers)" if power_w is None else f"{power_w:.4f} W"
    click.echo(f"die {width:.3f} x {height:.3f} mm, total heater power {power}")
    if not fits_reticle((width, height), rules):
        click.echo(f"warning: die {width:.3f} x {height:.3f} mm exceeds the {rules.reticle_mm[0]:g} x "
                   f"{rules.reticle_mm[1]:g} mm reticle", err=True)
    count = len(run_drc(gds_path, rules))
    click.echo(f"DRC ({rules.platform}): {count} violation{'s' if count != 1 else ''}"
               + (f"; list them with `ffzero drc {gds_path}`" if count else ""))


def total_heater_power_w(csv_path: Path) -> float | None:
    """Sum of the heater table's drive powers in W; None when the table has none (an untrained layout)."""
    with open(csv_path, newline="") as f:
        powers = [row["power_mW"] for row in csv.DictReader(f)]
    if not any(p.strip() for p in powers):
        return None
    return sum(float(p) for p in powers if p.strip()) / 1000.0


def design_from_config(path: str) -> dict:
    """mesh, ports, layers, fold and the heaters' calibration ([heaters] of a physical chip) a configuration file describes."""
    from ..photonic.chip_config import ChipConfig

    config = ChipConfig.from_toml(path)
    drive = config.heaters if config.is_physical else config.nonideal.drive
    return {"mesh": config.chip.mesh, "ports": config.chip.ports, "layers": config.chip.layers, "fold": config.chip.fold,
            "heaters": {"p_pi_mW": drive.p_pi_mW, "resistance_ohm": drive.resistance_ohm}}
