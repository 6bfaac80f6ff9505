"""Many independent training runs from one TOML grid, on local processes or a Dask cluster.

A sweep file holds a base run (the fields of :class:`~ffzero_photonics.runs.run.RunSpec`)
and a ``[grid]`` of axes; every combination is one *cell*, trained with
``runs.run.train_run`` in ``DIR/cells/<cell-id>``::

    model = "photonic"
    dataset = "digits"
    [model_options]
    layers = 1
    [train]
    paradigm = "ffzero"
    epochs = 5
    [grid]
    seed = [0, 1, 2]                 # shorthand for train.seed
    train.lr = [1e-3, 3e-3]
    model_options.ports = [16, 25]

Training options default to the ``ffzero train`` recipe of the cell's paradigm and model.
An unknown key anywhere (top level, ``[train]``, a grid axis, or a ``[model_options]`` key or
nested table the model refuses) is a UserInputError naming it, before anything runs: every distinct
model configuration is built once on its dataset first (a served chip is not contacted).
Each finished cell writes ``result.json`` (a failed one ``error.json``)
durably and atomically as soon as it completes; re-running skips finished cells and
resumes or retries the others. A cell whose worker process dies is retried once, then
fails alone. A lock (``DIR/sweep.lock``) refuses a second sweep on the same directory
while one runs; killing a sweep stops its local workers. The end of a sweep writes
``summary.csv`` and ``summary.md``.
"""

from __future__ import annotations

import copy
import csv
import errno
import hashlib
import io
import itertools
import json
import os
import re
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import UserInputError
from ..runs.checkpoint import remove_temporaries, write_json_atomic, write_text_atomic
from .executor import LOCAL_CLUSTER, check_scheduler, open_scheduler, run_tasks

TOP_KEYS = ("model", "dataset", "standardize", "model_options", "train", "seed", "grid")
SPEC_SCALARS = ("model", "dataset", "standardize")
RESULT, ERROR = "result.json", "error.json"
LOCK = "sweep.lock"


@dataclass(frozen=True)
class Cell:
    """One grid point: its id, its axis values and the full run configuration (a RunSpec dict)."""

    id: str
    values: dict[str, Any]
    spec: dict[str, Any]


def load_sweep(path: str | Path) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """(base configuration, grid axes as dotted path -> values) of a sweep TOML file."""
    from ..validation import read_toml

    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"no sweep file at {path}")
    try:
        doc = read_toml(path, "sweep file")
    except ValueError as exc:  # bad TOML syntax
        raise UserInputError(str(exc)) from None
    unknown = sorted(set(doc) - set(TOP_KEYS))
    if unknown:
        raise UserInputError(f"{path}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(TOP_KEYS)}")
    grid = doc.pop("grid", {})
    if not isinstance(grid, dict):
        raise UserInputError(f"{path}: [grid] must be a table of axes, got {grid!r}")
    axes = {}
    for key, values in _flatten(grid).items():
        if not isinstance(values, list) or not values:
            raise UserInputError(f"{path}: grid axis {key!r} must be a non-empty list, got {values!r}")
        axes[_canonical(key)] = values
    if len(axes) != len(_flatten(grid)):
        raise UserInputError(f"{path}: grid names the same axis twice (seed is train.seed)")
    for key in ("model_options", "train"):
        if not isinstance(doc.get(key, {}), dict):
            raise UserInputError(f"{path}: {key} must be a table ([{key}]), got {doc[key]!r}")
    base = dict(doc)
    if "seed" in base:
        base.setdefault("train", {})
        base["train"]["seed"] = base.pop("seed")
    return base, axes


def expand(base: dict[str, Any], axes: dict[str, list[Any]]) -> list[Cell]:
    """Every combination of the axes applied to the base, validated as RunSpecs (nothing runs)."""
    from ..registry import get_model
    from ..runs.run import RunSpec
    from ..train_config import PARADIGMS, TrainConfig, default_train

    train_fields = {f.name for f in fields(TrainConfig)}
    for key in axes:
        head, _, rest = key.partition(".")
        if head == "train" and rest not in train_fields:
            raise UserInputError(f"grid axis {key!r}: TrainConfig has no field {rest!r}")
        if head not in ("train", "model_options") and (key not in SPEC_SCALARS):
            raise UserInputError(f"grid axis {key!r} is not a run field; use model, dataset, standardize, seed, "
                             "train.<field> or model_options.<option>")
    for key in base.get("train", {}):
        if key not in train_fields:
            raise UserInputError(f"[train] has unknown field {key!r}; allowed: {', '.join(sorted(train_fields))}")
    cells, seen = [], set()
    for combo in itertools.product(*axes.values()) if axes else [()]:
        values = dict(zip(axes, combo))
        spec = copy.deepcopy(base)
        spec.setdefault("model_options", {})
        spec.setdefault("train", {})
        for key, value in values.items():
            head, _, rest = key.partition(".")
            if rest:
                spec[head][rest] = value
            else:
                spec[head] = value
        paradigm = spec["train"].get("paradigm", "ffzero")
        model = spec.get("model", "mlp")
        entry = get_model(model)
        _check_model_options(entry, spec["model_options"], values)
        estimator = spec["train"].get("estimator", "dd")
        train = ({**default_train(paradigm, entry.recipe, estimator), **spec["train"]} if paradigm in PARADIGMS
                 else spec["train"])
        try:
            run = RunSpec(
                model=model, model_options=spec["model_options"],
                dataset=spec.get("dataset", "digits"), standardize=spec.get("standardize"),
                train=TrainConfig(**train),
            )
        except (TypeError, ValueError) as exc:
            raise UserInputError(f"grid cell {_describe(values)}: {exc}") from None
        spec_dict = run.to_dict()
        digest = hashlib.sha1(json.dumps(spec_dict, sort_keys=True).encode()).hexdigest()[:8]
        cell_id = f"{_slug(values)}-{digest}" if values else digest
        if cell_id in seen:
            raise UserInputError(f"grid cell {_describe(values)} appears twice")
        seen.add(cell_id)
        cells.append(Cell(cell_id, values, spec_dict))
    return cells


