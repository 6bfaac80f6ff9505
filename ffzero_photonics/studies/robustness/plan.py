"""What the robustness study runs: the plan (sizes, effects grid, ablations) and the methods' labels."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ...errors import UserInputError
from ...photonic.chip_config import ChipConfig
from ...photonic.nonideal_config import LEVELS, severity_preset
from ...photonic.nonideal_config import physical_preset
from ...registry import get_model
from ...train_config import PARADIGM_DEFAULTS

_FFZERO = PARADIGM_DEFAULTS["ffzero"]

GRID_EFFECTS = (
    "coupler", "loss", "phase_offset", "dac", "crosstalk", "shot", "thermal", "adc", "responsivity", "drift", "combined",
)
PHYSICAL_GRID_EFFECTS = ("laser", "dac", "phase_offset", "p_pi_spread", "crosstalk", "drift", "coupler", "loss",
                         "combined")
# a physical chip's plan: its grid is the config's depth, the presets its physics tables', no normalized ablations
PHYSICAL_DEFAULTS = {"effects": PHYSICAL_GRID_EFFECTS, "multilayer_effects": (), "mc_effect": "combined",
                     "photonic_ablations": ("base", "K=4", "K=16", "eps=1e-2", "eps=1e-1", "forward", "prototypes",
                                            "global")}
PHYSICAL_BOUNDED = {"effects": ("laser", "dac", "phase_offset", "crosstalk", "drift", "combined"),
                    "multilayer_effects": (), "photonic_ablations": ("base", "K=4", "global")}
IDEAL = ("ideal", "none")
GRID_METHODS = ("offline", "ffzero", "ffzero-hw")


def method_labels(plan: "StudyPlan") -> dict[str, str]:
    """The grid methods as the tables and plots name them (with the plan's two ε)."""
    return {"offline": "offline BP+AD → chip", "ffzero": f"in-situ FFzero ε={plan.eps:g} (paper)",
            "ffzero-hw": f"in-situ FFzero ε={plan.hw_eps:g}"}


@dataclass(frozen=True)
class StudyPlan:
    """Everything that sizes the study; ``bounded()`` is the ~3-minute CI form.

    Batch size, the paper's ε and optimizer/schedule are the FFzero defaults of TrainConfig; ``hw_eps`` is the
    photonic model's recipe ε. ``lr`` 1e-2 is the study's own (its budgets are shorter than the CLI's 300 epochs).
    """

    ports: int = 16
    layers: int = 1
    batch_size: int = _FFZERO["batch_size"]
    epochs: int = 100
    lr: float = 1e-2
    eps: float = _FFZERO["eps"]
    hw_eps: float = get_model("photonic").recipe["eps"]
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
    chip_config: dict[str, Any] | None = None  # a physical CHIP.toml's tables (JSON); None: the paper's chip
    methods: tuple[str, ...] = GRID_METHODS  # which grid methods run (offline rides on an in-situ run's lab time)
    effect_levels: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (effect, its levels) where not ``levels``

    def __post_init__(self):
        object.__setattr__(self, "effect_levels", tuple((str(e), tuple(lvs)) for e, lvs in self.effect_levels))
        for name in ("ports", "layers", "batch_size", "epochs", "offline_epochs", "seeds", "multilayer_epochs",
                     "ablation_seeds", "ablation_epochs", "workers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise UserInputError(f"{name} must be a positive integer, got {v!r}")
        for name in ("lr", "eps", "hw_eps", "offline_lr"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (np.isfinite(v) and v > 0):
                raise UserInputError(f"{name} must be a positive number, got {v!r}")
        for name in ("mc_retrain", "mc_instances"):  # 0: no Monte Carlo retraining / evaluation
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise UserInputError(f"{name} must be a non-negative integer, got {v!r}")
        bad = [m for m in self.methods if m not in GRID_METHODS]
        if bad or not self.methods or len(set(self.methods)) != len(self.methods):
            raise UserInputError(f"methods must be distinct names from {', '.join(GRID_METHODS)}, got {self.methods!r}")
        if not set(self.methods) & {"ffzero", "ffzero-hw"}:
            raise UserInputError(f"methods {self.methods!r} need an in-situ method (ffzero or ffzero-hw): the offline "
                                 "phases are evaluated after the same lab time as an in-situ training")
        for e, lvs in self.effect_levels:
            if e not in self.effects:
                raise UserInputError(f"effect_levels names effect {e!r}, which is not in effects {self.effects!r}")
            if not lvs:
                raise UserInputError(f"effect_levels gives effect {e!r} no levels")
        preset = severity_preset
        if self.chip_config is not None:
            config = ChipConfig.from_dict(self.chip_config)
            if not config.is_physical:
                raise UserInputError("chip_config is for a physical chip ([chip] model = \"physical\"); the paper "
                                     "chip takes ports and layers only")
            preset = physical_preset
            normalized = [a for a in self.photonic_ablations if "nonideal" in ABLATIONS[a]]
            if normalized:
                raise UserInputError(f"ablation {normalized[0]!r} uses a normalized preset, which a physical chip refuses")
        for e in (*self.effects, *self.multilayer_effects, self.mc_effect):
            preset(e, "low")
        for lv in (*self.levels, self.multilayer_level, self.mc_level, *(l for _, lvs in self.effect_levels for l in lvs)):
            if lv not in LEVELS:
                raise UserInputError(f"unknown severity level {lv!r}; choose one of {', '.join(LEVELS)}")
        unknown = [a for a in (*self.photonic_ablations, *self.mlp_ablations) if a not in ABLATIONS]
        if unknown:
            raise UserInputError(f"unknown ablation {unknown[0]!r}; choose from {', '.join(ABLATIONS)}")
        chip_only = [a for a in self.mlp_ablations if "nonideal" in ABLATIONS[a]]
        if chip_only:
            raise UserInputError(f"ablation {chip_only[0]!r} changes the chip hardware; it is for photonic_ablations only")
        if any(not (1.0 < w < 2.5) for w in self.wavelengths):  # empty: no wavelength sweep
            raise UserInputError(f"wavelengths must lie in (1.0, 2.5) um, got {self.wavelengths!r}")

    @property
    def physical(self) -> bool:
        return self.chip_config is not None

    def levels_of(self, effect: str) -> tuple[str, ...]:
        """The severities the grid runs ``effect`` at: its own from ``effect_levels``, else ``levels``."""
        return dict(self.effect_levels).get(effect, self.levels)

    def grid_cells(self) -> list[tuple[str, str]]:
        """Every (effect, level) of the grid after the ideal cell, in plan order."""
        return [(e, lv) for e in self.effects for lv in self.levels_of(e)]

    def offline_partner(self) -> str:
        """The in-situ method whose run also deploys the offline phases (paper ε when it runs, as before)."""
        return "ffzero" if "ffzero" in self.methods else "ffzero-hw"

    @classmethod
    def create(cls, *, bounded: bool = False, **overrides: Any) -> "StudyPlan":
        """The full plan or :meth:`bounded` one; a physical ``chip_config`` brings its own effects (``PHYSICAL_DEFAULTS``)."""
        if bounded:
            return cls.bounded(**overrides)
        return cls(**{**(PHYSICAL_DEFAULTS if overrides.get("chip_config") else {}), **overrides})

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
        if overrides.get("chip_config"):
            base.update(PHYSICAL_BOUNDED)
        return cls(**{**base, **overrides})

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON types (tuples become lists), as written to plan.json."""
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
