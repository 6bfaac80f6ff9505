"""The model registry: every model kind a run can build, built in or installed through an entry point.

A kind is one :class:`ModelEntry`: how to build it for a dataset, how to rebuild it from its
``to_config()``, which options it takes (the CLI turns them into ``--options``) and which training
defaults suit it (its ``recipe``; they override the paradigm's). A third-party package registers a
kind with one line in its ``pyproject.toml``::

    [project.entry-points."ffzero_photonics.models"]
    ridge = "my_package.ridge:ENTRY"   # a ModelEntry, or a callable returning one
"""

from __future__ import annotations

import importlib
import keyword
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any, Callable, Mapping

from .blackbox import ForwardingBlackBox
from .errors import UserInputError

ENTRY_POINT_GROUP = "ffzero_photonics.models"
OPTION_TYPES = (int, float, str, bool)


@dataclass(frozen=True)
class OptionSpec:
    """One model option: the CLI offers it as ``--name`` (``is_list``: comma-separated values)."""

    name: str
    type: type = str
    default: Any = None  # what the builder uses when the option is not given (None: the model's own default)
    help: str = ""
    choices: tuple[Any, ...] | None = None
    is_list: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.name, str) and self.name.isidentifier() and not keyword.iskeyword(self.name)):
            raise UserInputError(f"option name must be a Python identifier, got {self.name!r}")
        if self.type not in OPTION_TYPES:
            raise UserInputError(f"option {self.name!r}: type must be one of int, float, str, bool, got {self.type!r}")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))

    def check(self, value: Any) -> Any:
        """``value`` validated and converted (a list for ``is_list``); UserInputError names the bad value."""
        if self.is_list:
            if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
                raise UserInputError(f"option {self.name!r} takes a list of {self.type.__name__}, got {value!r}")
            return [self._check_one(v) for v in value]
        return self._check_one(value)

    def _check_one(self, value: Any) -> Any:
        ok = isinstance(value, self.type) and not (self.type is not bool and isinstance(value, bool))
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise UserInputError(f"option {self.name!r} takes {self.type.__name__}, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise UserInputError(f"option {self.name!r}: unknown value {value!r}; choose one of "
                                 f"{', '.join(map(str, self.choices))}")
        return value


