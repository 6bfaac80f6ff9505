"""The chip server's structured log: one JSON line per refused, unauthenticated, unsafe or overrunning request."""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import UserInputError

DEFAULT_LOG = "chip-server-log.jsonl"
LOG_MAX_BYTES = 16 * 2**20


class RequestLog:
    """A rotating JSON-lines file (opened at the first event); ``path=None`` logs nothing."""

    def __init__(self, path: str | os.PathLike | None = DEFAULT_LOG):
        self.path = Path(path).resolve() if path is not None else None
        if self.path is not None and not self.path.parent.is_dir():
            raise UserInputError(f"log_path {str(path)!r}: directory {self.path.parent} does not exist")
        self._handler: logging.Handler | None = None
        if self.path is not None:
            self._handler = logging.handlers.RotatingFileHandler(self.path, maxBytes=LOG_MAX_BYTES, backupCount=1,
                                                                 delay=True)
            self._handler.setFormatter(_JsonLines())

    def event(self, peer: bytes, client: str | None, rid: str | None, op: Any, outcome: str, reason: str) -> None:
        """Write one event (time, peer, client, request id, op, outcome, reason)."""
        if self._handler is None:
            return
        self._handler.handle(logging.makeLogRecord({"msg": reason, "event": {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "peer": peer.hex()[:32],
            "client": client, "id": rid, "op": op[:40] if isinstance(op, str) else None, "outcome": outcome,
            "reason": reason[:500],
        }}))

    def close(self) -> None:
        if self._handler is not None:
            self._handler.close()


class _JsonLines(logging.Formatter):
    """One JSON object per line: the event a server logged."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(getattr(record, "event", {"reason": record.getMessage()}))
