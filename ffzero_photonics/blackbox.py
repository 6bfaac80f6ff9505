"""The narrow, batched protocol between a trainer and a layered trainable system.

A system (a digital MLP, a photonic chip, a remote chip behind an instrument
boundary) exposes only: its layers' parameter vectors (get / set, with their
domain) and ``query``: feed network inputs, read one layer's *measured* output
for one or many candidate parameter settings. Every query is counted. All
arguments and results are plain numpy arrays, so a request is serializable.

Forward-only paradigms (FFzero, BP+DD) use nothing but this protocol. The
autodiff baselines additionally need :class:`DifferentiableTwin`; run directories
need :class:`PersistentModel`. A registered model kind (``registry.ModelEntry``)
provides a model that implements ``LayeredBlackBox`` + ``PersistentModel``, a
``build(data, *, seed, **options)`` constructor, its options and its training recipe.
Wrappers that meter or spy subclass :class:`ForwardingBlackBox`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, NamedTuple, Protocol, runtime_checkable

import numpy as np

from .errors import UserInputError

PERIODIC = "periodic"
REAL = "real"
INTERVAL = "interval"
DOMAINS = (REAL, PERIODIC, INTERVAL)


@dataclass(frozen=True)
class LayerInfo:
    """What the trainer may know about one layer: sizes, parameter domain, readout kind."""

    n_params: int
    out_shape: tuple[int, ...]
    domain: str = REAL  # "real", "periodic" or "interval"
    period: float = 2 * np.pi  # only for periodic parameters
    readout: str = "activation"  # "activation" (any real vector) or "power" (non-negative)
    param_names: tuple[str, ...] | None = None
    low: float | None = None  # only for interval parameters: every parameter lies in [low, high]
    high: float | None = None

    def __post_init__(self):
        if self.domain not in DOMAINS:
            raise ValueError(f"LayerInfo.domain must be one of {', '.join(DOMAINS)}, got {self.domain!r}")
        if self.domain == INTERVAL and not (self.low is not None and self.high is not None and self.low < self.high):
            raise ValueError(f"an interval domain needs low < high, got low={self.low!r}, high={self.high!r}")

    @property
    def out_dim(self) -> int:
        return int(np.prod(self.out_shape))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class QueryCounter:
    """Cost of talking to the system.

    ``calls`` requests, ``settings`` candidate parameter settings evaluated
    (a "batch evaluation" each), ``sample_queries`` = samples x settings read
    out, ``layer_evals`` = sample_queries x layers the signal passed through.
    """

    calls: int = 0
    settings: int = 0
    sample_queries: int = 0
    layer_evals: int = 0

    def record(self, n_settings: int, n_samples: int, depth: int) -> None:
        self.calls += 1
        self.settings += n_settings
        self.sample_queries += n_settings * n_samples
        self.layer_evals += n_settings * n_samples * depth

    def snapshot(self) -> dict[str, int]:
        return asdict(self)

    def load(self, state: Mapping[str, int]) -> None:
        for k, v in state.items():
            setattr(self, k, int(v))


@runtime_checkable
class LayeredBlackBox(Protocol):
    """The protocol every trainable system implements (digital or physical)."""

    counter: QueryCounter

    @property
    def n_layers(self) -> int: ...

    @property
    def n_inputs(self) -> int: ...

    def layer_info(self, layer: int) -> LayerInfo: ...

    def get_params(self, layer: int) -> np.ndarray: ...

    def set_params(self, layer: int, params: np.ndarray) -> None: ...

    def query(
        self, x: np.ndarray, layer: int, settings: Mapping[int, np.ndarray] | None = None
    ) -> np.ndarray:
        """Measured output of ``layer`` for inputs ``x`` of shape (B, n_inputs).

        ``settings`` maps a layer index (<= ``layer``) to an (M, n_params) array
        of candidate parameters; layers not named keep their committed
        parameters. All arrays in ``settings`` share M. Returns (M, B, *out_shape)
        (M = 1 when ``settings`` is empty). Counts M settings, M*B sample queries.
        """
        ...


@runtime_checkable
class DifferentiableTwin(Protocol):
    """A jax-traceable digital twin of a system, for the autodiff baselines only."""

    def twin_params(self) -> list[Any]:
        """Committed parameters of every layer as jax arrays."""
        ...

    def twin_forward(self, params: list[Any], x: Any) -> list[Any]:
        """Measured outputs of every layer (each (B, *out_shape)) for inputs x."""
        ...

    def load_twin_params(self, params: list[Any]) -> None: ...


class SettingPower(NamedTuple):
    """What ``compiled_setting_power()`` returns: how a compiled run's settings are powered, metered and refused."""

    power_W: Callable[[list[Any]], Any]  # each candidate setting's power (W), a jax function of params
    after_run: Callable[[np.ndarray, np.ndarray, int], None]  # given (S, M) query powers, (S,) committed, batch size
    refuses: bool  # False: the system only meters, and is not asked for its committed settings' power


