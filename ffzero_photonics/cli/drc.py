"""``ffzero drc chip.gds``: design-rule check of a layout on the PDK's rules; exit 0 when clean, 1 on any violation."""

from __future__ import annotations

import json

import click

from .options import existing_file

EXIT_VIOLATIONS = 1


@click.command("drc", short_help="check a GDS layout against the PDK's design rules")
@click.argument("gds", type=existing_file())
@click.option("--json", "as_json", is_flag=True, help="print the violations as a JSON list instead of text")
def drc(gds: str, as_json: bool) -> int:
    """Print every design-rule violation in GDS (layer, rule, coordinates in um); exit 1 if there is any."""
    from ..components.rules import CORNERSTONE_SI220
    from ..layouts.drc import run_drc

    violations = run_drc(gds, CORNERSTONE_SI220)
    if as_json:
        click.echo(json.dumps([v.as_dict() for v in violations], indent=1))
    else:
        for v in violations:
            click.echo(str(v))
        click.echo(f"{gds}: {len(violations)} DRC violation{'s' if len(violations) != 1 else ''} "
                   f"({CORNERSTONE_SI220.platform})")
    return EXIT_VIOLATIONS if violations else 0
