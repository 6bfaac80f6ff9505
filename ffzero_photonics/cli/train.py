"""``ffzero train``: train a model and write a run directory; the model options come from the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..data import BUILTIN_DATASETS, DATASET_NAMES
from ..errors import UserInputError
from ..method.engine_jax import BACKENDS
from ..method.estimators import DIRECTIONS, SCHEMES
from ..method.losses import LOSSES
from ..method.optim import OPTIMIZERS, SCHEDULES
from ..method.prototypes import PROTOTYPE_KINDS
from ..method.search import ESTIMATORS
from ..photonic.nonideal_config import DESIGN_WAVELENGTH_UM, parse_preset
from ..registry import OptionSpec, available_models
from ..train_config import PARADIGM_DEFAULTS, PARADIGMS, TWINS, TrainConfig, default_train
from .options import (INT_LIST, NON_NEGATIVE_FLOAT, NON_NEGATIVE_INT, POSITIVE_FLOAT, POSITIVE_INT, DatasetName,
                      NamedChoice, Number, Presets, existing_file, with_default)

TRAIN_KEYS = ("epochs", "batch_size", "lr", "eps", "n_dirs", "scheme", "directions", "optimizer", "schedule", "loss",
              "prototypes", "margin", "temperature", "proj_dim", "checkpoint_every", "backend", "estimator", "twin",
              "layer_epochs")
CHIP_FLAGS = ("chip_config", "nonideal", "wavelength", "instance_seed")
OWN_PARAMS = {"model", "paradigm", "dataset", "seed", "out", "no_progress", *TRAIN_KEYS, *CHIP_FLAGS}
MODELS = available_models()


def _text(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def recipe_default(key: str) -> str:
    """A training setting's default as help text: per paradigm where they differ, then per model recipe."""
    base = getattr(TrainConfig(), key)
    per_paradigm = {p: PARADIGM_DEFAULTS[p].get(key, base) for p in PARADIGMS}
    if len(set(per_paradigm.values())) > 1:
        text = ", ".join(f"{p} {_text(v)}" for p, v in per_paradigm.items())
    else:
        text = _text(next(iter(per_paradigm.values())))
    per_model = [f"{name} {_text(entry.recipe[key])}" for name, entry in MODELS.items() if key in entry.recipe]
    return "; ".join([text, *per_model])


def model_options() -> dict[str, dict[str, OptionSpec]]:
    """option name -> {model name: its spec}, over every registered model."""
    found: dict[str, dict[str, OptionSpec]] = {}
    for name, entry in MODELS.items():
        for spec in entry.options:
            if spec.name in OWN_PARAMS:
                raise TypeError(f"model {name!r} declares option {spec.name!r}, which `ffzero train` already has")
            found.setdefault(spec.name, {})[name] = spec
    return found


def _param_type(spec: OptionSpec) -> Any:
    if spec.is_list:
        if spec.type is not int:
            raise TypeError(f"option {spec.name!r}: the CLI reads lists of int only, not of {spec.type.__name__}")
        return INT_LIST
    if spec.choices:
        return NamedChoice(spec.name, spec.choices)
    if spec.type is int:
        return Number(int, float("-inf"), "an integer")
    if spec.type is float:
        return Number(float, float("-inf"), "a finite number")
    return click.BOOL if spec.type is bool else str


def _model_option(name: str, specs: dict[str, OptionSpec]):
    first = next(iter(specs.values()))
    shown = ", ".join(f"{m} {_text(s.default)}" for m, s in specs.items() if s.default is not None) or "none"
    return click.option(f"--{name.replace('_', '-')}", name, type=_param_type(first), default=None,
                        help=with_default(f"{first.help} ({'/'.join(specs)} only)", shown))


def _train_option(flag: str, key: str, param_type: Any, help_text: str = ""):
    return click.option(flag, key, type=param_type, default=None, help=with_default(help_text, recipe_default(key)))


def _with_model_options(command):
    for name, specs in reversed(list(model_options().items())):
        command = _model_option(name, specs)(command)
    return command