def _check_model_options(entry: Any, options: dict[str, Any], values: dict[str, Any]) -> None:
    """Refuse option names and values the model does not take (a typo would otherwise train the default net)."""
    try:
        entry.check_options(options)
    except UserInputError as exc:
        where = f"grid cell {_describe(values)}: " if values else ""
        raise UserInputError(f"{where}[model_options] {exc}") from None


def preflight(cells: list[Cell]) -> None:
    """Build every distinct model configuration once on its dataset, so an option the model refuses (a
    misspelled key, a bad nested table) stops the sweep before any cell runs.

    A dataset file that cannot be read is left to its cells (each fails alone); a served chip is not contacted.
    """
    from ..registry import build_model
    from ..runs.run import RunSpec, load_run_data

    seen: set[str] = set()
    datasets: dict[str, Any] = {}
    for cell in cells:
        spec = cell.spec
        key = json.dumps([spec["model"], spec["model_options"], spec["dataset"], spec["standardize"]], sort_keys=True)
        if key in seen or spec["model_options"].get("chip"):
            continue
        seen.add(key)
        run = RunSpec.from_dict(spec)
        data_key = json.dumps([spec["dataset"], spec["standardize"], spec["model"]])
        if data_key not in datasets:
            try:
                datasets[data_key] = load_run_data(run)
            except OSError:  # a missing file or unreachable source: its cells fail alone
                datasets[data_key] = None
            except UserInputError as exc:
                raise UserInputError(f"grid cell {_describe(cell.values)}: {exc}") from None
        if datasets[data_key] is None:
            continue
        try:
            build_model(run.model, datasets[data_key], seed=run.train.seed, **run.model_options)
        except UserInputError as exc:
            raise UserInputError(f"grid cell {_describe(cell.values)}: [model_options] {exc}") from None
        except TypeError as exc:
            if "unexpected keyword argument" not in str(exc):
                raise
            name = str(exc).rsplit(" ", 1)[-1]
            raise UserInputError(f"grid cell {_describe(cell.values)}: [model_options] model {run.model!r} takes no "
                                 f"option {name}") from None


def run_cell(cell_id: str, values: dict[str, Any], spec: dict[str, Any], cell_dir: str) -> dict[str, Any]:
    """Train one cell (resuming it if interrupted) and write its result.json or error.json atomically."""
    from ..runs.run import RunSpec, train_run

    out = Path(cell_dir)
    (out / ERROR).unlink(missing_ok=True)
    t0 = time.perf_counter()
    record: dict[str, Any] = {"cell": cell_id, "values": values}
    try:
        metrics = train_run(RunSpec.from_dict(spec), out, progress=False, log=lambda message: None)
    except Exception as exc:
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(),
                      wall_time_s=time.perf_counter() - t0)
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / ERROR, record)
        return record
    scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool)) or v is None}
    record.update(
        status="ok", test_accuracy=metrics.get("test_accuracy"), test_r2=metrics.get("test_r2"),
        queries=metrics.get("queries"), train_wall_time_s=metrics.get("wall_time_s"),
        wall_time_s=time.perf_counter() - t0, metrics=scalars,
    )
    write_json_atomic(out / RESULT, record)
    return record


