"""Robustness study: offline vs in-situ training of non-ideal photonic chips, ablations, Monte Carlo, wavelength.

Offline = BP+AD on the ideal digital twin, phases then programmed onto the
non-ideal chip; in-situ = FFzero (and BP+DD) trained through ``query`` on the
non-ideal chip itself. ``run_robustness`` writes CSV, markdown tables, plots and
``summary.md`` into one directory; ``ffzero study robustness`` is its CLI.
Also here: ``chip_options_from_file`` for ``ffzero train --chip-config``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .photonic.nonideal import (
    DESIGN_WAVELENGTH_UM,
    LEVELS,
    PRESET_VALUES,
    NonIdealConfig,
    read_config_file,
    severity_preset,
)

GRID_EFFECTS = (
    "coupler", "loss", "phase_offset", "dac", "crosstalk", "shot", "thermal", "adc", "responsivity", "drift", "combined",
)
IDEAL = ("ideal", "none")
GRID_METHODS = ("offline", "ffzero", "ffzero-hw")


def _labels(plan: "StudyPlan") -> dict[str, str]:
    return {"offline": "offline BP+AD → chip", "ffzero": f"in-situ FFzero ε={plan.eps:g} (paper)",
            "ffzero-hw": f"in-situ FFzero ε={plan.hw_eps:g}"}


# ------------------------------------------------------------------ plan
@dataclass(frozen=True)
class StudyPlan:
    """Everything that sizes the study; ``bounded()`` is the ~3-minute CI form."""

    ports: int = 16
    layers: int = 1
    batch_size: int = 16
    epochs: int = 100
    lr: float = 1e-2
    eps: float = 1e-3
    hw_eps: float = 0.3
    offline_epochs: int = 50
    offline_lr: float = 1e-2
    seeds: int = 5
    effects: tuple[str, ...] = GRID_EFFECTS
    levels: tuple[str, ...] = LEVELS
    multilayer_effects: tuple[str, ...] = ("phase_offset", "crosstalk", "thermal", "combined")
    multilayer_level: str = "medium"
    multilayer_epochs: int = 50
    ablation_seeds: int = 2
    ablation_epochs: int = 40
    mlp_hidden: tuple[int, ...] = (32, 32)
    photonic_ablations: tuple[str, ...] = (
        "base", "K=4", "K=16", "eps=1e-4", "eps=1e-2", "eps=1e-1", "eps=3e-1", "lr=3e-3", "lr=3e-2",
        "forward", "prototypes", "global", "dac8", "dac8 eps=1e-2", "dac8 eps=1e-1", "dac8 eps=3e-1", "noise30",
        "noise30 eps=1e-1", "noise30 eps=3e-1", "noise30 eps=1", "noise30 eps=3e-1 K=4",
    )
    mlp_ablations: tuple[str, ...] = (
        "base", "K=4", "K=16", "eps=1e-4", "eps=1e-2", "eps=1e-1", "eps=3e-1", "lr=3e-3", "lr=3e-2", "forward",
        "prototypes", "global",
    )
    mc_effect: str = "combined"
    mc_level: str = "medium"
    mc_instances: int = 100
    mc_retrain: int = 6
    wavelengths: tuple[float, ...] = tuple(round(1.50 + 0.01 * k, 3) for k in range(11))
    workers: int = 2

    def __post_init__(self):
        for name in ("ports", "layers", "batch_size", "epochs", "offline_epochs", "seeds", "multilayer_epochs",
                     "ablation_seeds", "ablation_epochs", "mc_instances", "workers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if isinstance(self.mc_retrain, bool) or not isinstance(self.mc_retrain, int) or self.mc_retrain < 0:
            raise ValueError(f"mc_retrain must be a non-negative integer, got {self.mc_retrain!r}")
        for e in (*self.effects, *self.multilayer_effects, self.mc_effect):
            severity_preset(e, "low")
        for lv in (*self.levels, self.multilayer_level, self.mc_level):
            if lv not in LEVELS:
                raise ValueError(f"unknown severity level {lv!r}; choose one of {', '.join(LEVELS)}")
        unknown = [a for a in (*self.photonic_ablations, *self.mlp_ablations) if a not in ABLATIONS]
        if unknown:
            raise ValueError(f"unknown ablation {unknown[0]!r}; choose from {', '.join(ABLATIONS)}")
        chip_only = [a for a in self.mlp_ablations if "nonideal" in ABLATIONS[a]]
        if chip_only:
            raise ValueError(f"ablation {chip_only[0]!r} changes the chip hardware; it is for photonic_ablations only")
        if not self.wavelengths or any(not (1.0 < w < 2.5) for w in self.wavelengths):
            raise ValueError(f"wavelengths must lie in (1.0, 2.5) um, got {self.wavelengths!r}")

    @classmethod
    def bounded(cls, **overrides: Any) -> "StudyPlan":
        """One seed, six effects at two levels, short training, small Monte Carlo: ~2-3 minutes on 2 cores."""
        base = dict(
            seeds=1, epochs=40, offline_epochs=20, effects=("phase_offset", "crosstalk", "dac", "thermal", "drift", "combined"),
            levels=("medium", "high"), multilayer_effects=("thermal",), multilayer_epochs=15,
            ablation_seeds=1, ablation_epochs=10,
            photonic_ablations=("base", "K=4", "global", "noise30", "noise30 eps=3e-1"),
            mlp_ablations=("base", "K=4", "global"), mc_instances=30, mc_retrain=2,
            wavelengths=(1.50, 1.525, 1.55, 1.575, 1.60),
        )
        return cls(**{**base, **overrides})

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))


# (model kind) -> TrainConfig overrides / chip non-idealities of each ablation variant
ABLATIONS: dict[str, dict[str, Any]] = {
    "base": {},
    "K=4": {"n_dirs": 4},
    "K=16": {"n_dirs": 16},
    "eps=1e-4": {"eps": 1e-4},
    "eps=1e-2": {"eps": 1e-2},
    "eps=1e-1": {"eps": 1e-1},
    "eps=3e-1": {"eps": 3e-1},
    "lr=3e-3": {"lr": 3e-3},
    "lr=3e-2": {"lr": 3e-2},
    "forward": {"scheme": "forward"},
    "prototypes": {"prototypes": "swap"},
    "global": {"paradigm": "bp-dd"},
    "dac8": {"nonideal": ("dac", "medium")},
    "dac8 eps=1e-2": {"nonideal": ("dac", "medium"), "eps": 1e-2},
    "dac8 eps=1e-1": {"nonideal": ("dac", "medium"), "eps": 1e-1},
    "dac8 eps=3e-1": {"nonideal": ("dac", "medium"), "eps": 3e-1},
    "noise30": {"nonideal": ("noise", "medium")},
    "noise30 eps=1e-1": {"nonideal": ("noise", "medium"), "eps": 1e-1},
    "noise30 eps=3e-1": {"nonideal": ("noise", "medium"), "eps": 3e-1},
    "noise30 eps=1": {"nonideal": ("noise", "medium"), "eps": 1.0},
    "noise30 eps=3e-1 K=4": {"nonideal": ("noise", "medium"), "eps": 3e-1, "n_dirs": 4},
}


# ------------------------------------------------------------------ chip configuration files
CHIP_KEYS = ("ports", "layers", "mesh", "alpha", "gain", "phase_bias", "input_power", "init", "wavelength_um", "instance_seed")


def chip_options_from_file(path: str | Path) -> dict[str, Any]:
    """PhotonicChip options from TOML/JSON: a ``[chip]`` table of chip keywords and a ``[nonideal]`` table.

    Returns a JSON-able dict for ``RunSpec.model_options`` (the non-idealities
    validated and stored compactly under ``"nonideal"``). Unknown tables or
    keys raise ValueError naming them; ``seed`` and sizes taken from the data
    (``n_features``, ``image_shape``) are not accepted here.
    """
    data = read_config_file(path)
    unknown = sorted(set(data) - {"chip", "nonideal"})
    if unknown:
        raise ValueError(f"unknown table {unknown[0]!r} in {path}; a chip configuration has [chip] and [nonideal]")
    chip = data.get("chip", {})
    if not isinstance(chip, Mapping):
        raise ValueError(f"[chip] in {path} must be a table, got {chip!r}")
    bad = sorted(set(chip) - set(CHIP_KEYS))
    if bad:
        raise ValueError(f"unknown chip key {bad[0]!r} in {path}; [chip] takes {', '.join(CHIP_KEYS)}")
    options = dict(chip)
    nonideal = data.get("nonideal")
    if nonideal is not None:
        if not isinstance(nonideal, Mapping):
            raise ValueError(f"[nonideal] in {path} must be a table, got {nonideal!r}")
        compact = NonIdealConfig.from_dict(nonideal).to_dict(compact=True)
        if compact:
            options["nonideal"] = compact
    return json.loads(json.dumps(options))


def parse_preset(text: str) -> NonIdealConfig:
    """``EFFECT:LEVEL`` (e.g. ``combined:medium``) or several joined by ``+`` -> NonIdealConfig."""
    config = NonIdealConfig()
    for part in text.split("+"):
        effect, sep, level = part.strip().partition(":")
        if not sep:
            raise ValueError(f"non-ideality preset must be EFFECT:LEVEL, got {part!r}")
        config = config.merged(severity_preset(effect, level))
    return config


def add_chip_config_arguments(group) -> None:
    """``--chip-config FILE``, ``--nonideal EFFECT:LEVEL``, ``--wavelength UM``, ``--instance-seed N`` for ``ffzero train``."""
    group.add_argument("--chip-config", default=None, help="TOML/JSON with [chip] and [nonideal] tables")
    group.add_argument("--nonideal", default=None, help="severity preset(s) EFFECT:LEVEL[+EFFECT:LEVEL], e.g. combined:medium")
    group.add_argument("--wavelength", type=float, default=None, help="operating wavelength in um (design 1.55)")
    group.add_argument("--instance-seed", type=int, default=None, help="which fabricated instance of the design")


def chip_options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Model options from the arguments of :func:`add_chip_config_arguments` (flags override the file)."""
    options = chip_options_from_file(args.chip_config) if getattr(args, "chip_config", None) else {}
    if getattr(args, "nonideal", None):
        base = NonIdealConfig.from_dict(options.get("nonideal"))
        options["nonideal"] = base.merged(parse_preset(args.nonideal)).to_dict(compact=True)
    if getattr(args, "wavelength", None) is not None:
        options["wavelength_um"] = float(args.wavelength)
    if getattr(args, "instance_seed", None) is not None:
        if args.instance_seed < 0:
            raise ValueError(f"--instance-seed must be >= 0, got {args.instance_seed}")
        options["instance_seed"] = int(args.instance_seed)
    return options