@click.command("train", short_help="train a model and write a run directory")
@click.option("--model", type=NamedChoice("model", tuple(MODELS)), default="mlp", help="model kind (see `ffzero list models`)")
@click.option("--paradigm", type=NamedChoice("paradigm", PARADIGMS), default="ffzero", help="training paradigm")
@click.option("--dataset", type=DatasetName(BUILTIN_DATASETS, DATASET_NAMES), default="digits", help="dataset (see `ffzero list datasets`)")
@_train_option("--epochs", "epochs", POSITIVE_INT, "epochs per layer (local paradigms) or in total (global ones)")
@click.option("--layer-epochs", "layer_epochs", type=INT_LIST, default=None,
              help="each layer's own epochs, e.g. 1000,5000 (ffzero, ff-ad; instead of --epochs for every layer)")
@click.option("--seed", type=NON_NEGATIVE_INT, default=0, help="seed of the split, the model and the training")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help=with_default("run directory", "runs/<model>-<paradigm>-<dataset>-s<seed>"))
@_train_option("--batch-size", "batch_size", POSITIVE_INT)
@_train_option("--lr", "lr", POSITIVE_FLOAT, "learning rate")
@_train_option("--eps", "eps", POSITIVE_FLOAT, "perturbation norm of the finite differences")
@_train_option("--estimator", "estimator", NamedChoice("estimator", ESTIMATORS),
               "forward-only update: dd, spsa, cma (separable CMA-ES) or coordinate (heater sinusoids; photonic)")
@_train_option("--dirs", "n_dirs", POSITIVE_INT,
               "K per step: dd/spsa directions, coordinate heaters, cma population (1: cma's 4 + 3 ln d)")
@_train_option("--scheme", "scheme", NamedChoice("scheme", SCHEMES), "finite-difference scheme")
@_train_option("--directions", "directions", NamedChoice("directions", DIRECTIONS), "direction distribution")
@_train_option("--optimizer", "optimizer", NamedChoice("optimizer", OPTIMIZERS))
@_train_option("--schedule", "schedule", NamedChoice("schedule", SCHEDULES), "learning-rate schedule")
@_train_option("--loss", "loss", NamedChoice("loss", ("auto",) + LOSSES))
@_train_option("--prototypes", "prototypes", NamedChoice("prototypes", ("auto",) + PROTOTYPE_KINDS))
@_train_option("--margin", "margin", NON_NEGATIVE_FLOAT, "hinge margin")
@_train_option("--temperature", "temperature", POSITIVE_FLOAT, "ce loss temperature (softmax over cosines / T)")
@_train_option("--proj-dim", "proj_dim", POSITIVE_INT, "prototype projection width")
@_with_model_options
@click.option("--chip-config", type=existing_file(), default=None, metavar="CHIP.toml",
              help="chip configuration file: its [chip] and [nonideal] tables ([instrument] is `chip serve`'s)")
@click.option("--nonideal", type=Presets(parse_preset), default=None,
              help="non-ideality preset(s) on top of the chip config, e.g. combined:medium (see `ffzero list nonideal`)")
@click.option("--wavelength", type=POSITIVE_FLOAT, default=None, help=with_default("operating wavelength in um", DESIGN_WAVELENGTH_UM))
@click.option("--instance-seed", type=NON_NEGATIVE_INT, default=None, help="which fabricated instance of the design")
@_train_option("--checkpoint-every", "checkpoint_every", NON_NEGATIVE_INT,
               "also checkpoint every N steps inside an epoch (0: after every epoch only)")
@_train_option("--twin", "twin", NamedChoice("twin", TWINS),
               "what ff-ad / bp-ad differentiate: the nominal design, or the fabricated chip's exact model (calibrated)")
@_train_option("--backend", "backend", NamedChoice("backend", BACKENDS),
               "DD engine: numpy, or jax (compiled; digital models and simulated chips, same numbers)")