@runtime_checkable
class CompiledMeasurement(Protocol):
    """Optional: a system whose measurement is a pure jax function, for the compiled DD engine (``backend="jax"``)."""

    def compiled_query(self, params: list[Any], x: Any, layer: int) -> Any:
        """What ``query`` measures for ``params[l]`` (P_l,) or (M, P_l), layers 0..layer: (M, B, *out_shape).

        Pure and jit-able, counts nothing (the caller records the cost ``query`` would). An instance whose
        measurement cannot be traced (a remote chip) raises NotImplementedError when traced.

        A system with noise or lab state also declares ``lab_draws(xs, n_settings, layer)``: the random draws of
        ``query`` calls of inputs xs (S, B, ...) (its lab state moves on as theirs would), whose per-call slices
        ``compiled_query(params, x, layer, lab)`` takes; and ``compiled_setting_power()``: None, or a
        :class:`SettingPower` whose ``after_run`` meters energy and refuses a setting above the system's limit as the
        numpy path would: its lab state rewound to the calls before the refusal, the error carrying ``steps_run``, the
        number of steps whose queries ran.

        A system whose committed layers compute the same for the same input may also declare
        ``compiled_stage(layer)``: None, or (stage_input(params, x): what enters ``layer``, stage_query(params[layer], z):
        its readings from that), so the engine computes what enters a trained layer once per stage.
        """
        ...


@runtime_checkable
class PersistentModel(Protocol):
    """A system that can be saved as a JSON-able config and rebuilt from it (what run directories store).

    A model class may also declare ``train_recipe`` (a mapping of ``TrainConfig`` fields): training
    defaults that suit it, overriding the paradigm's; the registry entry's recipe is used otherwise.
    """

    def to_config(self) -> dict[str, Any]:
        """Everything needed to rebuild this system's structure (not its trained parameters)."""
        ...

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "PersistentModel":
        """Rebuild the system :meth:`to_config` described."""
        ...


TWIN_MEMBERS = frozenset({"twin_params", "twin_forward", "calibrated_twin_forward", "load_twin_params"})


