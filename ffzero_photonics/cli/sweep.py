"""``ffzero sweep SWEEP.toml --out DIR``: a grid of independent trainings on local processes or Dask."""

from __future__ import annotations

from pathlib import Path

import click

from .options import NON_NEGATIVE_INT, existing_file


@click.command("sweep", short_help="run a grid of independent trainings")
@click.argument("sweep_file", metavar="SWEEP.toml", type=existing_file())
@click.option("--out", type=click.Path(file_okay=False), required=True, help="sweep directory (cells/, summary.csv, summary.md)")
@click.option("--scheduler", default=None,
              help="a running Dask scheduler (tcp://HOST:8786), or 'local' to start a LocalCluster of --workers processes")
@click.option("--workers", type=NON_NEGATIVE_INT, default=None,
              help="local worker processes, or the LocalCluster's (0 = in this process)  [default: CPU count]")
@click.option("--no-progress", is_flag=True, help="no progress bar")
def sweep(sweep_file: str, out: str, scheduler: str | None, workers: int | None, no_progress: bool) -> int:
    """Run every unfinished cell of SWEEP.toml; exit 0 if every cell finished, 1 if any failed."""
    from ..scale.sweep import run_sweep

    records = run_sweep(sweep_file, out, workers=workers, scheduler=scheduler, progress=not no_progress,
                        log=lambda m: click.echo(m, err=True))
    failed = [r for r in records if r.get("status") != "ok"]
    click.echo(f"{len(records)} cells: {len(records) - len(failed)} finished, {len(failed)} failed | "
               f"summary: {Path(out) / 'summary.md'}")
    return 1 if failed else 0