# ------------------------------------------------------------------ CLI
def add_study_parser(subparsers) -> None:
    """``ffzero study robustness --out DIR [--bounded] [--seeds 5] [--workers 2]``."""
    s = subparsers.add_parser("study", help="studies that train many models (robustness of non-ideal chips)")
    sub = s.add_subparsers(dest="study", required=True)
    r = sub.add_parser("robustness", help="offline vs in-situ training under fabrication, drive, crosstalk, noise, drift")
    r.add_argument("--out", required=True, help="output directory (CSV, markdown, plots, summary.md)")
    r.add_argument("--bounded", action="store_true", help="the ~3-minute CI form: 1 seed, fewer effects and epochs")
    r.add_argument("--seeds", type=int, default=None, help="seeds per cell (default 5; 1 when --bounded)")
    r.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    r.add_argument("--scheduler", default=None, help="run the study's trainings on a Dask cluster (tcp://HOST:8786)")


def cmd_study(args: argparse.Namespace) -> int:
    import sys

    if args.study != "robustness":
        raise ValueError(f"unknown study {args.study!r}; choose robustness")
    if args.seeds is not None and args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    kwargs = {} if args.seeds is None else {"seeds": args.seeds}
    result = run_robustness(args.out, bounded=args.bounded, workers=args.workers, scheduler=args.scheduler,
                            log=lambda m: print(m, file=sys.stderr), **kwargs)
    print(f"robustness study written to {args.out} ({result['wall_time_s']:.0f} s); see {Path(args.out) / 'summary.md'}")
    return 0


# ------------------------------------------------------------------ workers
@lru_cache(maxsize=8)
def _data(seed: int, standardize: bool):
    from .data import load_dataset

    return load_dataset("digits", seed=seed, standardize=standardize)


def _preset(effect: str, level: str) -> NonIdealConfig:
    return NonIdealConfig() if (effect, level) == IDEAL else severity_preset(effect, level)


def _chip(plan: StudyPlan, seed: int, layers: int, nonideal: NonIdealConfig | None = None, **kw):
    from .photonic.chip import PhotonicChip

    return PhotonicChip.for_data(_data(seed, False), ports=plan.ports, layers=layers, seed=seed, nonideal=nonideal, **kw)