@dataclass(frozen=True)
class ModelEntry:
    """A registered model kind.

    ``build(data, *, seed, **options)`` makes a fresh model sized for a dataset; ``from_config(config)``
    rebuilds one from its ``to_config()`` (parameters are loaded separately). ``recipe`` holds training
    defaults for this kind (``TrainConfig`` fields, e.g. ``{"eps": 0.3}``). ``model_types`` names the
    classes ``build`` returns (``"module:Class"``) so ``Trainer.fit`` finds the recipe of a model built in
    Python. ``standardize`` is the default input scaling of its data; ``more_options`` lets ``build``
    take keyword options beyond ``options`` (passed through unchecked). ``figures(model, out_dir, data)``,
    when given, writes this kind's own figures into a finished run directory.
    """

    name: str
    description: str
    build: Callable[..., Any]
    from_config: Callable[[Mapping[str, Any]], Any]
    options: tuple[OptionSpec, ...] = ()
    recipe: Mapping[str, Any] = field(default_factory=dict)
    model_types: tuple[str, ...] = ()
    standardize: bool = True
    more_options: bool = False
    figures: Callable[[Any, Any, Any], None] | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.name, str) and self.name and self.name.replace("-", "_").isidentifier()):
            raise UserInputError(f"model name must be a non-empty identifier (dashes allowed), got {self.name!r}")
        for attr in ("build", "from_config"):
            if not callable(getattr(self, attr)):
                raise UserInputError(f"model {self.name!r}: {attr} must be callable, got {getattr(self, attr)!r}")
        if self.figures is not None and not callable(self.figures):
            raise UserInputError(f"model {self.name!r}: figures must be callable or None, got {self.figures!r}")
        object.__setattr__(self, "options", tuple(self.options))
        if not all(isinstance(o, OptionSpec) for o in self.options):
            raise UserInputError(f"model {self.name!r}: options must be OptionSpec instances")
        names = [o.name for o in self.options]
        if len(set(names)) != len(names):
            raise UserInputError(f"model {self.name!r}: option names repeat: {names}")
        object.__setattr__(self, "recipe", MappingProxyType(dict(self.recipe)))
        object.__setattr__(self, "model_types", tuple(self.model_types))

    def option(self, name: str) -> OptionSpec:
        for spec in self.options:
            if spec.name == name:
                return spec
        raise UserInputError(f"option {name!r} does not apply to model {self.name!r}; "
                             f"it takes {', '.join(o.name for o in self.options) or 'no options'}")

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Declared options validated; undeclared ones rejected unless ``more_options``."""
        declared = {o.name for o in self.options}
        out = {}
        for key, value in options.items():
            if key in declared:
                out[key] = self.option(key).check(value)
            elif self.more_options:
                out[key] = value
            else:
                self.option(key)  # raises, naming the options this model takes
        return out


def available_models() -> dict[str, ModelEntry]:
    """Every model kind: the built-in ones, then those installed under the ``ffzero_photonics.models`` group."""
    out = dict(BUILTIN_MODELS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in out:
            out[ep.name] = _load(ep)
    return out


def get_model(name: str) -> ModelEntry:
    """The entry of model kind ``name``; UserInputError naming the choices when it is unknown."""
    if name in BUILTIN_MODELS:
        return BUILTIN_MODELS[name]
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return _load(ep)
    raise UserInputError(f"unknown model {name!r}; choose one of {', '.join(available_models())}")


def build_model(name: str, data: Any, *, seed: int = 0, **options: Any):
    """A fresh model of kind ``name`` sized for ``data``, its options validated by the registry."""
    entry = get_model(name)
    return entry.build(data, seed=seed, **entry.check_options(options))


def model_from_config(kind: str, config: Mapping[str, Any]):
    """Rebuild a model of ``kind`` from its ``to_config()`` dict (parameters are loaded separately)."""
    return get_model(kind).from_config(config)


def recipe_for(model: Any) -> dict[str, Any]:
    """Training defaults that suit ``model``: its class's ``train_recipe``, else its registered kind's recipe.

    Looks through :class:`ForwardingBlackBox` wrappers; ``{}`` for an unregistered model.
    """
    while True:
        declared = getattr(type(model), "train_recipe", None)  # the class, not the instance: spies stay silent
        if declared is not None:
            return dict(declared)
        paths = {f"{c.__module__}:{c.__qualname__}" for c in type(model).__mro__}
        for entry in BUILTIN_MODELS.values():
            if paths & set(entry.model_types):
                return dict(entry.recipe)
        if not isinstance(model, ForwardingBlackBox):
            break
        model = model.inner
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in BUILTIN_MODELS:
            entry = _load(ep)
            if paths & set(entry.model_types):
                return dict(entry.recipe)
    return {}


def _load(ep) -> ModelEntry:
    obj = ep.load()
    entry = obj if isinstance(obj, ModelEntry) else obj() if callable(obj) else obj
    if not isinstance(entry, ModelEntry):
        raise TypeError(f"entry point {ep.name!r} ({ep.value}) gives {type(entry).__name__}, not a ModelEntry")
    if entry.name != ep.name:
        raise TypeError(f"entry point {ep.name!r} ({ep.value}) registers a model named {entry.name!r}")
    return entry


def _class(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


# ------------------------------------------------------------------ built-in kinds
MLP = "ffzero_photonics.digital.mlp:MLP"
CNN = "ffzero_photonics.digital.cnn:CNN"
PHOTONIC_CHIP = "ffzero_photonics.photonic.chip:PhotonicChip"
REMOTE_CHIP = "ffzero_photonics.lab.client:RemoteChip"
CHIP_VIEWS = "ffzero_photonics.runs.chip_views:write_chip_views"
ACTIVATIONS = ("tanh", "relu", "leaky_relu", "gelu", "sigmoid", "none")
MLP_HIDDEN = (100, 100, 100)
CNN_CHANNELS = (16, 16)  # the paper's (4, 4) leaves a 40-weight first layer: FF+AD 65 % vs BP+AD 88 % on digits
CNN1D_CHANNELS = (16, 16, 16)


def output_width(n_classes: int) -> int:
    """Width of a digital network's last layer: one unit per class, 16 for regression."""
    return n_classes if n_classes > 0 else 16


def _build_mlp(data: Any, *, seed: int = 0, hidden=MLP_HIDDEN, activation: str = "tanh"):
    widths = (data.X_train.shape[1], *hidden, output_width(data.n_classes))
    return _class(MLP)(widths=widths, activation=activation, seed=seed)


def _build_cnn(data: Any, *, seed: int = 0, channels=CNN_CHANNELS, kernel: int = 3, activation: str = "tanh"):
    if len(data.feature_shape) != 2:
        raise UserInputError(f"the cnn model needs image data; dataset {data.name!r} has feature shape "
                             f"{tuple(data.feature_shape)}")
    return _class(CNN)(image_shape=tuple(data.feature_shape), channels=tuple(channels), kernel=int(kernel),
                       activation=activation, seed=seed)


def _build_cnn1d(data: Any, *, seed: int = 0, channels=CNN1D_CHANNELS, kernel: int = 5, stride: int = 2,
                 activation: str = "tanh"):
    if len(data.feature_shape) != 1:
        raise UserInputError(f"the cnn1d model needs sequence data (1-D features); dataset {data.name!r} has "
                             f"feature shape {tuple(data.feature_shape)}")
    return _class(CNN)(image_shape=tuple(data.feature_shape), channels=tuple(channels), kernel=int(kernel),
                       stride=int(stride), activation=activation, seed=seed)


