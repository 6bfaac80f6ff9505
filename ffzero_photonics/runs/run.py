"""A training run as a self-describing directory: config, provenance, checkpoint, history, metrics, plots.

``train_run`` validates everything before it writes anything, checkpoints durably and atomically
after every epoch, and resumes when the same run directory is given again with the same configuration
(a run killed before its first checkpoint restarts from zero). ``run.json`` records the resolved spec,
the model's full config, package versions, git commit and start time (and every resume).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from ..data import load_dataset
from ..errors import UserInputError
from ..registry import build_model, get_model, model_from_config
from ..trainer import Trainer, TrainConfig
from .checkpoint import (load_checkpoint, load_params, param_arrays, remove_temporaries, save_checkpoint,
                         write_json_atomic, write_text_atomic)
from .provenance import provenance

CHECKPOINT = "checkpoint.npz"
RUN_RECORD = "run.json"
CHECKPOINT_KEYS = ("run", "trainer", "model_config", "counter")


@dataclass
class RunSpec:
    """Everything that defines a run: model, dataset and training configuration."""

    model: str = "mlp"
    model_options: dict[str, Any] = field(default_factory=dict)
    dataset: str = "digits"
    standardize: bool | None = None  # None: the model kind's default (raw pixel powers for photonic chips)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.train, TrainConfig):
            raise UserInputError(f"train must be a TrainConfig, got {type(self.train).__name__}")
        if not isinstance(self.model_options, dict):
            raise UserInputError(f"model_options must be a dict, got {self.model_options!r}")
        get_model(self.model).check_options(self.model_options)

    def resolved(self) -> "RunSpec":
        """This spec with the training recipe resolved from the model kind's recipe and the paradigm's defaults."""
        return replace(self, train=self.train.resolved(get_model(self.model).recipe))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["train"] = self.train.to_dict()
        return json.loads(json.dumps(d))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunSpec":
        d = dict(d)
        d["train"] = TrainConfig.from_dict(d["train"])
        return cls(**d)


def load_run_data(spec: RunSpec):
    """The dataset of a run, split and scaled with the run's seed."""
    standardize = spec.standardize
    if standardize is None:
        standardize = get_model(spec.model).standardize
    return load_dataset(spec.dataset, seed=spec.train.seed, standardize=standardize)


def prepare(spec: RunSpec):
    """Dataset, fresh model and trainer for a run; raises UserInputError on any bad input."""
    data = load_run_data(spec)
    model = build_model(spec.model, data, seed=spec.train.seed, **spec.model_options)
    return data, model, Trainer(spec.train)