@click.option("--no-progress", is_flag=True, help="no progress bar")
def train(**args: Any) -> int:
    """Train a model and write a run directory (re-run the same command to resume)."""
    from ..runs import train_run

    spec = run_spec(args)
    out = Path(args["out"] or f"runs/{args['model']}-{args['paradigm']}-{_slug(args['dataset'])}-s{args['seed']}")
    metrics = train_run(spec, out, progress=not args["no_progress"], log=lambda m: click.echo(m, err=True))
    _print_summary(out, metrics)
    return 0


def run_spec(args: dict[str, Any]):
    """A validated RunSpec from the parsed ``train`` options."""
    from ..runs import RunSpec

    entry = MODELS[args["model"]]
    settings = default_train(args["paradigm"], entry.recipe, args["estimator"] or "dd")
    settings.update({k: args[k] for k in TRAIN_KEYS if args[k] is not None})
    settings.update(paradigm=args["paradigm"], seed=args["seed"])
    declared = {spec.name for spec in entry.options}
    options: dict[str, Any] = {}
    for name in model_options():
        if args[name] is None:
            continue
        if name not in declared:
            raise UserInputError(f"--{name.replace('_', '-')} does not apply to --model {entry.name}")
        options[name] = list(args[name]) if isinstance(args[name], tuple) else args[name]
    used = [f"--{k.replace('_', '-')}" for k in CHIP_FLAGS if args[k] is not None]
    if used and entry.name != "photonic":
        raise UserInputError(f"{', '.join(used)}: only for --model photonic, got --model {entry.name}")
    options = {**_chip_options(args), **options} if used else options
    return RunSpec(model=entry.name, model_options=options, dataset=args["dataset"], train=TrainConfig(**settings))


def _chip_options(args: dict[str, Any]) -> dict[str, Any]:
    """Photonic model options from ``--chip-config``, with ``--nonideal``, ``--wavelength``, ``--instance-seed`` on top.

    The run records the non-default design values; [instrument] describes a served chip and does not apply here.
    """
    from ..photonic.chip_config import ChipConfig

    path = args["chip_config"]
    config = ChipConfig.from_toml(path) if path else ChipConfig()
    if args["nonideal"]:
        config = config.with_nonideal(parse_preset(args["nonideal"]))
    overrides = {"wavelength_um": args["wavelength"], "instance_seed": args["instance_seed"]}
    config = config.with_overrides(**{k: v for k, v in overrides.items() if v is not None})
    if path and config.chip.seed != args["seed"]:
        raise UserInputError(f"{path}: [chip] seed = {config.chip.seed} but --seed {args['seed']}; "
                             "a run's seed sets its chip too: pass the same --seed or drop [chip] seed")
    compact = config.to_dict(compact=True)
    sized = sorted(set(compact.get("chip", {})) & {"n_features", "image_shape"})
    if sized:
        raise UserInputError(f"{path}: [chip] {sized[0]} is taken from the data set in a training run; drop it")
    options = {k: v for k, v in compact.get("chip", {}).items() if k != "seed"}
    if "nonideal" in compact:
        options["nonideal"] = compact["nonideal"]
    physics = {table: values for table, values in compact.items() if table not in ("chip", "nonideal", "instrument")}
    if physics:  # the physical chip's tables ([budget], [detector], [heaters], ...)
        options["physics"] = physics
    return options


def _print_summary(out: Path, m: dict[str, Any]) -> None:
    if "test_r2" in m:
        head = f"test R² {m['test_r2']:.4f}"
    else:
        head = (f"test accuracy {m['test_accuracy']:.4f} (vote {m['test_accuracy_vote']:.4f}, "
                f"last layer {m['test_accuracy_last']:.4f})")
    click.echo(f"{head} | {m['queries']:,} training sample queries | {m['wall_time_s']:.1f} s | run directory: {out}")


def _slug(dataset: str) -> str:
    stem = Path(dataset.split(":", 1)[-1]).stem
    return "".join(c if c.isalnum() else "_" for c in stem) or "data"