def _build_photonic(data: Any, *, seed: int = 0, **options: Any):
    timeout = options.pop("chip_timeout", None)
    if options.get("chip"):
        extra = sorted(k for k in options if k != "chip")
        if extra:
            raise UserInputError(f"a remote chip is configured where it is served; drop "
                                 f"{', '.join('--' + k.replace('_', '-') for k in extra)}")
        return _class(REMOTE_CHIP)(options["chip"], **({} if timeout is None else {"timeout_s": timeout}))
    if timeout is not None:
        raise UserInputError("--chip-timeout applies to a served chip only; give --chip tcp://HOST:PORT")
    options.pop("chip", None)
    model = options.pop("model", "paper")
    if model not in ("paper", "physical"):
        raise UserInputError(f"[chip] model must be paper or physical, got {model!r}")
    if model == "physical":
        options.setdefault("physics", {})
    from .chip_factory import with_layout  # sits above photonic and layouts

    return _class(PHOTONIC_CHIP).for_data(data, seed=seed, **with_layout(options))


def _photonic_figures(model: Any, out_dir: Any, data: Any) -> None:
    """The chip views of a photonic run directory (mesh drive, power flow, |U|^2, layout); none for a served chip."""
    _class(CHIP_VIEWS)(model, out_dir, data)


def _photonic_from_config(config: Mapping[str, Any]):
    if "url" in config:
        return _class(REMOTE_CHIP).from_config(dict(config))  # refuses a served chip with another fingerprint
    from .chip_factory import with_layout

    return _class(PHOTONIC_CHIP).from_config(with_layout(config))


BUILTIN_MODELS: dict[str, ModelEntry] = {
    "mlp": ModelEntry(
        name="mlp", description="digital multilayer perceptron (numpy forward, jax twin)",
        build=_build_mlp, from_config=lambda config: _class(MLP).from_config(config),
        options=(
            OptionSpec("hidden", int, MLP_HIDDEN, "MLP hidden widths, e.g. 100,100,100", is_list=True),
            OptionSpec("activation", str, "tanh", "activation after every layer", choices=ACTIVATIONS),
        ),
        model_types=(MLP,),
    ),
    "cnn": ModelEntry(
        name="cnn", description="digital convolutional net for image data",
        build=_build_cnn, from_config=lambda config: _class(CNN).from_config(config),
        options=(
            OptionSpec("channels", int, CNN_CHANNELS, "CNN channels per conv layer (the paper's: 4,4)", is_list=True),
            OptionSpec("kernel", int, 3, "CNN kernel size"),
            OptionSpec("activation", str, "tanh", "activation after every layer", choices=ACTIVATIONS),
        ),
        model_types=(CNN,),
    ),
    "photonic": ModelEntry(
        name="photonic", description="simulated MZI-mesh chip, or a served one with chip=tcp://HOST:PORT",
        build=_build_photonic, from_config=_photonic_from_config,
        options=(
            OptionSpec("mesh", str, "clements", "mesh topology", choices=("clements", "reck")),
            OptionSpec("ports", int, 16, "ports per mesh (16, 25, 64, ...)"),
            OptionSpec("layers", int, 2, "number of mesh layers"),
            OptionSpec("chip", str, None,
                       "train a chip served by `ffzero chip serve` (tcp://HOST:PORT; token from $FFZERO_CHIP_TOKEN)"),
            OptionSpec("chip_timeout", float, 10.0, "seconds per attempt to reach a served chip (with chip)"),
        ),
        # Heater phases: a perturbation of norm 0.3 moves each of ~10^2-10^3 heaters by 0.01-0.03 rad, above
        # DAC steps and detector noise; on ideal chips it trains exactly as well as 1e-3 (docs/robustness/).
        recipe={"eps": 0.3},
        model_types=(PHOTONIC_CHIP, REMOTE_CHIP, "ffzero_photonics.lab.instrument:InstrumentChip"),
        standardize=False,  # image inputs are pixel powers on the input ports
        more_options=True,  # any PhotonicChip keyword (nonideal, wavelength_um, instance_seed, ... from a chip config)
        figures=_photonic_figures,
    ),
}
_CNN_ENTRY = BUILTIN_MODELS["cnn"]
BUILTIN_MODELS["cnn1d"] = ModelEntry(
    name="cnn1d", description="digital 1-D convolutional net for sequence data (e.g. mnist1d)",
    build=_build_cnn1d, from_config=_CNN_ENTRY.from_config,
    options=(
        replace(_CNN_ENTRY.option("channels"), default=CNN1D_CHANNELS),
        replace(_CNN_ENTRY.option("kernel"), default=5),
        OptionSpec("stride", int, 2, "CNN1D stride of every conv layer"),
        _CNN_ENTRY.option("activation"),
    ),
    model_types=_CNN_ENTRY.model_types,
)
