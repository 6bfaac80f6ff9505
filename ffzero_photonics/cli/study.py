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
def robustness(out: str, bounded: bool, seeds: int | None, workers: int | None, scheduler: str | None,
               chip_config: str | None) -> int:
    """Offline vs in-situ training under fabrication, drive, crosstalk, noise and drift; writes OUT/summary.md."""
    from ..studies.robustness import run_robustness

    kwargs = {key: value for key, value in (("seeds", seeds), ("workers", workers)) if value is not None}
    if chip_config is not None:
        kwargs.update(study_chip(chip_config))
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