class _Metered:
    """Forwards the black-box protocol to a chip and adds up the heater energy of every training query."""

    def __init__(self, chip):
        self.chip = chip
        self.counter = chip.counter
        self.energy_J = 0.0

    @property
    def n_layers(self) -> int:
        return self.chip.n_layers

    @property
    def n_inputs(self) -> int:
        return self.chip.n_inputs

    def layer_info(self, layer):
        return self.chip.layer_info(layer)

    def get_params(self, layer):
        return self.chip.get_params(layer)

    def set_params(self, layer, params):
        self.chip.set_params(layer, params)

    def query(self, x, layer, settings=None):
        if settings:
            self.energy_J += self.chip.query_energy_J(len(x), settings)
        return self.chip.query(x, layer, settings)


def _train_config(plan: StudyPlan, seed: int, *, epochs: int, **overrides: Any):
    from .trainer import TrainConfig

    base = dict(paradigm="ffzero", epochs=epochs, batch_size=plan.batch_size, lr=plan.lr, optimizer="adam",
                schedule="cosine", seed=seed)
    return TrainConfig(**{**base, **overrides})


def _fit(model, data, config, *, meter: bool) -> tuple[Any, list[dict], float]:
    """Train ``model`` with ``config``; returns the trainer, a per-epoch curve and the training heater energy (J)."""
    from .trainer import Trainer

    target = _Metered(model) if meter else model
    curve: list[dict] = []

    def on_epoch(tr):
        row = tr.history[-1]
        curve.append({
            "stage": row["stage"], "epoch": row["epoch"], "val_accuracy": row.get("val_vote", row["val_score"]),
            "train_sample_queries": row["train_sample_queries"], "train_settings": row["train_settings"],
            "energy_J": getattr(target, "energy_J", 0.0),
        })

    tr = Trainer(config)
    tr.fit(target, data, on_epoch=on_epoch)
    return tr, curve, getattr(target, "energy_J", 0.0)


def _scores(result: dict, prefix: str = "test") -> dict[str, float]:
    return {
        "test_accuracy": result[f"{prefix}_accuracy"],
        "test_accuracy_last": result[f"{prefix}_accuracy_last"],
        "test_accuracy_vote": result[f"{prefix}_accuracy_vote"],
        "test_accuracy_layer0": result[f"{prefix}_accuracy_per_layer"][0],
    }


def _offline_eval(chip, data, seed: int) -> dict[str, float]:
    from .trainer import Trainer

    return _scores(Trainer(paradigm="bp-ad", seed=seed).evaluate(chip, data))


def task_offline(plan: StudyPlan, seed: int, layers: int) -> dict[str, Any]:
    """BP+AD on the ideal digital twin; returns the learned phases and the ideal test accuracy."""
    t0 = time.perf_counter()
    chip = _chip(plan, seed, layers)
    data = _data(seed, False)
    cfg = _train_config(plan, seed, epochs=plan.offline_epochs, paradigm="bp-ad", lr=plan.offline_lr)
    tr, _, _ = _fit(chip, data, cfg, meter=False)
    res = _scores(tr.evaluate(chip, data))
    return {"kind": "offline", "seed": seed, "layers": layers, **res,
            "params": [chip.get_params(l) for l in range(chip.n_layers)], "wall_s": time.perf_counter() - t0}


def task_insitu(plan: StudyPlan, seed: int, layers: int, effect: str, level: str, paradigm: str, epochs: int,
                offline_params: list[np.ndarray] | None, study: str, eps: float, method: str) -> list[dict[str, Any]]:
    """Train in situ on the non-ideal chip; also program the offline phases onto the same instance, same elapsed time."""
    t0 = time.perf_counter()
    cfg_ni = _preset(effect, level)
    data = _data(seed, False)
    chip = _chip(plan, seed, layers, cfg_ni)
    cfg = _train_config(plan, seed, epochs=epochs, paradigm=paradigm, eps=eps)
    tr, curve, energy = _fit(chip, data, cfg, meter=True)
    res = _scores(tr.evaluate(chip, data))
    cost = tr.train_cost.snapshot()
    key = {"study": study, "layers": layers, "effect": effect, "level": level, "seed": seed}
    rows = [{**key, "method": method, "eps": eps, **res, "train_sample_queries": cost["sample_queries"],
             "train_settings": cost["settings"], "train_calls": cost["calls"], "energy_J": energy,
             "wall_s": time.perf_counter() - t0, "curve": curve,
             "params": [chip.get_params(l) for l in range(chip.n_layers)]}]
    if offline_params is not None:
        deployed = _chip(plan, seed, layers, cfg_ni)
        for l, p in enumerate(offline_params):
            deployed.set_params(l, p)
        deployed.advance_drift(chip.counter.calls)
        rows.append({**key, "method": "offline", "eps": None, **_offline_eval(deployed, data, seed), "train_sample_queries": 0,
                     "train_settings": 0, "train_calls": 0, "energy_J": 0.0, "wall_s": 0.0})
    return rows


def task_ablation(plan: StudyPlan, model: str, variant: str, seed: int) -> dict[str, Any]:
    """One FFzero ablation run: ideal 2-layer photonic chip, the grid chip with a hardware effect, or the digital MLP."""
    from .models import build_model

    t0 = time.perf_counter()
    over = dict(ABLATIONS[variant])
    nonideal = over.pop("nonideal", None)
    if model == "photonic":
        data = _data(seed, False)
        n_layers = plan.layers if nonideal else 2
        net = _chip(plan, seed, n_layers, _preset(*nonideal) if nonideal else None)
    else:
        data = _data(seed, True)
        net = build_model("mlp", data, seed=seed, hidden=tuple(plan.mlp_hidden))
        n_layers = net.n_layers
    if over.get("prototypes") == "swap":
        over["prototypes"] = "simplex" if model == "photonic" else "onehot"
    epochs = plan.ablation_epochs * (n_layers if over.get("paradigm") == "bp-dd" else 1)
    cfg = _train_config(plan, seed, epochs=epochs, **over)
    tr, curve, energy = _fit(net, data, cfg, meter=model == "photonic")
    cost = tr.train_cost.snapshot()
    return {"model": model, "variant": variant, "seed": seed, "layers": n_layers,
            "hardware": f"{nonideal[0]}:{nonideal[1]}" if nonideal else "ideal", "paradigm": cfg.paradigm, "n_dirs": cfg.n_dirs,
            "eps": cfg.eps, "lr": cfg.lr, "scheme": cfg.scheme, "prototypes": _prototype_kind(tr, model),
            **_scores(tr.evaluate(net, data)), "train_sample_queries": cost["sample_queries"],
            "train_settings": cost["settings"], "energy_J": energy, "wall_s": time.perf_counter() - t0, "curve": curve}


