"""``run_robustness``: plan the study's tasks, run them on the scale executor, write the outputs."""

from __future__ import annotations

import json
import time
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable

from ...errors import UserInputError
from ...scale.executor import check_scheduler, run_tasks, single_thread_env
from .plan import ABLATIONS, IDEAL, StudyPlan
from .report import write_outputs
from .tasks import monte_carlo, run_task


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

    Trainings run on the scale executor: local processes, or a Dask cluster at ``scheduler``.
    ``bounded`` selects :meth:`StudyPlan.bounded`; ``seeds``, ``workers`` and any
    other :class:`StudyPlan` field given as keyword override the plan.
    """
    if plan is None:
        unknown = sorted(set(overrides) - {f.name for f in fields(StudyPlan)})
        if unknown:
            raise UserInputError(f"unknown study setting {unknown[0]!r}; StudyPlan takes {', '.join(f.name for f in fields(StudyPlan))}")
        over = dict(overrides, workers=workers)
        if seeds is not None:
            over["seeds"] = seeds
        plan = StudyPlan.create(bounded=bounded, **over)
    elif overrides or seeds is not None:
        raise UserInputError("give either plan= or keyword overrides, not both")
    check_scheduler(scheduler)  # before anything is written: a bad --scheduler leaves no plan.json behind
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    single_thread_env()
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
    cells = [IDEAL] + plan.grid_cells()
    insitu_methods = [(m, eps) for m, eps in (("ffzero", plan.eps), ("ffzero-hw", plan.hw_eps)) if m in plan.methods]
    deploy = "offline" in plan.methods
    for s in seeds_:
        for e, lv in cells:
            for m, eps in insitu_methods:
                partner = deploy and m == plan.offline_partner()
                tasks.append(("insitu", dict(plan=plan, seed=s, layers=plan.layers, effect=e, level=lv,
                                             paradigm="ffzero", epochs=plan.epochs, study="grid", eps=eps, method=m,
                                             offline_params=offline[s, plan.layers]["params"] if partner else None)))
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
    mc_rows, wl_rows = [], []
    if plan.mc_instances or plan.wavelengths:
        log("[study] Monte Carlo and wavelength sweep")
        mc_rows, wl_rows = monte_carlo(plan, offline, insitu_rows)

    wall = time.perf_counter() - t_start
    log(f"[study] writing outputs to {out}")
    headline = write_outputs(out, plan, bounded, offline, insitu_rows, ablation_rows, mc_rows, retrain_rows, wl_rows, wall)
    return {"wall_time_s": wall, **headline}


def _cost_guess(task: tuple[str, dict]) -> float:
    """Rough relative run time of a task: the longest start first, so the pool does not idle at the end."""
    name, kw = task
    if name == "insitu":
        return kw["epochs"] * kw["layers"] ** 1.5 * (1.3 if kw["effect"] == "crosstalk" or kw["effect"] == "combined" else 1)
    if name == "ablation":
        k = ABLATIONS[kw["variant"]].get("n_dirs", 1)
        return kw["plan"].ablation_epochs * (2 if kw["model"] == "photonic" else 3) * (1 + 0.1 * k)
    if name == "mc_retrain":
        return kw["epochs"]
    return 1.0


def _run_all(tasks: list[tuple[str, dict]], workers: int, log: Callable[[str], None], label: str,
             scheduler: str | None = None) -> list:
    """Run tasks on the scale executor (local processes, or Dask with ``scheduler``; inline for 1 worker).

    Results come back in task order, so the output files do not depend on which worker finished first.
    """
    t0 = time.perf_counter()
    if scheduler is None and (workers == 1 or len(tasks) == 1):
        results = []
        for k, task in enumerate(tasks):
            results.append(run_task(task))
            _progress(log, label, k + 1, len(tasks), t0)
        return results
    done: dict[int, Any] = {}
    for k, (i, fut) in enumerate(run_tasks(run_task, [(t,) for t in tasks], workers=workers, scheduler=scheduler)):
        done[i] = fut.result()
        _progress(log, label, k + 1, len(tasks), t0)
    return [done[i] for i in range(len(tasks))]


def _progress(log, label: str, done: int, total: int, t0: float) -> None:
    step = max(1, total // 10)
    if done == total or done % step == 0:
        log(f"[study] {label}: {done}/{total} tasks, {time.perf_counter() - t0:.0f} s")
