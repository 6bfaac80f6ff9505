"""Lab hardware behind a small interface: heater drives (DACs, mW) in, photodiode readings (ADCs) out.

An :class:`Instrument` speaks physical units and knows nothing about training;
:class:`InstrumentChip` turns any instrument into a ``LayeredBlackBox`` (phases,
committed parameters, query counting) so the trainer never changes.
:class:`SimulatedInstrument` puts a simulated :class:`PhotonicChip` behind the
same interface, with a heater power model, per-channel drive limits and a lab
timing model.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from ..errors import UserInputError
from ..blackbox import INTERVAL, PERIODIC, LayerInfo, ParamState, QueryCounter, check_inputs, check_settings

TWO_PI = 2 * np.pi


class UnsafeDriveError(UserInputError):
    """A heater drive outside its channel's safe range [0, max_power_mW]; nothing was applied."""


@dataclass(frozen=True)
class LayerChannels:
    """One mesh layer's hardware: heater channels (limit and calibration) and detector channels."""

    heaters: tuple[str, ...]
    max_power_mW: tuple[float, ...]
    p_pi_mW: tuple[float, ...]  # calibration: drive power for a pi phase shift
    detectors: tuple[str, ...]
    bounded: bool = False  # True: phases are bounded drives in [0, pi max / p_pi] (never wrapped)

    @property
    def max_phase(self) -> float:
        """Largest phase every heater of the layer reaches within its limit: min pi max_power / p_pi."""
        return float(np.min(np.pi * np.asarray(self.max_power_mW) / np.asarray(self.p_pi_mW)))

    def __post_init__(self) -> None:
        n = len(self.heaters)
        if len(self.max_power_mW) != n or len(self.p_pi_mW) != n:
            raise ValueError(
                f"{n} heaters need {n} max_power_mW and p_pi_mW values, got "
                f"{len(self.max_power_mW)} and {len(self.p_pi_mW)}"
            )
        for name, p in zip(self.heaters, self.p_pi_mW):
            if not (np.isfinite(p) and p > 0):
                raise ValueError(f"heater {name}: p_pi_mW must be positive, got {p!r}")
        for name, p in zip(self.heaters, self.max_power_mW):
            if not (np.isfinite(p) and p > 0):
                raise ValueError(f"heater {name}: max_power_mW must be positive, got {p!r}")