def _prototype_kind(tr, model: str) -> str:
    kind = tr.config.prototypes
    if kind != "auto":
        return kind
    return "onehot" if model == "photonic" else "simplex"


def task_mc_retrain(plan: StudyPlan, instance: int, init: list[np.ndarray] | None, epochs: int) -> dict[str, Any]:
    """In-situ FFzero on one fabricated instance, from scratch or fine-tuning programmed offline phases."""
    t0 = time.perf_counter()
    data = _data(0, False)
    chip = _chip(plan, 0, plan.layers, _preset(plan.mc_effect, plan.mc_level), instance_seed=instance)
    if init is not None:
        for l, p in enumerate(init):
            chip.set_params(l, p)
    before = _offline_eval(chip, data, 0)["test_accuracy"] if init is not None else None
    cfg = _train_config(plan, 0, epochs=epochs, lr=plan.lr if init is None else plan.lr / 3, eps=plan.hw_eps)
    tr, _, energy = _fit(chip, data, cfg, meter=True)
    return {"instance": instance, "method": "in-situ (scratch)" if init is None else "offline + in-situ fine-tune",
            "epochs": epochs, "accuracy_before": before, **_scores(tr.evaluate(chip, data)),
            "train_sample_queries": tr.train_cost.sample_queries, "energy_J": energy, "wall_s": time.perf_counter() - t0}


def _run_task(task: tuple[str, dict[str, Any]]):
    name, kwargs = task
    return name, kwargs, TASKS[name](**kwargs)


TASKS: dict[str, Callable[..., Any]] = {
    "offline": task_offline, "insitu": task_insitu, "ablation": task_ablation, "mc_retrain": task_mc_retrain,
}


def _worker_env() -> None:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    flags = os.environ.get("XLA_FLAGS", "")
    if "intra_op_parallelism_threads" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    os.environ.setdefault("MPLBACKEND", "Agg")


def _run_all(tasks: list[tuple[str, dict]], workers: int, log: Callable[[str], None], label: str,
             scheduler: str | None = None) -> list:
    """Run tasks on the sweep engine (local processes, or Dask with ``scheduler``; inline for 1 worker)."""
    from .sweep import run_tasks

    results = []
    t0 = time.perf_counter()
    if scheduler is None and (workers == 1 or len(tasks) == 1):
        for k, task in enumerate(tasks):
            results.append(_run_task(task))
            _progress(log, label, k + 1, len(tasks), t0)
        return results
    for k, (_, fut) in enumerate(run_tasks(_run_task, [(t,) for t in tasks], workers=workers, scheduler=scheduler)):
        results.append(fut.result())
        _progress(log, label, k + 1, len(tasks), t0)
    return results


