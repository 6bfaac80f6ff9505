"""Chip in the loop: lab instruments, a chip server and its client, so training can drive remote hardware."""

from .client import (
    ChipAuthError,
    ChipConnectionError,
    ChipIdentityError,
    ChipLeaseError,
    ChipRequestError,
    ChipServerError,
    ChipStateLost,
    RemoteChip,
)
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
from .protocol import ChipProtocolError, Limits
from .server import ChipServer

__all__ = [
    "ChannelMap", "Instrument", "InstrumentChip", "LabClock", "LayerChannels", "SimulatedInstrument",
    "Timing", "UnsafeDriveError", "ChipServer", "Limits", "RemoteChip", "ChipConnectionError", "ChipStateLost",
    "ChipAuthError", "ChipLeaseError", "ChipIdentityError", "ChipRequestError", "ChipServerError",
    "ChipProtocolError",
]
