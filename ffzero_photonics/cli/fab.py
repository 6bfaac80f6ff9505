"""``ffzero fab RUN --gds chip.gds --instances 100 --out DIR``: a virtual fab of an exported chip.

Draws fabricated instances of the drawn layout, tests each with the exported heater table, fine-tunes each in situ
with FFzero through the black box only and writes DIR/fab.csv, DIR/fab.json and DIR/yield.png.
"""

from __future__ import annotations

import click

from .options import (
    NON_NEGATIVE_FLOAT,
    NON_NEGATIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    SuffixPath,
    existing_dir,
    existing_file,
)


@click.command("fab", short_help="yield of fabricated instances of an exported GDS, before and after in-situ FFzero")
@click.argument("run_dir", type=existing_dir())
@click.option("--gds", type=SuffixPath(".gds", exists=True), required=True, help="the exported .gds file")
@click.option("--heaters", type=existing_file(), default=None,
              help="heater table CSV  [default: <gds stem>_heaters.csv beside the GDS]")
@click.option("--instances", type=POSITIVE_INT, default=100, help="fabricated instances to draw")
@click.option("--epochs", type=NON_NEGATIVE_INT, default=None,
              help="in-situ FFzero epochs per layer on each instance (0: test only)  [default: 10]")
@click.option("--budget-queries", type=POSITIVE_INT, default=None,
              help="instead of --epochs: the most training sample queries per instance")
@click.option("--lr", type=POSITIVE_FLOAT, default=None, help="fine-tune learning rate  [default: the run's]")
@click.option("--seed", type=NON_NEGATIVE_INT, default=0, help="seed of the fab: instance k of seed s is always the same chip")
@click.option("--workers", type=POSITIVE_INT, default=1, help="worker processes (one instance each at a time)")
@click.option("--sigma-neff", type=NON_NEGATIVE_FLOAT, default=1e-4, help="local neff spread per drawn waveguide piece")
@click.option("--width-sigma-nm", type=NON_NEGATIVE_FLOAT, default=0.1,
              help="waveguide width spread per instance (nm; d neff / d width = 1e-3 per nm)")
@click.option("--mmi-std", type=NON_NEGATIVE_FLOAT, default=0.01, help="MMI power splitting ratio spread around 0.5")
@click.option("--p-pi-spread", type=NON_NEGATIVE_FLOAT, default=0.05, help="relative spread of each heater's P_pi")
@click.option("--resistance-spread", type=NON_NEGATIVE_FLOAT, default=0.05, help="relative spread of each heater's resistance")
@click.option("--crosstalk/--no-crosstalk", default=True, help="thermal crosstalk over the drawn heater positions")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="output directory")
def fab(run_dir: str, gds: str, heaters: str | None, instances: int, epochs: int | None, budget_queries: int | None,
        lr: float | None, seed: int, workers: int, sigma_neff: float, width_sigma_nm: float, mmi_std: float,
        p_pi_spread: float, resistance_spread: float, crosstalk: bool, out_dir: str) -> int:
    """Draw INSTANCES chips of the exported layout; yield before and after in-situ FFzero fine-tuning."""
    from ..fab.files import write_fab
    from ..fab.run import run_fab
    from ..fab.spread import FabSpread

    spread = FabSpread(sigma_neff=sigma_neff, width_sigma_nm=width_sigma_nm, mmi_std=mmi_std, p_pi_spread=p_pi_spread,
                       resistance_spread=resistance_spread, crosstalk=crosstalk)
    result = run_fab(run_dir, gds, instances=instances, heater_csv=heaters, spread=spread, seed=seed, epochs=epochs,
                     budget_queries=budget_queries, lr=lr, workers=workers, progress=True)
    s = result.summary()
    click.echo(f"{s['instances']} instances of {gds}: drawn design {s['exported_accuracy']:.4f}; median test accuracy "
               f"{s['accuracy_before']['median']:.4f} as fabricated -> {s['accuracy_after']['median']:.4f} after "
               f"{result.epochs} in-situ epochs/layer ({s['sample_queries_per_instance']['mean']:,.0f} sample queries, "
               f"{s['lab_s_per_instance']['mean']:.2f} lab s per instance)")
    click.echo("yield at accuracy >= a: " + ", ".join(
        f"{a}: {s['yield_before'][a]:.2f} -> {s['yield_after'][a]:.2f}" for a in s["yield_before"]))
    paths = write_fab(result, out_dir)
    click.echo("wrote " + ", ".join(str(p) for p in paths))
    return 0
