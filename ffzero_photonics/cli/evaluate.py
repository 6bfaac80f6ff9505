"""``ffzero evaluate RUN_DIR``: reload a run's checkpoint and evaluate it on the test split."""

from __future__ import annotations

import json

import click

from .options import existing_dir


@click.command("evaluate", short_help="evaluate a run directory on its test split")
@click.argument("run_dir", type=existing_dir())
def evaluate(run_dir: str) -> int:
    """Reload RUN_DIR's checkpoint and print its test metrics as JSON."""
    from ..runs import evaluate_run

    click.echo(json.dumps(evaluate_run(run_dir), indent=2))
    return 0
