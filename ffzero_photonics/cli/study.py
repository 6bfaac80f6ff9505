"""``ffzero study robustness``: offline vs in-situ training of non-ideal chips, ablations, Monte Carlo."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserInputError
from .options import POSITIVE_INT, LazyHelpOption, existing_file, with_default

STUDY_CHIP_KEYS = {("chip", "ports"), ("chip", "layers")}
# [chip] keys the study sets itself (seed per run, fabricated instance, data-sized encoder)
STUDY_SETS = ("seed", "instance_seed", "n_features", "image_shape")


@click.group("study", short_help="studies that train many models")
def study() -> None:
    """Studies that train many models."""


@study.command("robustness", short_help="offline vs in-situ training of non-ideal chips")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="output directory (CSV, markdown, plots, summary.md)")
@click.option("--bounded", is_flag=True, help="the ~3-minute CI form: 1 seed, fewer effects and epochs")
@click.option("--seeds", type=POSITIVE_INT, default=None, cls=LazyHelpOption, help_text=lambda: with_default(
    "seeds per cell", f"{_plan().seeds}; {_plan().bounded().seeds} when --bounded"))
@click.option("--workers", type=POSITIVE_INT, default=None, cls=LazyHelpOption,
              help_text=lambda: with_default("worker processes", _plan().workers))
@click.option("--scheduler", default=None,
              help="run the trainings on a Dask cluster: tcp://HOST:8786, or local to start one on this machine")
@click.option("--chip-config", type=existing_file(), default=None, metavar="CHIP.toml",
              help="the study's chip from a chip configuration file: ports and layers of the paper chip; a physical "
                   "chip's design and physics tables, its effect grid then on those tables (`ffzero list nonideal`)")
@click.option("--effects", default=None, metavar="EFFECT[:LEVEL/LEVEL],...",
              help="the grid's effects, each at --levels or at its own levels, e.g. laser,crosstalk:high,drift:medium/high "
                   "(default: the chip's full grid)")
@click.option("--levels", default=None, metavar="LEVEL,...", help="severities of the effects without their own: low,medium,high")
@click.option("--methods", default=None, metavar="METHOD,...",
              help="grid methods: offline, ffzero (paper ε), ffzero-hw (recipe ε); at least one in situ")
@click.option("--epochs", type=POSITIVE_INT, default=None, help="in-situ epochs per layer of every grid run")
@click.option("--offline-epochs", type=POSITIVE_INT, default=None, help="BP+AD epochs on the digital twin")
@click.option("--grid-only", is_flag=True, help="only the effect grid: no ablations, Monte Carlo or wavelength sweep")
def robustness(out: str, bounded: bool, seeds: int | None, workers: int | None, scheduler: str | None,
               chip_config: str | None, effects: str | None, levels: str | None, methods: str | None,
               epochs: int | None, offline_epochs: int | None, grid_only: bool) -> int:
    """Offline vs in-situ training under fabrication, drive, crosstalk, noise and drift; writes OUT/summary.md."""
    from ..studies.robustness import run_robustness

    kwargs = {key: value for key, value in (("seeds", seeds), ("workers", workers), ("epochs", epochs),
                                            ("offline_epochs", offline_epochs)) if value is not None}
    if chip_config is not None:
        kwargs.update(study_chip(chip_config))
    kwargs.update(grid_options(effects, levels, methods, grid_only))
    result = run_robustness(out, bounded=bounded, scheduler=scheduler,
                            log=lambda m: click.echo(m, err=True), **kwargs)
    click.echo(f"robustness study written to {out} ({result['wall_time_s']:.0f} s); see {Path(out) / 'summary.md'}")
    return 0


def _plan():
    from ..studies.robustness import StudyPlan

    return StudyPlan()


def study_chip(path: str) -> dict:
    """StudyPlan overrides (ports, layers; a physical chip's whole config) from a chip configuration file; design values
    the study cannot honour are refused ([instrument] is `chip serve`'s and does not apply)."""
    from ..photonic.chip_config import ChipConfig

    config = ChipConfig.from_toml(path)
    if config.is_physical:
        fixed = [f"[chip] {key}" for key in config.chip.to_dict(compact=True) if key in STUDY_SETS]
        if fixed:
            raise UserInputError(f"{path}: {', '.join(fixed)} cannot be set for the robustness study, which sets "
                                 "seeds, fabricated instances and the input size itself")
        tables = {k: v for k, v in config.to_dict(compact=True).items() if k != "instrument"}
        return {"ports": config.chip.ports, "layers": config.chip.layers, "chip_config": tables}
    unused = [f"[{table}] {key}" for table, keys in config.to_dict(compact=True).items() for key in keys
              if table != "instrument" and (table, key) not in STUDY_CHIP_KEYS]
    if unused:
        raise UserInputError(f"{path}: {', '.join(unused)} cannot be set for the robustness study, which draws its "
                             "own non-idealities; it takes [chip] ports and layers")
    return {"ports": config.chip.ports, "layers": config.chip.layers}


def _names(option: str, text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(","))
    if not all(names):
        raise UserInputError(f"{option} must be comma-separated names, got {text!r}")
    return names


def grid_options(effects: str | None, levels: str | None, methods: str | None, grid_only: bool) -> dict:
    """StudyPlan overrides from the grid options; names are checked by StudyPlan, the syntax here (one-line errors)."""
    over: dict = {}
    if effects is not None:
        names, own = [], []
        for item in _names("--effects", effects):
            name, sep, lvs = item.partition(":")
            if sep:
                lv = tuple(v.strip() for v in lvs.split("/"))
                if not all(lv):
                    raise UserInputError(f"--effects item {item!r} must be EFFECT or EFFECT:LEVEL/LEVEL")
                own.append((name.strip(), lv))
            names.append(name.strip())
        if len(set(names)) != len(names):
            raise UserInputError(f"--effects names an effect twice: {effects!r}")
        over.update(effects=tuple(names), effect_levels=tuple(own))
    if levels is not None:
        over["levels"] = _names("--levels", levels)
    if methods is not None:
        over["methods"] = _names("--methods", methods)
    if grid_only:
        over.update(photonic_ablations=(), mlp_ablations=(), mc_instances=0, mc_retrain=0, wavelengths=())
    return over