def _progress(log, label: str, done: int, total: int, t0: float) -> None:
    step = max(1, total // 10)
    if done == total or done % step == 0:
        log(f"[study] {label}: {done}/{total} tasks, {time.perf_counter() - t0:.0f} s")


# ------------------------------------------------------------------ the study
def run_robustness(
    out: str | Path,
    *,
    bounded: bool = False,
    seeds: int | None = None,
    workers: int = 2,
    scheduler: str | None = None,
    plan: StudyPlan | None = None,
    log: Callable[[str], None] = print,
    **overrides: Any,
) -> dict[str, Any]:
    """Run the robustness study and write its tables, plots and ``summary.md`` into ``out``; returns headline numbers.

    Trainings run on the sweep engine: local processes, or a Dask cluster at ``scheduler``.
    ``bounded`` selects :meth:`StudyPlan.bounded`; ``seeds``, ``workers`` and any
    other :class:`StudyPlan` field given as keyword override the plan.
    """
    if plan is None:
        over = dict(overrides, workers=workers)
        if seeds is not None:
            over["seeds"] = seeds
        plan = StudyPlan.bounded(**over) if bounded else StudyPlan(**over)
    elif overrides or seeds is not None:
        raise ValueError("give either plan= or keyword overrides, not both")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _worker_env()
    t_start = time.perf_counter()
    (out / "plan.json").write_text(json.dumps({"bounded": bounded, **plan.to_dict()}, indent=2) + "\n")
    seeds_ = list(range(plan.seeds))
    ml = bool(plan.multilayer_effects)

    # 1. offline BP+AD on the ideal twin, once per seed and depth
    tasks = [("offline", dict(plan=plan, seed=s, layers=plan.layers)) for s in seeds_]
    if ml:
        tasks += [("offline", dict(plan=plan, seed=s, layers=2)) for s in seeds_]
    offline = {(kw["seed"], kw["layers"]): res for _, kw, res in _run_all(tasks, plan.workers, log, "offline BP+AD", scheduler)}

    # 2. in-situ grid, multi-layer subset, ablations, Monte Carlo retraining
    tasks = []
    cells = [IDEAL] + [(e, lv) for e in plan.effects for lv in plan.levels]
    for s in seeds_:
        for e, lv in cells:
            tasks.append(("insitu", dict(plan=plan, seed=s, layers=plan.layers, effect=e, level=lv, paradigm="ffzero",
                                         epochs=plan.epochs, offline_params=offline[s, plan.layers]["params"],
                                         study="grid", eps=plan.eps, method="ffzero")))
            tasks.append(("insitu", dict(plan=plan, seed=s, layers=plan.layers, effect=e, level=lv, paradigm="ffzero",
                                         epochs=plan.epochs, offline_params=None, study="grid", eps=plan.hw_eps,
                                         method="ffzero-hw")))
        if ml:
            for e, lv in [IDEAL] + [(e, plan.multilayer_level) for e in plan.multilayer_effects]:
                tasks.append(("insitu", dict(plan=plan, seed=s, layers=2, effect=e, level=lv, paradigm="ffzero",
                                             epochs=plan.multilayer_epochs, offline_params=offline[s, 2]["params"],
                                             study="multilayer", eps=plan.hw_eps, method="ffzero-hw")))
                tasks.append(("insitu", dict(plan=plan, seed=s, layers=2, effect=e, level=lv, paradigm="bp-dd",
                                             epochs=2 * plan.multilayer_epochs, offline_params=None,
                                             study="multilayer", eps=plan.hw_eps, method="bp-dd-hw")))
    for s in range(plan.ablation_seeds):
        tasks += [("ablation", dict(plan=plan, model="photonic", variant=v, seed=s)) for v in plan.photonic_ablations]
        tasks += [("ablation", dict(plan=plan, model="mlp", variant=v, seed=s)) for v in plan.mlp_ablations]
    for k in range(1, plan.mc_retrain + 1):
        tasks.append(("mc_retrain", dict(plan=plan, instance=k, init=None, epochs=plan.epochs)))
        tasks.append(("mc_retrain", dict(plan=plan, instance=k, init=offline[0, plan.layers]["params"],
                                         epochs=max(1, plan.epochs // 5))))
    tasks.sort(key=_cost_guess, reverse=True)
    results = _run_all(tasks, plan.workers, log, "training runs", scheduler)

    insitu_rows = [row for name, _, res in results if name == "insitu" for row in res]
    ablation_rows = [res for name, _, res in results if name == "ablation"]
    retrain_rows = [res for name, _, res in results if name == "mc_retrain"]

    # 3. Monte Carlo over fabricated instances and the wavelength sweep (evaluation only)
    log("[study] Monte Carlo and wavelength sweep")
    mc_rows, wl_rows = _monte_carlo(plan, offline, insitu_rows)

    wall = time.perf_counter() - t_start
    log(f"[study] writing outputs to {out}")
    headline = _write_outputs(out, plan, bounded, offline, insitu_rows, ablation_rows, mc_rows, retrain_rows, wl_rows, wall)
    return {"wall_time_s": wall, **headline}


def _cost_guess(task: tuple[str, dict]) -> float:
    name, kw = task
    if name == "insitu":
        return kw["epochs"] * kw["layers"] ** 1.5 * (1.3 if kw["effect"] == "crosstalk" or kw["effect"] == "combined" else 1)
    if name == "ablation":
        k = ABLATIONS[kw["variant"]].get("n_dirs", 1)
        return kw["plan"].ablation_epochs * (2 if kw["model"] == "photonic" else 3) * (1 + 0.1 * k)
    if name == "mc_retrain":
        return kw["epochs"]
    return 1.0


def _monte_carlo(plan: StudyPlan, offline: dict, insitu_rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """Accuracy of fixed phases across fabricated instances of the design, and across wavelengths."""
    data = _data(0, False)
    cfg_ni = _preset(plan.mc_effect, plan.mc_level)
    phases = {"offline (BP+AD on twin)": offline[0, plan.layers]["params"]}
    trained = _find(insitu_rows, study="grid", seed=0, effect=plan.mc_effect, level=plan.mc_level, method="ffzero-hw")
    if trained is not None:
        phases["FFzero in situ on instance 0"] = trained["params"]
    ideal_ff = _find(insitu_rows, study="grid", seed=0, effect="ideal", level="none", method="ffzero-hw")
    base = _chip(plan, 0, plan.layers, cfg_ni)
    mc_rows = []
    for k in range(plan.mc_instances):
        for name, params in phases.items():
            chip = base.fabricate(k)
            for l, p in enumerate(params):
                chip.set_params(l, p)
            mc_rows.append({"instance": k, "method": name, **_offline_eval(chip, data, 0)})
    wl_rows = []
    variants = [("ideal chip", None, "offline (BP+AD on twin)", phases["offline (BP+AD on twin)"])]
    if ideal_ff is not None:
        variants.append(("ideal chip", None, "FFzero in situ (ideal chip)", ideal_ff["params"]))
    variants.append((f"{plan.mc_effect}-{plan.mc_level} instance 0", cfg_ni, "offline (BP+AD on twin)",
                     phases["offline (BP+AD on twin)"]))
    if trained is not None:
        variants.append((f"{plan.mc_effect}-{plan.mc_level} instance 0", cfg_ni, "FFzero in situ on instance 0",
                         trained["params"]))
    for chip_name, ni, method, params in variants:
        chip = _chip(plan, 0, plan.layers, ni)
        for l, p in enumerate(params):
            chip.set_params(l, p)
        for wl in plan.wavelengths:
            wl_rows.append({"chip": chip_name, "method": method, "wavelength_um": wl,
                            **_offline_eval(chip.at_wavelength(wl), data, 0)})
    return mc_rows, wl_rows


def _find(rows: list[dict], **match) -> dict | None:
    for r in rows:
        if all(r.get(k) == v for k, v in match.items()):
            return r
    return None


# ------------------------------------------------------------------ outputs
def _mean_std(values) -> tuple[float, float]:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def _fmt(m: float, s: float) -> str:
    if math.isnan(m):
        return "–"
    return f"{100 * m:.1f} ± {100 * s:.1f}"


def _write_csv(path: Path, rows: list[dict]) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys and k not in ("curve", "params")]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items() if k in keys})
    path.write_text(buf.getvalue())


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _summarize(rows: list[dict], keys: tuple[str, ...], value: str = "test_accuracy") -> dict[tuple, tuple[float, float, int]]:
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r[value])
    return {k: (*_mean_std(v), len(v)) for k, v in groups.items()}


def _preset_table() -> str:
    rows = []
    for effect, levels in PRESET_VALUES.items():
        cells = []
        for lv in levels:
            parts = [f"{k}={_short(v)}" for sec in lv.values() for k, v in sec.items()]
            cells.append(", ".join(parts))
        rows.append([effect, *cells])
    return _md_table(["effect", "low", "medium", "high"], rows)


def _short(v: Any) -> str:
    if isinstance(v, float):
        if abs(v - math.pi) < 1e-12:
            return "π"
        return f"{v:g}"
    return str(v)


def _write_outputs(out: Path, plan: StudyPlan, bounded: bool, offline: dict, insitu: list[dict], ablations: list[dict],
                   mc: list[dict], retrain: list[dict], wl: list[dict], wall: float) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    _write_csv(out / "robustness.csv", insitu)
    grid = [r for r in insitu if r["study"] == "grid"]
    multi = [r for r in insitu if r["study"] == "multilayer"]
    summ = _summarize(grid, ("effect", "level", "method"))
    nan3 = (float("nan"),) * 3
    ideal = {m: summ.get(("ideal", "none", m), nan3) for m in GRID_METHODS}
    sum_rows, md_rows = [], []
    for effect, lv in [IDEAL] + [(e, lv) for e in plan.effects for lv in plan.levels]:
        cell = {m: summ.get((effect, lv, m), nan3) for m in GRID_METHODS}
        row = {"effect": effect, "level": lv, "n_seeds": cell["ffzero-hw"][2]}
        for m in GRID_METHODS:
            row[f"{m}_mean"], row[f"{m}_std"] = cell[m][0], cell[m][1]
        sum_rows.append(row)
        best = max(cell["ffzero"][0], cell["ffzero-hw"][0])
        gap = best - cell["offline"][0]
        md_rows.append([effect, "–" if lv == "none" else lv, *(_fmt(*cell[m][:2]) for m in GRID_METHODS),
                        "–" if math.isnan(gap) else f"{100 * gap:+.1f}"])
    _write_csv(out / "robustness_summary.csv", sum_rows)
    grid_md = _md_table(["effect", "severity", *(_labels(plan)[m] for m in GRID_METHODS), "best in-situ − offline (pts)"],
                        md_rows)
    multi_md = ""
    if multi:
        ms = _summarize(multi, ("effect", "level", "method"))
        ms_last = _summarize(multi, ("effect", "level", "method"), "test_accuracy_last")
        ms_l0 = _summarize(multi, ("effect", "level", "method"), "test_accuracy_layer0")
        mrows = []
        for e, lv in [IDEAL] + [(e, plan.multilayer_level) for e in plan.multilayer_effects]:
            mrows.append([e, lv, _fmt(*ms.get((e, lv, "offline"), nan3)[:2]),
                          _fmt(*ms.get((e, lv, "ffzero-hw"), nan3)[:2]),
                          _fmt(*ms_l0.get((e, lv, "ffzero-hw"), nan3)[:2]),
                          _fmt(*ms_last.get((e, lv, "ffzero-hw"), nan3)[:2]),
                          _fmt(*ms.get((e, lv, "bp-dd-hw"), nan3)[:2])])
        multi_md = _md_table(["effect", "severity", "offline BP+AD → chip", f"FFzero ε={plan.hw_eps:g} (vote)",
                              "FFzero layer 0 (taps)", "FFzero layer 1", f"BP+DD ε={plan.hw_eps:g}"], mrows)
    (out / "robustness.md").write_text(
        f"# Test accuracy (%) under non-idealities, mean ± std over {plan.seeds} seed(s)\n\n"
        f"{plan.ports}-port {plan.layers}-layer Clements chip, 4x4-pooled digits.\n\n" + grid_md
        + (f"\n## Two-layer chip ({plan.multilayer_level} severity)\n\n" + multi_md if multi_md else ""))

    abl_md, abl_summary = _ablation_tables(plan, ablations)
    _write_csv(out / "ablations.csv", ablations)
    (out / "ablations.md").write_text(abl_md)

    curves = []
    for r in grid + multi:
        if r.get("curve") and r["seed"] == 0 and (r["effect"], r["level"]) in (IDEAL, (plan.mc_effect, plan.mc_level)):
            name = f"{r['study']} {r['layers']}L {r['method']} {r['effect']}"
            curves += [{"run": name, "seed": r["seed"], **c} for c in r["curve"]]
    for r in ablations:
        if r["model"] == "photonic" and r["variant"] in ("base", "K=4", "K=16", "global") and r["seed"] == 0:
            curves += [{"run": f"ablation 2L {r['variant']}", "seed": r["seed"], **c} for c in r["curve"]]
    _write_csv(out / "curves.csv", curves)

    mc_md, yield_rows, mc_head = _mc_tables(plan, mc, retrain, wl)
    _write_csv(out / "monte_carlo.csv", mc)
    _write_csv(out / "monte_carlo_retrain.csv", retrain)
    _write_csv(out / "yield.csv", yield_rows)
    _write_csv(out / "wavelength.csv", wl)
    (out / "monte_carlo.md").write_text(mc_md)

    _plot_severity(out / "accuracy_vs_severity.png", plan, summ, ideal)
    _plot_curves(out / "accuracy_vs_queries.png", curves, "train_sample_queries", "training sample queries")
    _plot_curves(out / "accuracy_vs_energy.png", curves, "energy_J", "heater energy during training (J)")
    _plot_yield(out / "yield_curve.png", yield_rows)
    _plot_wavelength(out / "wavelength.png", wl)
    _plot_ablations(out / "ablations.png", abl_summary)

    findings = _findings(plan, summ, ideal, multi, mc_head, abl_summary)
    (out / "summary.md").write_text(_summary_md(plan, bounded, wall, grid_md, multi_md, abl_md, mc_md, findings))
    return {"ideal_offline": ideal["offline"][0], "ideal_ffzero": ideal["ffzero"][0],
            "ideal_ffzero_hw": ideal["ffzero-hw"][0], **mc_head}


def _ablation_tables(plan: StudyPlan, rows: list[dict]) -> tuple[str, dict]:
    s = _summarize(rows, ("model", "variant"))
    s_last = _summarize(rows, ("model", "variant"), "test_accuracy_last")
    s_q = _summarize(rows, ("model", "variant"), "train_sample_queries")
    text = f"# FFzero ablations, test accuracy %, mean ± std over {plan.ablation_seeds} seed(s)\n\n"
    text += (f"Photonic: ideal 16-port 2-layer chip (so that vote vs last layer and local vs global mean something), "
             f"{plan.ablation_epochs} epochs per layer; variants marked 'dac8' (8-bit heater DAC) or 'noise30' "
             f"(shot + thermal noise at 30 dB SNR) run on the {plan.layers}-layer grid chip with that hardware. "
             f"Digital: MLP 64-{'-'.join(map(str, plan.mlp_hidden))}-10 (tanh), {plan.ablation_epochs} epochs per layer. "
             "Base recipe: K=1 sphere direction, eps=1e-3, Adam lr=1e-2 cosine, batch 16, central differences, "
             "default prototypes (one-hot for power readouts, simplex for the MLP; 'prototypes' swaps them), "
             "local losses, vote. 'global' = BP+DD (one loss on the last layer, epochs x layers).\n\n")
    layers = {(r["model"], r["variant"]): r.get("layers") for r in rows}
    for model, variants in (("photonic", plan.photonic_ablations), ("mlp", plan.mlp_ablations)):
        table = []
        for v in variants:
            if (model, v) not in s:
                continue
            table.append([v, layers[model, v], _fmt(*s[model, v][:2]), _fmt(*s_last[model, v][:2]),
                          f"{s_q[model, v][0]:.3g}"])
        text += f"## {model}\n\n" + _md_table(
            ["variant", "layers", "accuracy (vote; global: last)", "last layer", "training sample queries"], table) + "\n"
    return text, s


def _mc_tables(plan: StudyPlan, mc: list[dict], retrain: list[dict], wl: list[dict]) -> tuple[str, list[dict], dict]:
    methods = sorted({r["method"] for r in mc})
    xs = np.round(np.linspace(0.0, 1.0, 101), 2)
    yield_rows = []
    head: dict[str, Any] = {}
    table = []
    for m in methods:
        acc = np.array([r["test_accuracy"] for r in mc if r["method"] == m])
        for x in xs:
            yield_rows.append({"method": m, "accuracy_threshold": float(x), "yield": float(np.mean(acc >= x - 1e-12))})
        q = np.percentile(acc, [5, 50, 95])
        table.append([m, f"{100 * acc.mean():.1f} ± {100 * acc.std(ddof=1 if acc.size > 1 else 0):.1f}",
                      f"{100 * q[0]:.1f} / {100 * q[1]:.1f} / {100 * q[2]:.1f}",
                      f"{100 * np.mean(acc >= 0.6):.0f}%", f"{100 * np.mean(acc >= 0.7):.0f}%"])
        head[f"mc_mean[{m}]"] = float(acc.mean())
    text = (f"# Monte Carlo: one trained design on {plan.mc_instances} fabricated instances "
            f"({plan.mc_effect} non-idealities, {plan.mc_level})\n\n"
            + _md_table(["phases", "accuracy %", "p5 / median / p95", "yield ≥60%", "yield ≥70%"], table))
    if retrain:
        rs = _summarize(retrain, ("method",))
        before = _summarize([r for r in retrain if r["accuracy_before"] is not None], ("method",), "accuracy_before")
        rt = []
        for (m,), (mean, std, n) in rs.items():
            b = before.get((m,))
            ep = retrain[[r["method"] for r in retrain].index(m)]["epochs"]
            rt.append([m, ep, n, _fmt(mean, std), _fmt(*b[:2]) if b else "–"])
            head[f"retrain_mean[{m}]"] = mean
        text += ("\n## Training each instance in situ instead\n\n"
                 + _md_table(["method", "epochs", "instances", "accuracy % after", "accuracy % before (offline phases)"], rt))
    if wl:
        chips = []
        for r in wl:
            if (r["chip"], r["method"]) not in chips:
                chips.append((r["chip"], r["method"]))
        wls = sorted({r["wavelength_um"] for r in wl})
        rows = []
        for c, m in chips:
            vals = {r["wavelength_um"]: r["test_accuracy"] for r in wl if r["chip"] == c and r["method"] == m}
            rows.append([c, m] + [f"{100 * vals[w]:.1f}" for w in wls])
        text += ("\n## Wavelength sweep (phases set at 1.55 um), test accuracy %\n\n"
                 + _md_table(["chip", "phases"] + [f"{1000 * w:.0f} nm" for w in wls], rows))
    return text, yield_rows, head


def _findings(plan, summ, ideal, multi, mc_head, abl) -> list[str]:
    f = []
    hw = f"ε={plan.hw_eps:g}"
    f.append(f"Ideal chip: offline BP+AD {100 * ideal['offline'][0]:.1f}%, in-situ FFzero {100 * ideal['ffzero'][0]:.1f}% "
             f"(ε={plan.eps:g}) / {100 * ideal['ffzero-hw'][0]:.1f}% ({hw}) after {plan.epochs} epochs.")
    for lv in plan.levels:
        rows = []
        for e in plan.effects:
            off, ff, hwv = (summ.get((e, lv, m)) for m in GRID_METHODS)
            if off and ff and hwv:
                rows.append((e, off[0], ff[0], hwv[0]))
        if not rows:
            continue
        wins = [r for r in rows if max(r[2], r[3]) - r[1] > 0.02]
        loses = [r for r in rows if max(r[2], r[3]) - r[1] < -0.02]
        paper_broken = [r for r in rows if r[2] < ideal["ffzero"][0] - 0.1]
        text = f"'{lv}': in-situ beats offline for " + (", ".join(
            f"{e} ({100 * o:.0f}% → {100 * max(a, b):.0f}%)" for e, o, a, b in wins) or "none")
        text += "; offline is better for " + (", ".join(
            f"{e} ({100 * o:.0f}% vs {100 * max(a, b):.0f}%)" for e, o, a, b in loses) or "none")
        text += f"; FFzero with the paper's ε={plan.eps:g} loses >10 pts for " + (", ".join(
            f"{e} ({100 * a:.0f}%, {hw}: {100 * b:.0f}%)" for e, o, a, b in paper_broken) or "none") + "."
        f.append(text)
    for k, v in mc_head.items():
        if k.startswith("mc_mean"):
            f.append(f"Monte Carlo ({plan.mc_effect}:{plan.mc_level}), {k[8:-1]}: {100 * v:.1f}% mean over instances.")
        if k.startswith("retrain_mean"):
            f.append(f"Per-instance {k[13:-1]}: {100 * v:.1f}% mean.")
    if multi:
        ms = _summarize(multi, ("effect", "level", "method"))
        for (e, lv, m), (mean, _, _) in sorted(ms.items()):
            if m == "bp-dd-hw" and (e, lv, "ffzero-hw") in ms:
                f.append(f"2-layer chip, {e} ({lv}): FFzero {100 * ms[e, lv, 'ffzero-hw'][0]:.1f}% vs BP+DD {100 * mean:.1f}%"
                         + (f" vs offline {100 * ms[e, lv, 'offline'][0]:.1f}%" if (e, lv, "offline") in ms else "") + ".")
    return f


def _summary_md(plan, bounded, wall, grid_md, multi_md, abl_md, mc_md, findings) -> str:
    from .photonic.nonideal import EnergyModel

    em = EnergyModel()
    return f"""# Robustness of forward-only (FFzero) training on non-ideal photonic chips

Generated by `ffzero study robustness{' --bounded' if bounded else ''}` in {wall / 60:.1f} min
({plan.workers} worker processes). Plan: `plan.json`.

## Setup

- Chip: {plan.ports}-port Clements mesh, {plan.layers} layer(s), 4x4-pooled digits (raw pixels, unit-power encoding).
- In situ: FFzero, batch {plan.batch_size}, Adam lr {plan.lr:g}, cosine schedule, {plan.epochs} epochs per layer, K=1,
  trained through `query` on the non-ideal chip (it sees only heater settings and detector readings), with the
  paper's finite-difference step ε={plan.eps:g} and with ε={plan.hw_eps:g} (a unit-norm direction over P heaters moves
  each heater by ~ε/√P: 6e-5 rad vs 0.02 rad on the 16-port mesh; the former is below any DAC step and noise floor).
  The two-layer subset, the Monte Carlo retraining and the wavelength sweep use ε={plan.hw_eps:g}.
- Offline: BP+AD on the ideal digital twin ({plan.offline_epochs} epochs, lr {plan.offline_lr:g}); the learned phases are
  programmed (`set_params`) onto the same non-ideal instance and evaluated after the same number of query calls
  as the in-situ run took (so drift has acted equally long).
- Seeds: {plan.seeds} (seed = chip design/instance, data split and trainer seed). Test accuracy, mean ± sample std.
- Energy model: every evaluated setting holds all heaters for {em.settle_s * 1e6:g} µs settling + {em.sample_s * 1e6:g} µs per
  sample; heater power P = P_pi·phase/π with P_pi = 20 mW.
- Monte Carlo: the seed-0 design, {plan.mc_instances} fabricated instances under `{plan.mc_effect}:{plan.mc_level}`.

## Non-ideality presets

{_preset_table()}
"noise" = shot + thermal at the same SNR; "combined" = every preset at that level (shot+thermal included).
SNRs are 20·log10(P/σ) at P_ref = P_in/N (the mean output-detector power of the first mesh); monitor taps and
deeper layers receive less light, so they see a lower SNR from the same detectors.

## Findings (computed from the tables below)

""" + "\n".join(f"- {x}" for x in findings) + f"""

## Robustness grid

{grid_md}
{('### Two-layer chip (' + plan.multilayer_level + ')' + chr(10) + chr(10) + multi_md) if multi_md else ''}
Plots: `accuracy_vs_severity.png`, `accuracy_vs_queries.png`, `accuracy_vs_energy.png`, `yield_curve.png`,
`wavelength.png`, `ablations.png`. Raw rows: `robustness.csv`, `ablations.csv`, `monte_carlo.csv`,
`monte_carlo_retrain.csv`, `yield.csv`, `wavelength.csv`, `curves.csv`.

{_demote(abl_md)}
{_demote(mc_md)}
"""


def _demote(md: str) -> str:
    return "\n".join("#" + line if line.startswith("#") else line for line in md.splitlines()) + "\n"


# ------------------------------------------------------------------ plots
def _finish(fig, path: Path, ax=None, legend_size: int | None = None) -> None:
    """Grid and legend on ``ax`` (if given), then write the figure and free it."""
    import matplotlib.pyplot as plt

    if ax is not None:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=legend_size)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_severity(path: Path, plan: StudyPlan, summ: dict, ideal: dict) -> None:
    import matplotlib.pyplot as plt

    n = len(plan.effects)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False, sharey=True)
    xs = np.arange(len(plan.levels) + 1)
    labels = ["ideal", *plan.levels]
    for ax, effect in zip(axes.flat, plan.effects):
        for k, (method, color) in enumerate(zip(GRID_METHODS, ("C0", "C1", "C3"))):
            vals = [ideal[method]] + [summ.get((effect, lv, method), (np.nan,) * 3) for lv in plan.levels]
            ax.errorbar(xs + 0.06 * (k - 1), [100 * v[0] for v in vals], yerr=[100 * v[1] for v in vals], marker="o",
                        ms=3, capsize=2, color=color, label=_labels(plan)[method])
        ax.set_title(effect, fontsize=10)
        ax.set_xticks(xs, labels, fontsize=8)
        ax.axhline(10, color="grey", lw=0.5, ls=":")
        ax.set_ylim(0, 100)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for r in range(rows):
        axes[r, 0].set_ylabel("test accuracy (%)")
    axes[0, 0].legend(fontsize=6, loc="lower left")
    _finish(fig, path)


