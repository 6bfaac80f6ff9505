"""A virtual fab run: draw N instances of an exported chip, test each with its heater table, recover each in situ.

Per instance: the accuracy "as fabricated" (the exported table's drives), then FFzero fine-tuning through the
black box only (:class:`~ffzero_photonics.fab.instance.FabricatedChip`: the run's recipe and objectives, starting
from the table's drives, a fixed number of epochs per layer), then the accuracy after, with the queries and
the lab seconds the fine-tune spent. Accuracies are noise-free test-bench views of the instance's drawn matrices.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ffzero_photonics.errors import UserInputError
from ffzero_photonics.trainer import TrainConfig, Trainer

from .design import FabDesign, load_design
from .instance import FabricatedChip
from .spread import FabSpread

__all__ = ["THRESHOLDS", "FabResult", "epochs_for_budget", "instance_row", "recover_instance", "run_fab",
           "tune_config", "yield_curve"]

THRESHOLDS = (0.3, 0.5, 0.7, 0.8, 0.9)
"""Accuracy thresholds the summary reports the yield at."""
EVAL_TRAIN_MAX = 64  # training samples the trainer re-measures after each epoch (its history only)
MAX_INSTANCES = 100_000


def tune_config(design: FabDesign, epochs: int, lr: float | None = None, backend: str = "jax") -> TrainConfig:
    """The in-situ recipe: the run's trainer config (same seed, so the same objectives) with ``epochs`` per layer, DD
    on the compiled engine (the numpy engine's numbers) unless ``backend`` says otherwise."""
    cfg = design.trainer.config
    backend = backend if cfg.estimator == "dd" else "numpy"  # the compiled engine runs DD only
    return replace(cfg, paradigm="ffzero", epochs=int(epochs), lr=cfg.lr if lr is None else float(lr), backend=backend,
                   checkpoint_every=0, eval_train_max=EVAL_TRAIN_MAX)


def _sample_queries_per_epoch(design: FabDesign, cfg: TrainConfig) -> int:
    n_train = len(design.data.X_train)
    bs = min(cfg.batch_size, n_train)
    per_step = 2 * cfg.n_dirs if cfg.scheme == "central" else cfg.n_dirs + 1
    return (n_train // bs) * bs * per_step + min(n_train, cfg.eval_train_max) + len(design.data.X_val)


def epochs_for_budget(design: FabDesign, queries: int, lr: float | None = None) -> int:
    """Epochs per layer whose fine-tune spends at most ``queries`` sample queries (at least one epoch)."""
    if isinstance(queries, bool) or not isinstance(queries, (int, np.integer)) or queries < 1:
        raise UserInputError(f"--budget-queries must be a positive integer, got {queries!r}")
    per_epoch = _sample_queries_per_epoch(design, tune_config(design, 1, lr)) * design.n_layers
    return max(1, int(queries) // per_epoch)


def recover_instance(design: FabDesign, spread: FabSpread, *, seed: int, instance: int, epochs: int,
                     lr: float | None = None, chip_wrapper: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """One instance: accuracy as fabricated, in-situ fine-tune through the black box only, accuracy after.

    ``chip_wrapper`` wraps the black box the trainer gets (a spy or meter; the chip itself by default).
    """
    chip = FabricatedChip(design, spread, seed=seed, instance=instance)
    before = chip.test_accuracy()
    t0 = time.perf_counter()
    if epochs > 0:
        box = chip if chip_wrapper is None else chip_wrapper(chip)  # a wrapper sees every query: the numpy engine
        Trainer(tune_config(design, epochs, lr, "jax" if chip_wrapper is None else "numpy")).fit(box, design.data)
    return {
        "instance": int(instance), "accuracy_before": before, "accuracy_after": chip.test_accuracy(),
        "sample_queries": chip.counter.sample_queries, "calls": chip.counter.calls, "settings": chip.counter.settings,
        "lab_s": chip.lab_seconds, "wall_s": time.perf_counter() - t0,
    }


def instance_row(run_dir: str, gds_path: str, heater_csv: str | None, spread: dict, seed: int, instance: int,
                 epochs: int, lr: float | None) -> dict[str, Any]:
    """:func:`recover_instance` from plain arguments (what a worker process receives)."""
    design = load_design(run_dir, gds_path, heater_csv)
    return recover_instance(design, FabSpread.from_dict(spread), seed=seed, instance=instance, epochs=epochs, lr=lr)


def yield_curve(accuracies, thresholds=None) -> tuple[np.ndarray, np.ndarray]:
    """(a, fraction of instances with accuracy >= a) for a in ``thresholds`` (default 0..1 in 101 steps)."""
    a = np.linspace(0.0, 1.0, 101) if thresholds is None else np.asarray(thresholds, dtype=float)
    acc = np.asarray(accuracies, dtype=float)
    return a, (acc[None, :] >= a[:, None] - 1e-12).mean(axis=1) if acc.size else np.zeros_like(a)


@dataclass
class FabResult:
    """Rows (one per instance) and the run's settings; :meth:`summary` is what ``fab.json`` holds."""

    run_dir: str
    gds_path: str
    heater_csv: str
    spread: dict
    seed: int
    epochs: int
    lr: float
    exported_accuracy: float
    rows: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        before = np.array([r["accuracy_before"] for r in self.rows])
        after = np.array([r["accuracy_after"] for r in self.rows])
        queries = np.array([r["sample_queries"] for r in self.rows], dtype=float)
        lab = np.array([r["lab_s"] for r in self.rows])
        wall = np.array([r["wall_s"] for r in self.rows])

        def stats(v):
            return {"mean": float(v.mean()), "median": float(np.median(v)), "min": float(v.min()), "max": float(v.max())}

        return {
            "run_dir": self.run_dir, "gds_path": self.gds_path, "heater_csv": self.heater_csv,
            "instances": len(self.rows), "seed": self.seed, "spread": self.spread,
            "fine_tune": {"epochs_per_layer": self.epochs, "lr": self.lr},
            "exported_accuracy": self.exported_accuracy,
            "accuracy_before": stats(before), "accuracy_after": stats(after),
            "yield_before": {f"{t:g}": float(y) for t, y in zip(*yield_curve(before, THRESHOLDS))},
            "yield_after": {f"{t:g}": float(y) for t, y in zip(*yield_curve(after, THRESHOLDS))},
            "sample_queries_per_instance": stats(queries), "lab_s_per_instance": stats(lab),
            "wall_s_per_instance": stats(wall), "wall_s": self.wall_s, "warnings": self.warnings,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_fab(run_dir: str | Path, gds_path: str | Path, *, instances: int, heater_csv: str | Path | None = None,
            spread: FabSpread | None = None, seed: int = 0, epochs: int | None = None, budget_queries: int | None = None,
            lr: float | None = None, workers: int = 1, progress: bool = False) -> FabResult:
    """Draw ``instances`` instances (seeded by ``seed``) and recover each in situ; ``epochs`` or ``budget_queries``."""
    if isinstance(instances, bool) or not isinstance(instances, (int, np.integer)) or not 1 <= instances <= MAX_INSTANCES:
        raise UserInputError(f"--instances must be an integer in 1..{MAX_INSTANCES}, got {instances!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserInputError(f"--seed must be a non-negative integer, got {seed!r}")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise UserInputError(f"--workers must be a positive integer, got {workers!r}")
    if epochs is not None and budget_queries is not None:
        raise UserInputError("give --epochs or --budget-queries, not both")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0):
        raise UserInputError(f"--epochs must be a non-negative integer, got {epochs!r}")
    if lr is not None and not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise UserInputError(f"--lr must be a positive number, got {lr!r}")
    spread = FabSpread() if spread is None else spread
    t0 = time.perf_counter()
    heater_csv = None if heater_csv is None else str(heater_csv)
    design = load_design(str(run_dir), str(gds_path), heater_csv)
    if budget_queries is not None:
        epochs = epochs_for_budget(design, budget_queries, lr)
    epochs = 10 if epochs is None else int(epochs)
    args = [(str(run_dir), str(gds_path), heater_csv, spread.to_dict(), int(seed), k, epochs, lr)
            for k in range(int(instances))]
    rows: list[dict[str, Any] | None] = [None] * len(args)
    from tqdm.auto import tqdm

    with tqdm(total=len(args), disable=not progress, unit="chip", desc="fab", dynamic_ncols=True) as bar:
        if workers == 1:
            for i, a in enumerate(args):
                rows[i] = recover_instance(design, spread, seed=seed, instance=a[5], epochs=epochs, lr=lr)
                bar.update(1)
        else:
            from ffzero_photonics.scale.executor import run_tasks

            for i, future in run_tasks(instance_row, args, workers=workers):
                rows[i] = future.result()
                bar.update(1)
    return FabResult(
        run_dir=str(run_dir), gds_path=str(gds_path), heater_csv=design.heater_csv, spread=spread.to_dict(),
        seed=int(seed), epochs=epochs, lr=float(tune_config(design, epochs, lr).lr),
        exported_accuracy=design.exported_accuracy, rows=rows, warnings=design.warnings,
        wall_s=time.perf_counter() - t0,
    )
