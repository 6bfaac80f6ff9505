"""One validated description of a chip (CHIP.toml): design, non-idealities and the simulated lab instrument.

A CHIP.toml has one table per section of :class:`ChipConfig` (``[chip]``,
``[nonideal.<effect>]``, ``[instrument]`` and, for ``[chip] model = "physical"``, the SI-unit
physics ``[budget]``, ``[detector]``, ``[heaters]``, ``[thermal]``, ``[clock]``,
``[activation]``, ``[input]`` (the drawn coherent input)); every table is optional. ``model = "paper"`` (the default) is the paper's
normalized ideal chip (:meth:`ChipConfig.preset`). A new
section (say ``[laser]``) is one frozen :class:`~.config_fields.Section` class
and one field of ``ChipConfig`` (or, for a physics table, of :class:`~.physical.Physics`, which
``ChipConfig.physics`` holds and whose tables it reads and writes at the top level of the file):
readers, writers and errors follow from the fields.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..errors import UserInputError
from ..validation import read_toml
from .chip import INITS, PhotonicChip
from .config_fields import Section, check_choice, check_int, check_real, coerce_sections
from .mesh_spec import TOPOLOGIES
from .nonideal_config import DESIGN_WAVELENGTH_UM, NonIdealConfig, merge_tables
from .physical import PHYSICS_SECTIONS, Physics

MODELS = ("paper", "physical")
# what `ChipConfig.preset(name)` lays over the defaults; "physical" (the physics tables' defaults) = examples/chip.toml
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "physical": {"chip": {"model": "physical"}},
}

__all__ = ["ChipConfig", "ChipSection", "InstrumentSection", "build_chip"]


def _set(obj, name: str, value) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class ChipSection(Section):
    """The design: mesh, size, activation, laser power, wavelength, which fabricated instance, initial phases.

    ``fold`` > 1 draws the chip as a serpentine of that many bands joined by U-turns; its heater positions
    and drawn path lengths are then the folded layout's (``chip_factory``). ``n_features`` and ``image_shape``
    size the input encoder; when absent they are taken from the data set the chip is trained on.
    """

    TABLE = "chip"
    model: str = "paper"
    mesh: str = "clements"
    ports: int = 16
    layers: int = 2
    fold: int = 1
    init: str = "haar"
    alpha: float = 0.1
    gain: float = 0.05 * math.pi
    phase_bias: float = math.pi
    input_power: float = 1.0
    wavelength_um: float = DESIGN_WAVELENGTH_UM
    instance_seed: int = 0
    seed: int = 0
    n_features: int | None = None
    image_shape: tuple[int, int] | None = None

    def __post_init__(self):
        t = self.TABLE
        check_choice(t, "model", self.model, MODELS)
        check_choice(t, "mesh", self.mesh, TOPOLOGIES)
        check_choice(t, "init", self.init, INITS)
        _set(self, "ports", check_int(t, "ports", self.ports, 2))
        _set(self, "layers", check_int(t, "layers", self.layers, 1))
        _set(self, "fold", check_int(t, "fold", self.fold, 1))
        _set(self, "alpha", check_real(t, "alpha", self.alpha, lo=0, hi=1, hi_open=True))
        _set(self, "gain", check_real(t, "gain", self.gain))
        _set(self, "phase_bias", check_real(t, "phase_bias", self.phase_bias))
        _set(self, "input_power", check_real(t, "input_power", self.input_power, lo=0, lo_open=True))
        _set(self, "wavelength_um", check_real(t, "wavelength_um", self.wavelength_um, lo=0, lo_open=True))
        _set(self, "instance_seed", check_int(t, "instance_seed", self.instance_seed, 0))
        _set(self, "seed", check_int(t, "seed", self.seed, 0))
        if self.n_features is not None:
            _set(self, "n_features", check_int(t, "n_features", self.n_features, 1))
        _set(self, "image_shape", self._image_shape())

    def _image_shape(self) -> tuple[int, int] | None:
        shape = self.image_shape
        if shape is None or (isinstance(shape, (list, tuple)) and len(shape) == 0):
            return None
        if (not isinstance(shape, (list, tuple)) or len(shape) != 2
                or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in shape)):
            raise UserInputError(f"[chip] image_shape must be two positive integers like [8, 8] (or []), got {shape!r}")
        shape = (int(shape[0]), int(shape[1]))
        if self.n_features is not None and shape[0] * shape[1] != self.n_features:
            raise UserInputError(f"[chip] image_shape {list(shape)} does not hold n_features = {self.n_features}")
        return shape


@dataclass(frozen=True)
class InstrumentSection(Section):
    """The simulated lab instrument: heater calibration and safety limits, lab timing model.

    ``p_pi_mW`` absent: 20 mW for the paper chip, the chip's [heaters] p_pi_mW for a physical one.
    ``max_power_mW`` is one limit for every heater, a list (one per heater, in
    chip order) or a table heater-name -> mW; absent means 2 ``p_pi_mW`` (a physical chip: the power at v_max_V).
    """

    TABLE = "instrument"
    p_pi_mW: float | None = None
    max_power_mW: float | tuple[float, ...] | dict[str, float] | None = None
    latency_s: float = 0.0
    settle_s: float = 0.0
    integrate_s: float = 0.0
    sleep: bool = False

    def __post_init__(self):
        t = self.TABLE
        if self.p_pi_mW is not None:
            _set(self, "p_pi_mW", check_real(t, "p_pi_mW", self.p_pi_mW, lo=0, lo_open=True))
        for name in ("latency_s", "settle_s", "integrate_s"):
            _set(self, name, check_real(t, name, getattr(self, name), lo=0))
        if not isinstance(self.sleep, bool):
            raise UserInputError(f"[instrument] sleep must be true or false, got {self.sleep!r}")
        limit = self.max_power_mW
        if isinstance(limit, Mapping):
            _set(self, "max_power_mW", {str(k): check_real(t, f"max_power_mW.{k}", v, lo=0, lo_open=True)
                                        for k, v in limit.items()})
        elif isinstance(limit, (list, tuple)):
            _set(self, "max_power_mW", tuple(check_real(t, "max_power_mW", v, lo=0, lo_open=True) for v in limit))
        elif limit is not None:
            _set(self, "max_power_mW", check_real(t, "max_power_mW", limit, lo=0, lo_open=True))

    def instrument_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``lab.instrument.SimulatedInstrument`` (after the chip)."""
        kwargs = self.to_dict()
        if isinstance(kwargs["max_power_mW"], tuple):
            kwargs["max_power_mW"] = list(kwargs["max_power_mW"])
        return kwargs


