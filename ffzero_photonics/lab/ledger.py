"""What a chip server remembers about its clients: who holds the chip, what was applied, which replies to replay."""

from __future__ import annotations

import time
from collections import OrderedDict


class Lease:
    """One client at a time drives the chip; the lease lapses ``ttl_s`` after its holder's last request."""

    def __init__(self, ttl_s: float):
        self.ttl_s = float(ttl_s)
        self.holder: str | None = None
        self._expires = 0.0

    def remaining(self, now: float | None = None) -> float:
        """Seconds until the lease lapses (0 when nobody holds it)."""
        if self.holder is None:
            return 0.0
        return max(0.0, self._expires - (time.monotonic() if now is None else now))

    def blocks(self, client: str) -> bool:
        """Whether another client holds a live lease."""
        return self.holder not in (None, client) and self.remaining() > 0

    def take(self, client: str) -> None:
        """Take or renew the lease for ``client`` (the caller checked :meth:`blocks`)."""
        self.holder, self._expires = client, time.monotonic() + self.ttl_s

    def renew(self, client: str) -> None:
        if self.holder == client:
            self.take(client)

    def release(self, client: str) -> bool:
        if self.holder != client:
            return False
        self.holder, self._expires = None, 0.0
        return True


class ClientLedger:
    """Each client's highest applied ``set_params`` and counted ``query`` sequence numbers (LRU over clients).

    Request ids are ``<client>-<seq>`` with seq increasing, so a ``set_params`` whose seq is not above
    the client's mark was already applied (or superseded): applying it again would undo newer work.
    """

    def __init__(self, max_clients: int = 4096):
        self.max_clients = int(max_clients)
        self._marks: OrderedDict[str, dict[str, int]] = OrderedDict()

    def _state(self, client: str) -> dict[str, int]:
        state = self._marks.get(client)
        if state is None:
            state = self._marks[client] = {"set_params": -1, "query": -1}
            while len(self._marks) > self.max_clients:
                self._marks.popitem(last=False)
        self._marks.move_to_end(client)
        return state

    def done(self, client: str, method: str, seq: int) -> bool:
        """Whether ``method`` request ``seq`` of ``client`` was already applied (set_params) or counted (query)."""
        return seq <= self._state(client)[method]

    def mark(self, client: str, method: str, seq: int) -> None:
        state = self._state(client)
        state[method] = max(state[method], seq)


class ReplyCache:
    """Replies by request id, least recently used dropped first, bounded in entries and bytes."""

    def __init__(self, max_entries: int, max_bytes: int):
        self.max_entries, self.max_bytes = int(max_entries), int(max_bytes)
        self._replies: OrderedDict[str, list[bytes]] = OrderedDict()
        self._bytes = 0

    def get(self, rid: str) -> list[bytes] | None:
        reply = self._replies.get(rid)
        if reply is not None:
            self._replies.move_to_end(rid)
        return reply

    def put(self, rid: str, frames: list[bytes]) -> list[bytes]:
        size = sum(len(f) for f in frames)
        if size <= self.max_bytes and rid not in self._replies:
            self._replies[rid] = frames
            self._bytes += size
            while len(self._replies) > self.max_entries or self._bytes > self.max_bytes:
                _, old = self._replies.popitem(last=False)
                self._bytes -= sum(len(f) for f in old)
        return frames
