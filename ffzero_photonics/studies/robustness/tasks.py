"""The robustness study's units of work: trainings run on worker processes, and the Monte Carlo evaluation.

Offline = BP+AD on the ideal digital twin, its phases then programmed onto the
non-ideal chip; in situ = FFzero (or BP+DD) trained through ``query`` on the
non-ideal chip itself, with the heater energy of every training query metered. DD runs on the compiled engine
(``backend="jax"``: the numpy engine's numbers, the same queries and lab time counted).
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from ...data import load_dataset
from ...photonic.chip import PhotonicChip
from ...photonic.chip_config import ChipConfig
from ...photonic.nonideal_config import NonIdealConfig, severity_preset
from ...photonic.nonideal_config import physical_preset
from ...registry import build_model
from ...trainer import TrainConfig, Trainer, default_train
from .plan import ABLATIONS, IDEAL, StudyPlan


@lru_cache(maxsize=8)
def _data(seed: int, standardize: bool):
    """The study's dataset (4x4-pooled digits on the chip), split by ``seed``; cached per worker process."""
    return load_dataset("digits", seed=seed, standardize=standardize)


def _preset(plan: StudyPlan, effect: str, level: str) -> NonIdealConfig | dict:
    """The effect at a severity: normalized non-idealities, or a physical chip's physics tables to lay over its config."""
    if plan.physical:
        return {} if (effect, level) == IDEAL else physical_preset(effect, level)
    return NonIdealConfig() if (effect, level) == IDEAL else severity_preset(effect, level)


def _chip(plan: StudyPlan, seed: int, layers: int, nonideal: NonIdealConfig | dict | None = None, **kw):
    """The study's chip: the paper's (``nonideal`` its non-idealities) or the plan's physical config (``nonideal``
    its preset tables), sized by the data, with the plan's ports and ``layers``."""
    if plan.physical:
        from ...chip_factory import build_chip_from_config  # places heaters as in the drawn layout

        config = ChipConfig.from_dict(plan.chip_config).with_tables(nonideal or {})
        config = config.with_overrides(ports=plan.ports, layers=layers, seed=seed, **kw)
        return build_chip_from_config(config, _data(seed, False))
    return PhotonicChip.for_data(_data(seed, False), ports=plan.ports, layers=layers, seed=seed, nonideal=nonideal, **kw)


def _train_config(plan: StudyPlan, seed: int, *, epochs: int, **overrides: Any):
    """Every recipe field set explicitly: the paradigm's defaults, then the plan's, then ``overrides``; DD compiled."""
    paradigm = overrides.pop("paradigm", "ffzero")
    base = {**default_train(paradigm), "paradigm": paradigm, "epochs": epochs, "batch_size": plan.batch_size,
            "lr": plan.lr, "eps": plan.eps, "seed": seed}
    config = {**base, **overrides}
    if config.get("estimator", "dd") == "dd":
        config["backend"] = "jax"
    return TrainConfig(**config)


def _fit(model, data, config, *, meter: bool) -> tuple[Any, list[dict], float]:
    """Train ``model`` with ``config``; returns the trainer, a per-epoch curve and the training heater energy (J)."""
    if meter:
        model.meter_heater_energy()
    curve: list[dict] = []

    def energy() -> float:
        return model.heater_energy_J if meter else 0.0

    def on_epoch(tr):
        row = tr.history[-1]
        curve.append({
            "stage": row["stage"], "epoch": row["epoch"], "val_accuracy": row.get("val_vote", row["val_score"]),
            "train_sample_queries": row["train_sample_queries"], "train_settings": row["train_settings"],
            "energy_J": energy(),
        })

    tr = Trainer(config)
    tr.fit(model, data, on_epoch=on_epoch)
    return tr, curve, energy()


def _scores(result: dict, prefix: str = "test") -> dict[str, float]:
    return {
        "test_accuracy": result[f"{prefix}_accuracy"],
        "test_accuracy_last": result[f"{prefix}_accuracy_last"],
        "test_accuracy_vote": result[f"{prefix}_accuracy_vote"],
        "test_accuracy_layer0": result[f"{prefix}_accuracy_per_layer"][0],
    }


