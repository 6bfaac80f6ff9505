"""Chip in the loop: lab instruments, a chip server and its client, so training can drive remote hardware."""

from .instrument import (
    ChannelMap,
    Instrument,
    InstrumentChip,
    LabClock,
    LayerChannels,
    SimulatedInstrument,
    Timing,
    UnsafeDriveError,
)

__all__ = [
    "ChannelMap", "Instrument", "InstrumentChip", "LabClock", "LayerChannels", "SimulatedInstrument",
    "Timing", "UnsafeDriveError", "ChipServer", "RemoteChip", "ChipConnectionError", "ChipStateLost",
    "ChipAuthError", "ChipRequestError", "ChipServerError",
]


def __getattr__(name):
    """Load the ZeroMQ server/client lazily, so instruments work without importing zmq."""
    if name == "ChipServer":
        from .server import ChipServer

        return ChipServer
    if name in ("RemoteChip", "ChipConnectionError", "ChipStateLost", "ChipAuthError", "ChipRequestError", "ChipServerError"):
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