def train_run(
    spec: RunSpec,
    out_dir: str | Path,
    *,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train (or resume) the run in ``out_dir`` and write its outputs; returns the metrics."""
    spec = spec.resolved()
    out = Path(out_dir)
    check_out_dir(out)
    data, model, trainer = prepare(spec)
    ckpt = out / CHECKPOINT
    if ckpt.exists():
        trainer = _resume(spec, ckpt, model)
        remove_temporaries(out)
        meta = trainer.state()[0]
        inside = f", step {meta['partial']['next_batch']}" if meta["partial"] else ""
        log(f"resuming {out} at stage {meta['position'][0]}, epoch {meta['position'][1]}{inside}")
    elif out.exists() and any(out.iterdir()):
        if {p.name for p in out.iterdir() if not p.name.endswith(".tmp")} - {RUN_RECORD}:
            raise UserInputError(f"output directory {out} is not empty and holds no checkpoint; choose another --out")
        remove_temporaries(out)  # killed before its first checkpoint: nothing to resume, start again
        (out / RUN_RECORD).unlink(missing_ok=True)
        log(f"restarting {out} from zero: it was interrupted before its first checkpoint")
    created = not out.exists()
    origin = provenance()
    recorded = []

    def checkpoint(tr: Trainer) -> None:
        if not recorded:
            _record(out, spec, model, origin)
            recorded.append(True)
        meta, arrays = tr.state()
        arrays.update(param_arrays(model))
        sim_state = getattr(model, "sim_state", None)
        save_checkpoint(ckpt, {
            "run": spec.to_dict(), "trainer": meta,
            "model_config": model.to_config(), "counter": model.counter.snapshot(),
            **({"sim_state": sim_state()} if callable(sim_state) else {}),
        }, arrays)

    try:
        trainer.fit(model, data, progress=progress, on_epoch=checkpoint, on_step=checkpoint)
    except BaseException:
        if created and out.exists() and not ckpt.exists():
            shutil.rmtree(out, ignore_errors=True)
        raise
    return write_outputs(out, spec, data, model, trainer)


def check_out_dir(out: Path) -> None:
    """Refuse a run directory that is a file, lies under a file, or cannot be created (before anything is written)."""
    if out.exists() and not out.is_dir():
        raise UserInputError(f"output directory {out} is a file; choose another --out")
    parent = out
    while not parent.exists():
        if parent.parent == parent:
            return
        parent = parent.parent
    if not parent.is_dir():
        raise UserInputError(f"output directory {out} lies under the file {parent}; choose another --out")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserInputError(f"output directory {out}: {parent} is not writable; choose another --out")


def _record(out: Path, spec: RunSpec, model, origin: dict[str, Any]) -> None:
    """Write ``run.json`` for a new run, or add this process's provenance to its ``resumes``."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / RUN_RECORD
    if path.exists():
        record = json.loads(path.read_text())
        record.setdefault("resumes", []).append(origin)
    else:
        record = {"spec": spec.to_dict(), "model": spec.model, "model_config": model.to_config(),
                  "provenance": origin, "resumes": []}
    write_json_atomic(path, record)


def read_run_record(out_dir: str | Path) -> dict[str, Any]:
    """The ``run.json`` of a run directory: spec, model config, provenance, resumes."""
    path = Path(out_dir) / RUN_RECORD
    if not path.is_file():
        raise FileNotFoundError(f"no run record at {path}")
    return json.loads(path.read_text())


def read_checkpoint(ckpt: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A run checkpoint's (metadata, arrays); a file that is not one is a UserInputError naming it."""
    meta, arrays = load_checkpoint(ckpt)
    missing = [k for k in CHECKPOINT_KEYS if k not in meta]
    if missing:
        raise UserInputError(f"{ckpt} is not a run checkpoint: its metadata lacks {', '.join(missing)}")
    return meta, arrays


def _resume(spec: RunSpec, ckpt: Path, model) -> Trainer:
    meta, arrays = read_checkpoint(ckpt)
    saved = meta["run"]
    current = spec.to_dict()
    if saved != current:
        diff = sorted(_diff_keys(saved, current))
        raise UserInputError(f"{ckpt.parent} holds a run with a different configuration ({', '.join(diff)}); "
                             "choose another --out")
    check_identity = getattr(model, "check_identity", None)
    if callable(check_identity):
        check_identity(meta["model_config"])
    load_params(model, arrays)
    load_sim_state(model, meta)
    model.counter.load(meta["counter"])
    return Trainer.from_state(meta["trainer"], arrays)


def load_sim_state(model, meta: dict[str, Any]) -> None:
    """Continue a simulated chip's noise, drift and clock from the checkpoint (older checkpoints lack them)."""
    if "sim_state" in meta and callable(getattr(model, "load_sim_state", None)):
        model.load_sim_state(meta["sim_state"])


def _diff_keys(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            keys += _diff_keys(va, vb, f"{prefix}{k}.")
        elif va != vb:
            keys.append(f"{prefix}{k}")
    return keys


def write_outputs(out: Path, spec: RunSpec, data, model, trainer: Trainer) -> dict[str, Any]:
    """metrics.json, history.csv and the figures of a finished run."""
    from . import plots

    t0 = time.perf_counter()
    result = trainer.evaluate(model, data, "test")
    eval_time = time.perf_counter() - t0
    predictions = result.pop("predictions")
    cost = trainer.train_cost.snapshot()
    metrics: dict[str, Any] = {
        **result,
        "queries": cost["sample_queries"],
        "query_settings": cost["settings"],
        "query_calls": cost["calls"],
        "layer_evals": cost["layer_evals"],
        "total_queries_incl_eval": model.counter.sample_queries,
        "wall_time_s": trainer.history[-1]["wall_time_s"] if trainer.history else 0.0,
        "eval_time_s": eval_time,
        "final_val_score": trainer.history[-1]["val_score"] if trainer.history else None,
        "config": spec.to_dict(),
        "model_config": model.to_config(),
        "provenance": _provenance_of(out),
        "dataset": {"name": data.name, "n_train": len(data.X_train), "n_val": len(data.X_val), "n_test": len(data.X_test)},
    }
    extra = getattr(model, "run_metrics", None)
    if callable(extra):
        metrics.update(extra())
    write_json_atomic(out / "metrics.json", metrics)
    _write_csv(out / "history.csv", trainer.history)
    plots.learning_curves(trainer.history, out / "learning_curves.png")
    if data.task == "regression":
        plots.prediction_scatter(data.y_test, predictions, out / "prediction_scatter.png", metrics["test_r2"])
    else:
        plots.confusion_matrix_plot(data.y_test, predictions, data.n_classes, out / "confusion_matrix.png")
    figures = get_model(spec.model).figures
    if figures is not None:
        figures(model, out, data)
    return metrics


def _provenance_of(out: Path) -> dict[str, Any] | None:
    path = out / RUN_RECORD
    return json.loads(path.read_text())["provenance"] if path.exists() else None


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buf.getvalue())


def load_run(out_dir: str | Path):
    """(spec, data, model with trained parameters, trainer) of a run directory."""
    ckpt = Path(out_dir) / CHECKPOINT
    meta, arrays = read_checkpoint(ckpt)
    try:
        spec = RunSpec.from_dict(meta["run"])
    except (TypeError, KeyError) as exc:
        raise UserInputError(f"{ckpt} holds a run configuration this version cannot read ({exc})") from None
    data = load_run_data(spec)
    model = model_from_config(spec.model, meta["model_config"])
    load_params(model, arrays)
    load_sim_state(model, meta)
    return spec, data, model, Trainer.from_state(meta["trainer"], arrays)


def evaluate_run(out_dir: str | Path) -> dict[str, Any]:
    """Re-evaluate a saved run on its test split from the checkpoint alone."""
    _, data, model, trainer = load_run(out_dir)
    result = trainer.evaluate(model, data, "test")
    result.pop("predictions")
    return result
