"""A lab bench over VISA: heater DAC, input-pattern modulator and optical power meter, as an :class:`Instrument`.

:class:`VisaBench` is the lab driver: it sends the SCPI strings a bench would get (``SOUR{ch}:VOLT``,
``SOUR:LIST``, ``ROUT:BANK``, ``MEAS:POW?``) through pyvisa and parses the replies, so it drives any
resource manager, real or simulated. :class:`SimulatedBenchBackend` is the device side of a pyvisa-sim
bench (``visa_sim.yaml`` holds the protocol): when the meter is asked ``MEAS:POW?`` it reads the
simulated DAC's voltages and modulator pattern (as the heater wires and fibres would) and computes the
readings with the same physics as :class:`SimulatedInstrument`. The VISA traffic is real; the device is simulated.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any, Mapping, Sequence

import numpy as np
import pyvisa
from pyvisa_sim.component import Property

from ..blackbox import check_inputs
from ..errors import ExternalFailure, UserInputError
from .instrument import ChannelMap, LabClock, SimulatedInstrument, Timing, check_drives

SIM_DEFINITION = str(files("ffzero_photonics.lab") / "visa_sim.yaml")
DAC_RESOURCE = "TCPIP0::192.168.0.10::INSTR"
MODULATOR_RESOURCE = "TCPIP0::192.168.0.11::INSTR"
METER_RESOURCE = "USB0::0x1313::0x8078::P0001::INSTR"
_TERMINATION = "\n"


def default_wiring(channels: ChannelMap) -> list[list[int]]:
    """DAC channel (1-based) of every heater: layer by layer, heater by heater, in the channel map's order."""
    wiring, next_channel = [], 1
    for layer in channels.layers:
        wiring.append(list(range(next_channel, next_channel + len(layer.heaters))))
        next_channel += len(layer.heaters)
    return wiring


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (np.isfinite(value) and value > 0):
        raise UserInputError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _csv(values: np.ndarray, fmt: str) -> str:
    return ",".join(format(float(v), fmt) for v in np.ravel(values))