def run_sweep(
    path: str | Path,
    out_dir: str | Path,
    *,
    workers: int | None = None,
    scheduler: Any = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run every unfinished cell of a sweep file and write the summary; returns one record per cell.

    ``workers``: local process pool size (default: CPU count, at most the
    number of cells; 0 runs the cells one after another in this process), or the size
    of the LocalCluster ``scheduler="local"`` starts.
    ``scheduler``: ``"local"``, a Dask scheduler address, or an existing ``distributed.Client``
    (left open) instead of local processes.
    """
    from ..runs.run import check_out_dir

    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise UserInputError(f"workers must be a non-negative integer, got {workers!r}")
    check_scheduler(scheduler)
    if scheduler is not None and workers is not None and (scheduler != LOCAL_CLUSTER or workers == 0):
        raise UserInputError(f"workers={workers} with scheduler {scheduler!r}: --workers sizes the local processes "
                             "or --scheduler local's cluster (at least 1); a running cluster has its own workers")
    base, axes = load_sweep(path)
    cells = expand(base, axes)
    out = Path(out_dir)
    check_out_dir(out)
    preflight(cells)
    with open_scheduler(scheduler, workers, log) as client, sweep_lock(out):
        remove_temporaries(out)
        cells_dir = out / "cells"
        cells_dir.mkdir(exist_ok=True)
        write_json_atomic(out / "sweep.json", {
            "source": str(path), "base": base, "axes": axes, "cells": [c.id for c in cells],
        })
        records: dict[str, dict[str, Any]] = {}
        todo = []
        for cell in cells:
            done = _read_json(cells_dir / cell.id / RESULT)
            if done is not None and done.get("status") == "ok":
                records[cell.id] = done
            else:
                todo.append(cell)
        if records:
            log(f"sweep {out}: {len(records)} of {len(cells)} cells already finished; running {len(todo)}")
        bar = _bar(len(cells), len(records), progress)
        try:
            if not todo:
                pass
            elif workers == 0:
                for cell in todo:
                    _finish(run_cell(cell.id, cell.values, cell.spec, str(cells_dir / cell.id)), cells_dir, records, bar)
            else:
                _run_cells(todo, cells_dir, records, bar, workers=None if client is not None else workers,
                           scheduler=client)
        finally:
            bar.close()
        ordered = [records.get(c.id) or _missing(c) for c in cells]
        write_summary(out, ordered, list(axes))
    return ordered


@contextmanager
def sweep_lock(out: Path) -> Iterator[None]:
    """Hold ``out/sweep.lock`` (flock) for the sweep; a second sweep on ``out`` is refused, not raced.

    The kernel releases the lock when the holder dies, so a killed sweep never blocks the next one.
    """
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise UserInputError(f"sweep directory {out} is in use by another sweep (pid {holder}); wait for it "
                                 "to finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _run_cells(todo: list[Cell], cells_dir: Path, records, bar, *, workers=None, scheduler=None) -> None:
    base = cells_dir.resolve() if scheduler is not None else cells_dir  # Dask workers need absolute paths
    args = [(c.id, c.values, c.spec, str(base / c.id)) for c in todo]
    for i, fut in run_tasks(run_cell, args, workers=workers, scheduler=scheduler):
        _finish(_outcome(fut, todo[i]), cells_dir, records, bar)


def _outcome(future, cell: Cell) -> dict[str, Any]:
    try:
        return future.result()
    except Exception as exc:  # the worker died (twice) or the task could not run at all
        return {"cell": cell.id, "values": cell.values, "status": "failed",
                "error": f"{type(exc).__name__}: {exc}", "wall_time_s": None}


def _finish(record: dict[str, Any], cells_dir: Path, records, bar) -> None:
    """Keep a finished cell's record; write its file if the worker could not (no shared disk, crash)."""
    name = RESULT if record.get("status") == "ok" else ERROR
    path = cells_dir / record["cell"] / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, record)
    records[record["cell"]] = record
    bar.update(1)
    failed = sum(r.get("status") != "ok" for r in records.values())
    bar.set_postfix(failed=failed)


def write_summary(out: Path, records: list[dict[str, Any]], axes: list[str]) -> None:
    """summary.csv and summary.md: one row per cell with its grid values, score, queries, time, status."""
    score_key = "test_r2" if any(r.get("test_r2") is not None for r in records) else "test_accuracy"
    header = ["cell", *axes, "status", score_key, "queries", "wall_time_s", "error"]
    rows = []
    for r in records:
        values = r.get("values", {})
        rows.append([
            r["cell"], *[json.dumps(values.get(a)) if isinstance(values.get(a), (list, dict)) else values.get(a) for a in axes],
            r.get("status"), _fmt(r.get(score_key)), r.get("queries"), _fmt(r.get("wall_time_s"), 2),
            (r.get("error") or "").splitlines()[0][:200] if r.get("error") else "",
        ])
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    write_text_atomic(out / "summary.csv", buf.getvalue())
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join("" if v is None else str(v).replace("|", "\\|") for v in row) + " |")
    ok = sum(r.get("status") == "ok" for r in records)
    text = f"# Sweep summary\n\n{ok} of {len(records)} cells finished.\n\n" + "\n".join(lines) + "\n"
    write_text_atomic(out / "summary.md", text)


def _fmt(value: Any, digits: int = 4) -> Any:
    return round(value, digits) if isinstance(value, float) else value


def _missing(cell: Cell) -> dict[str, Any]:
    return {"cell": cell.id, "values": cell.values, "status": "not run"}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _canonical(key: str) -> str:
    return "train.seed" if key == "seed" else key


def _slug(values: dict[str, Any]) -> str:
    parts = []
    for key, value in values.items():
        text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
        parts.append(f"{key.rsplit('.', 1)[-1]}={text}")
    slug = re.sub(r"[^A-Za-z0-9._=,+-]+", "", "_".join(parts))
    return slug[:80] or "cell"


def _describe(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items()) or "(base)"


def _bar(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, unit="cell", desc="sweep", dynamic_ncols=True)