@dataclass(frozen=True)
class ChipConfig:
    """A whole chip description: ``[chip]``, ``[nonideal.*]``, ``[instrument]`` and the physics tables.

    The physics tables live in one :class:`~.physical.Physics` (``physics``) and read as attributes
    (``config.heaters``), so they are declared once.
    """

    chip: ChipSection = field(default_factory=ChipSection)
    nonideal: NonIdealConfig = field(default_factory=NonIdealConfig)
    instrument: InstrumentSection = field(default_factory=InstrumentSection)
    physics: Physics = field(default_factory=Physics)

    def __post_init__(self):
        coerce_sections(self, {"chip": ChipSection, "nonideal": NonIdealConfig, "instrument": InstrumentSection,
                               "physics": Physics})
        if self.chip.model != "physical":
            used = [name for name in PHYSICS_SECTIONS if getattr(self, name).enabled]
            if used:
                raise UserInputError(f"[{used[0]}] applies to a physical chip only; set [chip] model = \"physical\"")

    @classmethod
    def preset(cls, name: str) -> "ChipConfig":
        """A named chip: ``"paper"`` (the paper's ideal normalized chip) or ``"physical"`` (examples/chip.toml)."""
        check_choice("chip", "preset", name, tuple(PRESETS))
        return cls.from_dict(PRESETS[name])

    @property
    def is_physical(self) -> bool:
        return self.chip.model == "physical"

    def physics_tables(self) -> dict[str, Any]:
        """The physics tables (non-default values only) a physical chip is built with."""
        return {name: getattr(self.physics, name).to_dict(compact=True) for name in PHYSICS_SECTIONS}

    # ---------- dicts and files ----------
    @classmethod
    def tables(cls) -> dict[str, type]:
        """Table name -> section class, in file order (the physics tables at the top level, after [instrument])."""
        return {"chip": ChipSection, "nonideal": NonIdealConfig, "instrument": InstrumentSection, **PHYSICS_SECTIONS}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "ChipConfig":
        """From ``{table: {key: value}}`` (tables optional); unknown tables or keys raise UserInputError."""
        if d is None:
            return cls()
        if not isinstance(d, Mapping):
            raise UserInputError(f"a chip configuration must be a table of tables, got {d!r}")
        tables = cls.tables()
        for key in d:
            if key not in tables:
                raise UserInputError(f"unknown table [{key}]; allowed: {', '.join(f'[{t}]' for t in tables)}")
        sections = {k: tables[k].from_dict(v) for k, v in d.items()}
        physics = Physics(**{k: sections.pop(k) for k in list(sections) if k in PHYSICS_SECTIONS})
        return cls(**sections, physics=physics)

    def to_dict(self, *, compact: bool = False) -> dict[str, Any]:
        """``{table: {key: value}}``, JSON-able; ``compact`` keeps only non-default values and non-empty tables."""
        out = {}
        for name in self.tables():
            d = getattr(self, name).to_dict(compact=compact)
            if d or not compact:
                out[name] = d
        return json.loads(json.dumps(out))

    @classmethod
    def from_toml(cls, path: str | Path) -> "ChipConfig":
        """Read a CHIP.toml; every error is one line starting with the file's path."""
        try:
            doc = read_toml(path, "chip configuration")
        except FileNotFoundError as exc:
            raise UserInputError(str(exc)) from None
        except ValueError as exc:
            raise UserInputError(str(exc)) from None
        return cls._from_file_dict(doc, path)

    @classmethod
    def from_file(cls, path: str | Path) -> "ChipConfig":
        """A CHIP.toml, or the same tables as a JSON object when the suffix is ``.json``."""
        path = Path(path)
        if path.suffix.lower() != ".json":
            return cls.from_toml(path)
        if not path.is_file():
            raise UserInputError(f"no chip configuration at {path}")
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise UserInputError(f"{path}: not valid JSON: {exc}") from None
        return cls._from_file_dict(doc, path)

    @classmethod
    def _from_file_dict(cls, doc: Any, path: str | Path) -> "ChipConfig":
        try:
            return cls.from_dict(doc)
        except UserInputError as exc:
            raise UserInputError(f"{path}: {exc}") from None

    def to_toml(self, path: str | Path, *, compact: bool = False) -> None:
        """Write a CHIP.toml (absent/None values are left out: they mean 'off' or 'from the data')."""
        import tomli_w

        Path(path).write_text(tomli_w.dumps(_without_none(self.to_dict(compact=compact))))

    # ---------- variants ----------
    def with_overrides(self, **chip_fields: Any) -> "ChipConfig":
        """This config with some ``[chip]`` keys changed (validated like the file)."""
        return replace(self, chip=ChipSection.from_dict({**self.chip.to_dict(), **chip_fields}))

    def with_tables(self, tables: Mapping[str, Any]) -> "ChipConfig":
        """This config with ``{table: {key: value}}`` laid over its tables (e.g. a ``physical_preset``), validated."""
        return ChipConfig.from_dict(merge_tables(self.to_dict(compact=True), tables))

    def with_nonideal(self, nonideal: NonIdealConfig | Mapping[str, Any] | None, *, merge: bool = True) -> "ChipConfig":
        """This config with ``nonideal`` laid over its non-idealities (``merge=False``: replacing them)."""
        other = nonideal if isinstance(nonideal, NonIdealConfig) else NonIdealConfig.from_dict(nonideal)
        return replace(self, nonideal=self.nonideal.merged(other) if merge else other)

    # ---------- building ----------
    def chip_kwargs(self, data: Any = None, *, seed: int | None = None) -> dict[str, Any]:
        """``PhotonicChip`` keyword arguments; ``data`` (a Dataset) sizes the encoder, ``seed`` overrides [chip] seed."""
        kwargs = self.chip.to_dict()
        if kwargs["fold"] == 1:  # the layout's serpentine: chip_factory places the heaters by it; kept when folded
            kwargs.pop("fold")
        if kwargs.pop("model") == "physical":
            kwargs["physics"] = self.physics_tables()
        if seed is not None:
            kwargs["seed"] = check_int("chip", "seed", seed, 0)
        if data is not None:
            n_features = int(data.X_train.shape[1])
            if kwargs["n_features"] not in (None, n_features):
                raise UserInputError(f"[chip] n_features = {kwargs['n_features']} but the data set has {n_features} features")
            shape = tuple(data.feature_shape)
            kwargs["n_features"] = n_features
            kwargs["image_shape"] = kwargs["image_shape"] or (shape if len(shape) == 2 else None)
        if kwargs["n_features"] is None:
            raise UserInputError("[chip] n_features is needed when no data set sizes the chip, got None")
        kwargs["nonideal"] = self.nonideal
        return kwargs

    @classmethod
    def from_model_options(cls, options: Mapping[str, Any]) -> "ChipConfig":
        """From ``RunSpec.model_options``: ``{"chip_config": {table: ...}}`` and/or flat PhotonicChip keywords.

        Flat keywords (``ports``, ``mesh``, ``nonideal``...) are laid over the
        ``chip_config`` tables, so command-line options override a CHIP.toml.
        """
        options = dict(options)
        config = cls.from_dict(options.pop("chip_config", None))
        physics = options.pop("physics", None)
        if physics:
            config = cls.from_dict({**config.to_dict(compact=True), **physics,
                                    "chip": {**config.chip.to_dict(compact=True), "model": "physical"}})
        nonideal = options.pop("nonideal", None)
        if nonideal is not None:
            config = config.with_nonideal(nonideal)
        return config.with_overrides(**options) if options else config


def build_chip(config: ChipConfig | Mapping[str, Any], data: Any = None, *, seed: int | None = None,
               heater_positions: Callable | None = None) -> PhotonicChip:
    """The PhotonicChip a config describes, sized by ``data`` when given (see :meth:`ChipConfig.chip_kwargs`).

    ``heater_positions(spec) -> {heater: (x_um, y_um)}`` is needed for ``[thermal] positions = "layout"``
    (a physical chip's default) and ``[nonideal.crosstalk] positions = "layout"``; the layout package
    provides it (``ffzero_photonics.chip_factory.build_chip_from_config`` passes it).
    """
    if not isinstance(config, ChipConfig):
        config = ChipConfig.from_dict(config)
    kwargs = config.chip_kwargs(data, seed=seed)
    return PhotonicChip(kwargs.pop("n_features"), heater_positions=heater_positions, **kwargs)


def _physics_table(name: str) -> property:
    return property(lambda self: getattr(self.physics, name), doc=f"The [{name}] table (held by ``physics``).")


for _name in PHYSICS_SECTIONS:
    setattr(ChipConfig, _name, _physics_table(_name))


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    return value