class VisaBench:
    """:class:`Instrument` over three VISA resources: heater DAC (volts), input modulator, power meter (mW).

    Drives arrive in mW and go out as DAC voltages V = sqrt(P R) on the DAC's ``dac_bits`` grid over
    [0, ``v_max_V``]; one request loads the input pattern once, then per setting writes every heater
    channel and asks ``MEAS:POW?`` (samples x detectors); every request ends with ``SYST:ERR?`` on each
    instrument. ``dac`` / ``modulator`` / ``meter`` are the open pyvisa resources; ``writes`` / ``queries`` count the VISA
    transactions; ``clock`` holds modelled lab time (``timing`` per request plus ``message_s`` per transaction).
    """

    def __init__(
        self,
        channels: ChannelMap,
        *,
        resistance_ohm: float,
        v_max_V: float,
        dac_bits: int | None = 16,
        resource_manager: pyvisa.ResourceManager | None = None,
        dac: str = DAC_RESOURCE,
        modulator: str = MODULATOR_RESOURCE,
        meter: str = METER_RESOURCE,
        wiring: Sequence[Sequence[int]] | None = None,
        timing: Timing | None = None,
        message_s: float = 0.0,
    ):
        if not isinstance(channels, ChannelMap):
            raise UserInputError(f"channels must be a ChannelMap, got {type(channels).__name__}")
        self.resistance_ohm = _positive("resistance_ohm", resistance_ohm)
        self.v_max_V = _positive("v_max_V", v_max_V)
        if dac_bits is not None and (isinstance(dac_bits, bool) or not isinstance(dac_bits, int) or not 1 <= dac_bits <= 32):
            raise UserInputError(f"dac_bits must be an integer in 1..32 or None, got {dac_bits!r}")
        if isinstance(message_s, bool) or not isinstance(message_s, (int, float)) or not (np.isfinite(message_s) and message_s >= 0):
            raise UserInputError(f"message_s must be a non-negative number of seconds, got {message_s!r}")
        self.dac_bits, self.message_s = dac_bits, float(message_s)
        self.channels = channels
        self.wiring = [list(w) for w in (default_wiring(channels) if wiring is None else wiring)]
        sizes = [len(l.heaters) for l in channels.layers]
        if [len(w) for w in self.wiring] != sizes:
            raise UserInputError(f"wiring must give {sizes} DAC channels per layer, got {[len(w) for w in self.wiring]}")
        flat = [c for w in self.wiring for c in w]
        if len(set(flat)) != len(flat) or any(not isinstance(c, int) or c < 1 for c in flat):
            raise UserInputError(f"wiring must name distinct positive DAC channels, got {flat}")
        self.clock = LabClock(timing or Timing())
        self.writes = self.queries = 0
        self._bank: int | None = None
        rm = resource_manager if resource_manager is not None else pyvisa.ResourceManager()
        self.dac, self.modulator, self.meter = (self._open(rm, name) for name in (dac, modulator, meter))
        self._write(self.modulator, f"SOUR:LIST:WIDT {channels.n_inputs:d}")

    # ---------- VISA transactions ----------
    @staticmethod
    def _open(rm, name: str):
        try:
            return rm.open_resource(name, read_termination=_TERMINATION, write_termination=_TERMINATION)
        except pyvisa.errors.VisaIOError as exc:
            raise ExternalFailure(f"cannot open VISA resource {name}: {exc}") from exc

    def _write(self, resource, message: str) -> None:
        self.writes += 1
        self.clock.lab_time_s += self.message_s
        try:
            resource.write(message)
        except pyvisa.errors.VisaIOError as exc:
            raise ExternalFailure(f"{resource.resource_name}: writing {message!r} failed: {exc}") from exc

    def _query(self, resource, message: str) -> str:
        self.queries += 1
        self.clock.lab_time_s += self.message_s
        try:
            return resource.query(message).strip()
        except pyvisa.errors.VisaIOError as exc:
            raise ExternalFailure(f"{resource.resource_name}: query {message!r} failed: {exc}") from exc

    def _check_errors(self) -> None:
        for resource in (self.dac, self.modulator, self.meter):
            reply = self._query(resource, "SYST:ERR?")
            if not reply.startswith("0,"):
                raise ExternalFailure(f"{resource.resource_name} reports {reply}")

    @property
    def traffic(self) -> dict[str, int]:
        return {"writes": self.writes, "queries": self.queries}

    # ---------- units ----------
    def volts_for(self, drives_mW: np.ndarray) -> np.ndarray:
        """DAC voltage for each heater power: sqrt(P R), on the DAC's grid over [0, v_max_V]."""
        volts = np.clip(np.sqrt(np.asarray(drives_mW, dtype=float) * 1e-3 * self.resistance_ohm), 0.0, self.v_max_V)
        if self.dac_bits is None:
            return volts
        lsb = self.v_max_V / (2**self.dac_bits - 1)
        return np.round(volts / lsb) * lsb

    # ---------- Instrument ----------
    def describe(self) -> ChannelMap:
        return self.channels

    def read_drives(self, layer: int) -> np.ndarray:
        volts = np.array([float(self._query(self.dac, f"SOUR{ch}:VOLT?")) for ch in self.wiring[layer]])
        return volts**2 / self.resistance_ohm * 1e3

    def apply_and_read(self, x: np.ndarray, layer: int, drives: Mapping[int, np.ndarray]) -> np.ndarray:
        x = check_inputs(x, self.channels.n_inputs)
        if sorted(int(l) for l in drives) != list(range(layer + 1)):
            raise ValueError(f"drives must name every layer 0..{layer}, got layers {sorted(drives)}")
        checked = {l: np.atleast_2d(check_drives(self.channels.layers[l], l, drives[l])) for l in range(layer + 1)}
        m = max(d.shape[0] for d in checked.values())
        n_det = len(self.channels.layers[layer].detectors)
        self._write(self.modulator, "SOUR:LIST " + _csv(x, ".17g"))
        if self._bank != layer:
            self._write(self.meter, f"ROUT:BANK {layer:d}")
            self._bank = layer
        out = np.empty((m, len(x), n_det))
        held: dict[int, float] = {}
        for row in range(m):
            for l, d in checked.items():
                for ch, v in zip(self.wiring[l], self.volts_for(d[min(row, d.shape[0] - 1)])):
                    if held.get(ch) != v:  # a channel already at its voltage is not written again
                        self._write(self.dac, f"SOUR{ch}:VOLT {v:.9f}")
                        held[ch] = v
            reply = self._query(self.meter, "MEAS:POW?")
            values = np.array(reply.split(","), dtype=float)
            if values.size != len(x) * n_det:
                raise ExternalFailure(f"power meter returned {values.size} readings, expected {len(x)} x {n_det}")
            out[row] = values.reshape(len(x), n_det)
        self._check_errors()
        self.clock.charge(m, m * len(x))
        return out

    def to_config(self) -> dict[str, Any]:
        t = self.clock.timing
        return {
            "instrument": "visa", "resources": [r.resource_name for r in (self.dac, self.modulator, self.meter)],
            "resistance_ohm": self.resistance_ohm, "v_max_V": self.v_max_V, "dac_bits": self.dac_bits,
            "wiring": self.wiring, "latency_s": t.latency_s, "settle_s": t.settle_s, "integrate_s": t.integrate_s,
            "message_s": self.message_s,
        }