def _offline_eval(chip, data, seed: int) -> dict[str, float]:
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
    cfg_ni = _preset(plan, effect, level)
    data = _data(seed, False)
    chip = _chip(plan, seed, layers, cfg_ni)
    cfg = _train_config(plan, seed, epochs=epochs, paradigm=paradigm, eps=eps)
    tr, curve, energy = _fit(chip, data, cfg, meter=True)
    res = _scores(tr.evaluate(chip, data))
    cost = tr.train_cost.snapshot()
    lab_s = chip.physical.elapsed_s if chip.physical is not None else None  # modelled lab seconds (drift acts over them)
    key = {"study": study, "layers": layers, "effect": effect, "level": level, "seed": seed, "lab_time_s": lab_s}
    rows = [{**key, "method": method, "eps": eps, **res, "train_sample_queries": cost["sample_queries"],
             "train_settings": cost["settings"], "train_calls": cost["calls"], "energy_J": energy,
             "wall_s": time.perf_counter() - t0, "curve": curve,
             "params": [chip.get_params(l) for l in range(chip.n_layers)]}]
    if offline_params is not None:
        deployed = _chip(plan, seed, layers, cfg_ni)
        for l, p in enumerate(offline_params):
            deployed.set_params(l, p)
        deployed.advance_drift(chip.counter.calls)
        if deployed.physical is not None:  # the same lab seconds of drift as the in-situ training
            deployed.physical.advance(chip.physical.elapsed_s)
        rows.append({**key, "method": "offline", "eps": None, **_offline_eval(deployed, data, seed), "train_sample_queries": 0,
                     "train_settings": 0, "train_calls": 0, "energy_J": 0.0, "wall_s": 0.0})
    return rows


def task_ablation(plan: StudyPlan, model: str, variant: str, seed: int) -> dict[str, Any]:
    """One FFzero ablation run: ideal 2-layer photonic chip, the grid chip with a hardware effect, or the digital MLP."""
    t0 = time.perf_counter()
    over = dict(ABLATIONS[variant])
    nonideal = over.pop("nonideal", None)
    if model == "photonic":
        data = _data(seed, False)
        n_layers = plan.layers if nonideal else 2
        net = _chip(plan, seed, n_layers, _preset(plan, *nonideal) if nonideal else None)
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
    chip = _chip(plan, 0, plan.layers, _preset(plan, plan.mc_effect, plan.mc_level), instance_seed=instance)
    if init is not None:
        for l, p in enumerate(init):
            chip.set_params(l, p)
    before = _offline_eval(chip, data, 0)["test_accuracy"] if init is not None else None
    cfg = _train_config(plan, 0, epochs=epochs, lr=plan.lr if init is None else plan.lr / 3, eps=plan.hw_eps)
    tr, _, energy = _fit(chip, data, cfg, meter=True)
    return {"instance": instance, "method": "in-situ (scratch)" if init is None else "offline + in-situ fine-tune",
            "epochs": epochs, "accuracy_before": before, **_scores(tr.evaluate(chip, data)),
            "train_sample_queries": tr.train_cost.sample_queries, "energy_J": energy, "wall_s": time.perf_counter() - t0}


def run_task(task: tuple[str, dict[str, Any]]):
    """Run one ``(task name, keyword arguments)`` pair on a worker; returns it with its result."""
    name, kwargs = task
    return name, kwargs, TASKS[name](**kwargs)


TASKS: dict[str, Callable[..., Any]] = {
    "offline": task_offline, "insitu": task_insitu, "ablation": task_ablation, "mc_retrain": task_mc_retrain,
}


def monte_carlo(plan: StudyPlan, offline: dict, insitu_rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """Accuracy of fixed phases across fabricated instances of the design, and across wavelengths."""
    data = _data(0, False)
    cfg_ni = _preset(plan, plan.mc_effect, plan.mc_level)
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
    for chip_name, ni, method, params in (variants if plan.wavelengths else []):
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
