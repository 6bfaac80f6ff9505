"""Which update a forward-only step makes: DD (the trainer's own), SPSA, separable CMA-ES, or the coordinate estimator.

``make_search`` builds the search object of one training stage and refuses, in one line, an estimator the model
or paradigm cannot use. ``--dirs K`` reads per estimator: DD and SPSA K perturbations (2K settings a step),
coordinate K heaters (2K + 1 settings), CMA-ES a population of K (K = 1: cma's default 4 + 3 ln d).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..blackbox import LayerInfo
from ..errors import UserInputError
from .baselines import CMASearch, SPSASearch
from .coordinate import CoordinateSearch
from .domains import FlatDomain
from .optim import make_schedule

ESTIMATORS = ("dd", "spsa", "cma", "coordinate")
# Recipe fields an estimator reads differently, over the paradigm's and the model's defaults (a user's value wins):
# the coordinate step is a fraction of the way to each heater's minimum. SPSA and CMA-ES are their textbook
# algorithms: they use no optimizer or schedule (SPSA: lr is the first gain, eps the perturbation norm; CMA-ES: eps
# the initial spread as a norm).
ESTIMATOR_DEFAULTS: dict[str, dict[str, Any]] = {
    "dd": {},
    "spsa": {},
    "cma": {},
    "coordinate": {"lr": 0.5, "schedule": "cosine"},
}


def make_search(
    estimator: str,
    infos: Sequence[LayerInfo],
    theta0: np.ndarray,
    rng: np.random.Generator,
    *,
    eps: float,
    n_dirs: int,
    lr: float,
    schedule: str,
    total_steps: int,
    readout_is_trained: bool,
):
    """The search object of one stage (``step(theta, measure, score)``, ``state_leaves``, ``load_state_leaves``).

    ``readout_is_trained``: the measured layer is the only trained one (always so for local paradigms).
    """
    domain = FlatDomain.from_infos(infos)
    if estimator == "spsa":
        return SPSASearch(domain, rng, lr=lr, eps=eps, n_dirs=n_dirs, total_steps=total_steps)
    if estimator == "cma":
        return CMASearch(domain, theta0, rng, eps=eps, popsize=n_dirs if n_dirs > 1 else None)
    if estimator == "coordinate":
        if not domain.phases_only:
            raise UserInputError("estimator 'coordinate' needs heater phases read out as detector powers "
                                 "(a photonic chip); this model's parameters are not phases")
        if not readout_is_trained:
            raise UserInputError("estimator 'coordinate' fits the trained layer's own detectors; a global paradigm on "
                                 "a multi-layer model reads them through later layers: use paradigm ffzero")
        if lr > 1:
            raise UserInputError(f"estimator 'coordinate' moves a fraction lr of the way to each minimum; lr must be "
                                 f"in (0, 1], got {lr!r}")
        return CoordinateSearch(domain, rng, n_coords=n_dirs, rate=make_schedule(schedule, lr, total_steps))
    raise ValueError(f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS[1:])}")