class _MeasuredPower(Property):
    """The meter's ``power`` property: computed by the backend each time ``MEAS:POW?`` reads it."""

    def __init__(self, measure):
        self.name, self.specs, self._measure = "power", None, measure

    def get_value(self) -> str:
        return self._measure()

    def set_value(self, string_value: str) -> None:
        raise AttributeError("the power meter's readings are measured, not set")


class SimulatedBenchBackend:
    """Device side of a pyvisa-sim bench: the simulated chip answers the meter from the DAC and modulator state.

    It reads the DAC channel voltages and the modulator's pattern from the pyvisa-sim devices (what the
    wires and fibres carry, not VISA traffic), runs ``instrument.apply_and_read`` for one setting and
    returns the readings as the meter's ``MEAS:POW?`` reply (mW, 10 significant digits). On attach the
    DAC is set to the chip's present drives, as a bench left on would hold them. It reaches into
    pyvisa-sim's device objects (``_channels``, ``_properties``), hence the pin pyvisa-sim < 0.8.
    """

    def __init__(self, instrument: SimulatedInstrument, resource_manager: pyvisa.ResourceManager, *,
                 dac: str = DAC_RESOURCE, modulator: str = MODULATOR_RESOURCE, meter: str = METER_RESOURCE,
                 wiring: Sequence[Sequence[int]] | None = None):
        heaters = getattr(getattr(instrument.chip, "physics", None), "heaters", None)
        if heaters is None:
            raise UserInputError("a VISA bench needs a physical chip (ChipConfig.preset('physical')); "
                                 "this chip has no [heaters] table")
        self.instrument, self.heaters = instrument, heaters
        self.channels = instrument.describe()
        self.wiring = [list(w) for w in (default_wiring(self.channels) if wiring is None else wiring)]
        self._sessions = [resource_manager.open_resource(name) for name in (dac, modulator, meter)]
        devices = [resource_manager.visalib.sessions[r.session].device for r in self._sessions]
        dac_device, self._modulator_device, self._meter_device = devices
        self._volts_channel = dac_device._channels["voltage"]
        available = set(self._volts_channel._ids)
        missing = [c for w in self.wiring for c in w if str(c) not in available]
        if missing:
            raise UserInputError(f"wiring needs DAC channel {max(missing)}; the simulated DAC of visa_sim.yaml "
                                 f"has {len(available)} channels")
        self._volts = self._volts_channel._properties["volt"]._value  # channel id -> volts
        self._meter_device._properties["power"] = _MeasuredPower(self.measure)
        for l, w in enumerate(self.wiring):
            volts = heaters.dac(np.sqrt(instrument.read_drives(l) * 1e-3 * heaters.resistance_ohm))
            for ch, v in zip(w, volts):
                self._volts[str(ch)] = float(v)

    def measure(self) -> str:
        """Readings of the switched detector bank for every pattern row at the DAC's present voltages."""
        layer = int(self._meter_device._properties["bank"].get_value())
        width = int(self._modulator_device._properties["width"].get_value())
        x = np.array(self._modulator_device._properties["pattern"].get_value().split(","), dtype=float).reshape(-1, width)
        drives = {}
        for l in range(layer + 1):
            volts = np.array([self._volts[str(ch)] for ch in self.wiring[l]])
            drives[l] = (volts**2 / self.heaters.resistance_ohm * 1e3)[None, :]
        return _csv(self.instrument.apply_and_read(x, layer, drives)[0], ".9e")


def open_simulated_bench(instrument: SimulatedInstrument, *, definition: str = SIM_DEFINITION,
                         timing: Timing | None = None, message_s: float = 0.0) -> tuple[VisaBench, SimulatedBenchBackend]:
    """A :class:`VisaBench` on a pyvisa-sim resource manager whose meter is answered by ``instrument``'s chip."""
    rm = pyvisa.ResourceManager(f"{definition}@sim")
    backend = SimulatedBenchBackend(instrument, rm)
    heaters = backend.heaters
    bench = VisaBench(instrument.describe(), resistance_ohm=heaters.resistance_ohm, v_max_V=heaters.v_max_V,
                      dac_bits=heaters.dac_bits, resource_manager=rm, timing=timing, message_s=message_s)
    return bench, backend
