"""``ffzero list [models|datasets|meshes|nonideal] [--json]``: what the other commands accept."""

from __future__ import annotations

import json
from typing import Any

import click

from .options import NamedChoice

TOPICS = ("models", "datasets", "meshes", "nonideal")


def models() -> dict[str, Any]:
    """Each model kind with its own options (default, choices)."""
    from ..registry import available_models

    return {
        name: {
            "description": entry.description,
            "recipe": dict(entry.recipe),
            "options": {o.name: {"type": o.type.__name__, "default": o.default, "choices": list(o.choices or ()),
                                 "list": o.is_list, "help": o.help} for o in entry.options},
        }
        for name, entry in available_models().items()
    }


def datasets() -> list[str]:
    from ..data import DATASET_NAMES

    return list(DATASET_NAMES)


def meshes() -> list[str]:
    from ..photonic.mesh_spec import TOPOLOGIES

    return list(TOPOLOGIES)


def nonideal() -> dict[str, Any]:
    """Every preset effect with its settings at each level (``combined`` = all effects at that level): the paper chip's
    normalized ``[nonideal.*]`` presets and a physical chip's physics-table presets."""
    from ..photonic.nonideal_config import EFFECTS, LEVELS, PHYSICAL_EFFECTS, physical_preset, severity_preset

    return {"normalized": {effect: {level: severity_preset(effect, level).to_dict(compact=True) for level in LEVELS}
                           for effect in EFFECTS},
            "physical": {effect: {level: physical_preset(effect, level) for level in LEVELS}
                         for effect in PHYSICAL_EFFECTS}}


NONIDEAL_HEADINGS = {"normalized": "the paper chip's [nonideal.*] tables; --nonideal EFFECT:LEVEL",
                     "physical": "a physical chip's physics tables; study robustness --chip-config"}


CATALOG = {"models": models, "datasets": datasets, "meshes": meshes, "nonideal": nonideal}


def _show(topic: str, entries: Any) -> None:
    click.echo(f"{topic}:")
    if topic == "models":
        for kind, entry in entries.items():
            options = ", ".join(f"--{n.replace('_', '-')} ({_fmt(o['default'])})" for n, o in entry["options"].items())
            click.echo(f"  {kind}: {entry['description']}\n    options: {options or 'none'}")
    elif topic == "nonideal":
        for kind, presets in entries.items():
            click.echo(f"  {kind} ({NONIDEAL_HEADINGS[kind]}):")
            for effect, levels in presets.items():
                if effect == "combined":
                    click.echo("    combined: the effects together at one level (settings: `ffzero list nonideal --json`)")
                else:
                    click.echo(f"    {effect}: " + "; ".join(f"{lv} {_fmt(v)}" for lv, v in levels.items()))
    else:
        click.echo("  " + ", ".join(entries))


def _fmt(value: Any, prefix: str = "") -> str:
    if isinstance(value, dict):
        return ", ".join(_fmt(v, f"{prefix}{k}.") if isinstance(v, dict) else f"{prefix}{k}={_fmt(v)}"
                         for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return "none" if value is None else str(value)


@click.command("list", short_help="list models, datasets, meshes, non-ideality presets")
@click.argument("topic", type=NamedChoice("topic", TOPICS), required=False)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def list_command(topic: str | None, as_json: bool) -> int:
    """List models (with their options), datasets, mesh topologies or non-ideality presets; all without TOPIC."""
    chosen = [topic] if topic else list(TOPICS)
    found = {t: CATALOG[t]() for t in chosen}
    if as_json:
        click.echo(json.dumps(found if topic is None else found[topic], indent=2, default=str))
    else:
        for t, entries in found.items():
            _show(t, entries)
    return 0