def _plot_curves(path: Path, curves: list[dict], key: str, xlabel: str) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    runs = []
    for c in curves:
        if c["run"] not in runs:
            runs.append(c["run"])
    colors = plt.get_cmap("tab20")
    for k, run in enumerate(runs):
        pts = [(c[key], c["val_accuracy"]) for c in curves if c["run"] == run and c[key] > 0]
        if pts:
            x, y = zip(*pts)
            ax.plot(x, 100 * np.array(y), label=run, lw=1.2, color=colors(k % 20), ls="-" if k < 10 else "--")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation accuracy (%)")
    _finish(fig, path, ax, legend_size=7)


def _plot_yield(path: Path, rows: list[dict]) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for m in sorted({r["method"] for r in rows}):
        pts = [(r["accuracy_threshold"], r["yield"]) for r in rows if r["method"] == m]
        x, y = zip(*pts)
        ax.plot(100 * np.array(x), 100 * np.array(y), label=m)
    ax.set_xlabel("accuracy threshold x (%)")
    ax.set_ylabel("instances with accuracy ≥ x (%)")
    _finish(fig, path, ax, legend_size=8)


def _plot_wavelength(path: Path, rows: list[dict]) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    keys = []
    for r in rows:
        if (r["chip"], r["method"]) not in keys:
            keys.append((r["chip"], r["method"]))
    for c, m in keys:
        pts = sorted((r["wavelength_um"], r["test_accuracy"]) for r in rows if r["chip"] == c and r["method"] == m)
        x, y = zip(*pts)
        ax.plot(1000 * np.array(x), 100 * np.array(y), marker="o", ms=3, label=f"{c}: {m}")
    ax.axvline(1000 * DESIGN_WAVELENGTH_UM, color="grey", lw=0.5)
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel("test accuracy (%)")
    _finish(fig, path, ax, legend_size=7)


def _plot_ablations(path: Path, s: dict) -> None:
    import matplotlib.pyplot as plt

    models = sorted({k[0] for k in s})
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.6), squeeze=False)
    for ax, model in zip(axes[0], models):
        items = [(k[1], v) for k, v in s.items() if k[0] == model]
        names = [n for n, _ in items]
        ax.barh(names, [100 * v[0] for _, v in items], xerr=[100 * v[1] for _, v in items], color="C2", capsize=2)
        ax.set_title(f"FFzero ablations: {model}", fontsize=10)
        ax.set_xlabel("test accuracy (%)")
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=8)
    _finish(fig, path)