class ForwardingBlackBox:
    """Forwards every protocol member to ``inner``; subclass it and override one method to meter or spy.

    Twin members (``TWIN_MEMBERS``) are looked up on
    ``inner`` only, so ``isinstance(wrapper, DifferentiableTwin)`` answers as for ``inner``.
    """

    def __init__(self, inner: LayeredBlackBox):
        self.inner = inner

    @property
    def counter(self) -> QueryCounter:
        return self.inner.counter

    @property
    def n_layers(self) -> int:
        return self.inner.n_layers

    @property
    def n_inputs(self) -> int:
        return self.inner.n_inputs

    def layer_info(self, layer: int) -> LayerInfo:
        return self.inner.layer_info(layer)

    def get_params(self, layer: int) -> np.ndarray:
        return self.inner.get_params(layer)

    def set_params(self, layer: int, params: np.ndarray) -> None:
        self.inner.set_params(layer, params)

    def query(
        self, x: np.ndarray, layer: int, settings: Mapping[int, np.ndarray] | None = None
    ) -> np.ndarray:
        return self.inner.query(x, layer, settings)

    def __getattr__(self, name: str) -> Any:
        if name in TWIN_MEMBERS and "inner" in self.__dict__:
            return getattr(self.inner, name)  # AttributeError when inner has no twin: hasattr() is False
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def check_settings(
    infos: list[LayerInfo], layer: int, settings: Mapping[int, np.ndarray] | None
) -> tuple[dict[int, np.ndarray], int]:
    """Validate a query's candidate settings; return them as float arrays and their count M."""
    if not 0 <= layer < len(infos):
        raise ValueError(f"layer {layer} out of range 0..{len(infos) - 1}")
    out: dict[int, np.ndarray] = {}
    m = None
    for key, value in (settings or {}).items():
        l = int(key)
        if not 0 <= l <= layer:
            raise ValueError(f"settings for layer {l} cannot affect the output of layer {layer}")
        arr = np.asarray(value, dtype=float)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != infos[l].n_params:
            raise ValueError(
                f"settings for layer {l} must have shape (M, {infos[l].n_params}), got {np.shape(value)}"
            )
        if infos[l].domain == INTERVAL:
            check_interval(infos[l], arr, f"settings for layer {l}")
        if m is not None and arr.shape[0] != m:
            raise ValueError("all candidate settings in one query must share M")
        m = arr.shape[0]
        out[l] = arr
    return out, (m or 1)


def check_inputs(x: np.ndarray, n_inputs: int) -> np.ndarray:
    """Validate a query's input batch (B, n_inputs)."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != n_inputs:
        raise ValueError(f"inputs must have shape (B, {n_inputs}), got {x.shape}")
    return x


def wrap_params(info: LayerInfo, params: np.ndarray) -> np.ndarray:
    """Map parameters into their domain: phases wrap into [0, period); interval parameters must already lie in it."""
    params = np.asarray(params, dtype=float)
    if info.domain == PERIODIC:
        return np.mod(params, info.period)
    if info.domain == INTERVAL:
        check_interval(info, params)
    return params


def project_params(info: LayerInfo, params: np.ndarray) -> np.ndarray:
    """The nearest parameters inside the layer's domain: interval parameters clipped to [low, high], others as given."""
    params = np.asarray(params, dtype=float)
    return np.clip(params, info.low, info.high) if info.domain == INTERVAL else params


def check_interval(info: LayerInfo, params: np.ndarray, what: str = "parameters") -> None:
    """Refuse interval parameters outside [low, high] (never wrapped, never clipped silently)."""
    params = np.asarray(params, dtype=float)
    if params.size and (params.min() < info.low or params.max() > info.high):
        bad = params.min() if params.min() < info.low else params.max()
        raise UserInputError(f"{what} must lie in [{info.low:g}, {info.high:g}], got {bad!r}")


@dataclass
class ParamState:
    """Committed parameters of all layers; the storage half of a black box."""

    infos: list[LayerInfo]
    params: list[np.ndarray] = field(default_factory=list)

    def get(self, layer: int) -> np.ndarray:
        return self.params[layer].copy()

    def set(self, layer: int, params: np.ndarray) -> None:
        params = np.array(params, dtype=float)
        if params.shape != (self.infos[layer].n_params,):
            raise ValueError(
                f"layer {layer} takes {self.infos[layer].n_params} parameters, got shape {params.shape}"
            )
        if not np.all(np.isfinite(params)):
            raise ValueError(f"non-finite parameters for layer {layer}")
        self.params[layer] = wrap_params(self.infos[layer], params)


def candidate_params(
    committed: list[np.ndarray], settings: Mapping[int, np.ndarray], layer: int, m: int
) -> list[np.ndarray]:
    """Per-layer parameter stacks (M_l, P_l) for layers 0..layer; M_l is 1 (committed) or M."""
    return [settings[l] if l in settings else committed[l][None, :] for l in range(layer + 1)]


LossFn = Callable[[np.ndarray], np.ndarray]