@dataclass(frozen=True)
class ChannelMap:
    """What an instrument reports about itself: input width and every layer's channels."""

    n_inputs: int
    layers: tuple[LayerChannels, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Timing:
    """Lab timing model: ``latency_s`` per request, ``settle_s`` per heater setting, ``integrate_s`` per read."""

    latency_s: float = 0.0
    settle_s: float = 0.0
    integrate_s: float = 0.0
    sleep: bool = False  # really wait the modelled time (otherwise only account for it)

    def __post_init__(self) -> None:
        for name in ("latency_s", "settle_s", "integrate_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative number of seconds, got {value!r}")

    def cost(self, n_settings: int, n_reads: int) -> float:
        return self.latency_s + n_settings * self.settle_s + n_reads * self.integrate_s


@dataclass
class LabClock:
    """Accumulated modelled lab time, kept apart from the wall time of the process."""

    timing: Timing = field(default_factory=Timing)
    lab_time_s: float = 0.0
    requests: int = 0

    def charge(self, n_settings: int, n_reads: int) -> float:
        dt = self.timing.cost(n_settings, n_reads)
        self.lab_time_s += dt
        self.requests += 1
        if self.timing.sleep and dt > 0:
            time.sleep(dt)
        return dt


@runtime_checkable
class Instrument(Protocol):
    """Lab hardware driving one chip: heater DACs in mW, detector ADC readings out.

    Calls may be slow and may fail; every call is batched so that one request
    sweeps many heater settings.
    """

    def describe(self) -> ChannelMap:
        """Channel names, per-heater maximum drive power (mW) and calibration, detector names."""
        ...

    def read_drives(self, layer: int) -> np.ndarray:
        """Heater powers (mW) the instrument holds on ``layer`` right now, shape (P_l,)."""
        ...

    def apply_and_read(self, x: np.ndarray, layer: int, drives: Mapping[int, np.ndarray]) -> np.ndarray:
        """Apply heater drives and read ``layer``'s detectors for every input: (M, B, n_detectors).

        ``drives`` names every layer 0..``layer`` with an (M_l, P_l) array in mW,
        M_l = 1 (held for the whole request) or M (one row per setting swept).
        Must raise :class:`UnsafeDriveError` before applying anything unsafe.
        """
        ...


def check_drives(channels: LayerChannels, layer: int, drives: np.ndarray) -> np.ndarray:
    """Refuse (never clip) drives outside [0, max_power_mW] or non-finite; returns them as floats."""
    drives = np.asarray(drives, dtype=float)
    if drives.shape[-1] != len(channels.heaters):
        raise ValueError(f"layer {layer} has {len(channels.heaters)} heaters, got drives of shape {drives.shape}")
    limit = np.asarray(channels.max_power_mW, dtype=float)
    bad = ~np.isfinite(drives) | (drives < 0) | (drives > limit)
    if np.any(bad):
        cols = np.flatnonzero(bad.reshape(-1, drives.shape[-1]).any(axis=0))
        flat = drives.reshape(-1, drives.shape[-1])
        parts = []
        for c in cols[:3]:
            vals = flat[bad.reshape(-1, drives.shape[-1])[:, c], c]
            shown = ", ".join(f"{v:.6g}" for v in vals[:3]) + (", ..." if len(vals) > 3 else "")
            parts.append(f"{channels.heaters[c]} requested {shown} mW (allowed 0..{limit[c]:.6g} mW)")
        more = f" and {len(cols) - 3} more channels" if len(cols) > 3 else ""
        raise UnsafeDriveError(f"unsafe heater drive on layer {layer}: " + "; ".join(parts) + more)
    return drives


def phases_to_drives(channels: LayerChannels, phases: np.ndarray) -> np.ndarray:
    """Heater power for each phase, P = phase / pi * P_pi; phases wrap into [0, 2 pi) unless the channels are bounded."""
    phases = np.asarray(phases, dtype=float)
    return (phases if channels.bounded else np.mod(phases, TWO_PI)) / np.pi * np.asarray(channels.p_pi_mW)


def drives_to_phases(channels: LayerChannels, drives: np.ndarray) -> np.ndarray:
    """Inverse of :func:`phases_to_drives`: phase = P / P_pi * pi."""
    return np.asarray(drives, dtype=float) / np.asarray(channels.p_pi_mW) * np.pi


class SimulatedInstrument:
    """A simulated :class:`PhotonicChip` behind the :class:`Instrument` interface.

    Heater power is linear in phase, ``P = phase / pi * p_pi_mW`` for phases in
    [0, 2 pi); ``max_power_mW`` (scalar, sequence per heater, or mapping
    name -> mW; default 2 * p_pi_mW, the full 2 pi range) bounds every channel.
    A physical chip (``chip.physics``) is driven with its own heaters: p_pi_mW is its nominal
    [heaters] P_pi, the default limit the power at V_max, and phases are bounded drives (no wrap).
    ``timing`` (or ``latency_s`` / ``settle_s`` / ``integrate_s``) accumulates
    modelled lab time in ``clock``.
    """

    def __init__(
        self,
        chip,
        *,
        p_pi_mW: float | None = None,
        max_power_mW: float | Sequence[float] | Mapping[str, float] | None = None,
        timing: Timing | None = None,
        latency_s: float = 0.0,
        settle_s: float = 0.0,
        integrate_s: float = 0.0,
        sleep: bool = False,
    ):
        heaters = getattr(getattr(chip, "physics", None), "heaters", None)
        if heaters is not None and p_pi_mW is not None and p_pi_mW != heaters.p_pi_mW:
            raise UserInputError(f"[instrument] p_pi_mW = {p_pi_mW!r} differs from the physical chip's "
                                 f"[heaters] p_pi_mW = {heaters.p_pi_mW}; leave it out")
        p_pi_mW = (20.0 if heaters is None else heaters.p_pi_mW) if p_pi_mW is None else p_pi_mW
        if not (isinstance(p_pi_mW, (int, float)) and np.isfinite(p_pi_mW) and p_pi_mW > 0):
            raise ValueError(f"p_pi_mW must be a positive number, got {p_pi_mW!r}")
        self.chip = chip
        self.p_pi_mW = float(p_pi_mW)
        self.clock = LabClock(timing or Timing(latency_s, settle_s, integrate_s, sleep))
        names = [chip.layer_info(l).param_names for l in range(chip.n_layers)]
        default_limit = 2 * self.p_pi_mW if heaters is None else float(heaters.power_W(heaters.v_max_V)) * 1e3
        limits = _limits(max_power_mW, names, default_limit)
        self._max_power_spec = max_power_mW if not isinstance(max_power_mW, np.ndarray) else max_power_mW.tolist()
        layers = []
        for l in range(chip.n_layers):
            info = chip.layer_info(l)
            kind = "out" if l == chip.n_layers - 1 else "mon"
            layers.append(LayerChannels(
                heaters=tuple(names[l]), max_power_mW=tuple(limits[l]),
                p_pi_mW=(self.p_pi_mW,) * info.n_params,
                detectors=tuple(f"L{l}_{kind}_{d}" for d in range(info.out_dim)), bounded=heaters is not None,
            ))
        self._map = ChannelMap(n_inputs=chip.n_inputs, layers=tuple(layers))

    def describe(self) -> ChannelMap:
        return self._map

    def read_drives(self, layer: int) -> np.ndarray:
        return phases_to_drives(self._map.layers[layer], self.chip.get_params(layer))

    def apply_and_read(self, x: np.ndarray, layer: int, drives: Mapping[int, np.ndarray]) -> np.ndarray:
        x = check_inputs(x, self._map.n_inputs)
        if not 0 <= layer < len(self._map.layers):
            raise ValueError(f"layer {layer} out of range 0..{len(self._map.layers) - 1}")
        if sorted(int(l) for l in drives) != list(range(layer + 1)):
            raise ValueError(f"drives must name every layer 0..{layer}, got layers {sorted(drives)}")
        checked = {l: np.atleast_2d(check_drives(self._map.layers[l], l, drives[l])) for l in range(layer + 1)}
        m = max(d.shape[0] for d in checked.values())
        if any(d.shape[0] not in (1, m) for d in checked.values()):
            raise ValueError(f"drive stacks must have 1 or M rows, got {[d.shape[0] for d in checked.values()]}")
        swept = {}
        for l, d in checked.items():
            phases = drives_to_phases(self._map.layers[l], d)
            if m > 1 and (d.shape[0] == m or swept):  # layers after a swept one see M different fields
                swept[l] = np.broadcast_to(phases, (m, phases.shape[1]))
            else:
                self.chip.set_params(l, phases[0])
        out = self.chip.query(x, layer, swept)
        self.clock.charge(m, m * len(x))
        return out

    def to_config(self) -> dict[str, Any]:
        t = self.clock.timing
        return {
            "instrument": "simulated", "chip": self.chip.to_config(), "p_pi_mW": self.p_pi_mW,
            "max_power_mW": self._max_power_spec, "latency_s": t.latency_s, "settle_s": t.settle_s,
            "integrate_s": t.integrate_s,
        }


def _initial(channels: LayerChannels, phases: np.ndarray) -> np.ndarray:
    """Committed phases taken over from the instrument: wrapped for periodic channels, within range for bounded ones."""
    return np.clip(phases, 0.0, channels.max_phase) if channels.bounded else np.mod(phases, TWO_PI)


def _limits(spec, names: list[tuple[str, ...]], default: float) -> list[list[float]]:
    if spec is None:
        return [[default] * len(n) for n in names]
    if isinstance(spec, Mapping):
        known = {h for layer in names for h in layer}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ValueError(f"max_power_mW names unknown heater channels: {', '.join(unknown[:5])}")
        return [[float(spec.get(h, default)) for h in layer] for layer in names]
    if np.ndim(spec) == 0:
        return [[float(spec)] * len(n) for n in names]
    flat = [float(v) for v in np.ravel(spec)]
    total = sum(len(n) for n in names)
    if len(flat) != total:
        raise ValueError(f"max_power_mW lists {len(flat)} values for {total} heater channels")
    out, i = [], 0
    for layer in names:
        out.append(flat[i : i + len(layer)])
        i += len(layer)
    return out


class InstrumentChip:
    """``LayeredBlackBox`` over any :class:`Instrument`: phases in, detector powers out.

    Committed phases live here (taken over from the instrument's present
    drives at construction); every request carries the full drive state, so
    the instrument needs no memory between calls. Unsafe drives raise
    :class:`UnsafeDriveError` before anything reaches the hardware.
    """

    def __init__(self, instrument: Instrument):
        self.instrument = instrument
        self.channels = instrument.describe()
        self._infos = [
            LayerInfo(
                n_params=len(ch.heaters), out_shape=(len(ch.detectors),), readout="power",
                param_names=tuple(ch.heaters),
                **(dict(domain=INTERVAL, low=0.0, high=ch.max_phase) if ch.bounded else dict(domain=PERIODIC, period=TWO_PI)),
            )
            for ch in self.channels.layers
        ]
        initial = [
            _initial(ch, drives_to_phases(ch, check_drives(ch, l, instrument.read_drives(l))))
            for l, ch in enumerate(self.channels.layers)
        ]
        self._state = ParamState(self._infos, initial)
        self.counter = QueryCounter()

    @property
    def n_layers(self) -> int:
        return len(self._infos)

    @property
    def n_inputs(self) -> int:
        return self.channels.n_inputs

    def layer_info(self, layer: int) -> LayerInfo:
        return self._infos[layer]

    def get_params(self, layer: int) -> np.ndarray:
        return self._state.get(layer)

    def set_params(self, layer: int, params: np.ndarray) -> None:
        params = np.asarray(params, dtype=float)
        if params.shape == (self._infos[layer].n_params,) and np.all(np.isfinite(params)):
            check_drives(self.channels.layers[layer], layer, phases_to_drives(self.channels.layers[layer], params))
        self._state.set(layer, params)

    def query(self, x: np.ndarray, layer: int, settings=None) -> np.ndarray:
        x = check_inputs(x, self.n_inputs)
        settings, m = check_settings(self._infos, layer, settings)
        drives = {}
        for l in range(layer + 1):
            phases = settings[l] if l in settings else self._state.params[l][None, :]
            drives[l] = check_drives(self.channels.layers[l], l, phases_to_drives(self.channels.layers[l], phases))
        out = np.asarray(self.instrument.apply_and_read(x, layer, drives), dtype=float)
        expected = (m, len(x), *self._infos[layer].out_shape)
        if out.shape != expected:
            raise RuntimeError(f"instrument returned readings of shape {out.shape}, expected {expected}")
        self.counter.record(m, len(x), layer + 1)
        return out

    @property
    def lab_time_s(self) -> float | None:
        clock = getattr(self.instrument, "clock", None)
        return None if clock is None else clock.lab_time_s

    def run_metrics(self) -> dict[str, Any]:
        """Modelled lab time (apart from wall time) for a run's metrics.json."""
        return {} if self.lab_time_s is None else {"lab_time_s": self.lab_time_s}

    def to_config(self) -> dict[str, Any]:
        config = getattr(self.instrument, "to_config", None)
        return config() if callable(config) else {"instrument": type(self.instrument).__name__}
