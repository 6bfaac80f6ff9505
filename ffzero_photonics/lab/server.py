"""Serve a chip (or any instrument) to remote trainers over ZeroMQ, so that no request can stop or starve it.

The wire format and its limits are in :mod:`.protocol`. Methods: ``info`` (chip
configuration and fingerprint), ``counter``, ``acquire`` / ``release`` (the
lease), ``get_params`` / ``set_params`` (args ``layer``; array ``params``) and
``query`` (args ``layer``; arrays ``x`` and ``settings.<l>``; reply array ``y``).

- Every failure to authenticate, decode or validate a request is an error reply,
  never an exception out of the serving loop; refused, unauthenticated and
  unsafe requests are written to a JSON-lines log.
- The chip works in a worker thread, so ``info`` and refusals are answered while
  it is busy; one request may hold the chip for ``max_request_s`` at most.
- A lease gives one client the chip: its first chip call (or ``acquire``) takes
  it, each of its requests renews it, and it lapses ``lease_ttl_s`` after the
  holder's last request. Others may call ``info`` and ``counter`` only.
- ``set_params`` is applied at most once per request id, whatever the size of
  the reply cache: the server keeps each client's highest applied sequence number.
- ``server`` in every reply names the serving process instance; a request
  naming another instance is refused, so nothing is applied after a restart.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

import numpy as np
import zmq

from ..blackbox import LayeredBlackBox, QueryCounter, check_inputs, check_settings
from ..errors import UserInputError
from .instrument import Instrument, InstrumentChip, UnsafeDriveError
from .ledger import ClientLedger, Lease, ReplyCache
from .request_log import DEFAULT_LOG, RequestLog
from .protocol import (
    MAGIC, METHODS, PROTOCOL_VERSION, ChipProtocolError, Limits, authenticated, decode, encode, fingerprint,
    is_local_host, parse_request_id, tcp_url,
)

CHIP_METHODS = ("get_params", "set_params", "query")  # need the lease and the worker

FaultHook = Callable[[dict[str, Any]], Any]


class _Refusal(Exception):
    """A request the server answers with an error instead of serving it."""

    def __init__(self, kind: str, message: str, outcome: str | None = "refused"):
        super().__init__(message)
        self.kind, self.outcome = kind, outcome


class _Crash(Exception):
    """Raised by the fault hook's "crash" action: stop serving at once, reply to nobody."""


@dataclass
class _Request:
    """A request that passed authentication and validation."""

    peer: bytes
    rid: str
    client: str
    seq: int
    method: str
    args: dict[str, Any] = field(default_factory=dict)
    action: Any = None
    started: float = 0.0
    reply: list[bytes] | None = None
    outcome: tuple[str, str] | None = None
    timed_out: bool = False


class ChipServer:
    """Serve one chip (a ``LayeredBlackBox``) or an :class:`Instrument` on a ZeroMQ ROUTER socket.

    ``token`` is mandatory when binding anything but a loopback address. Limits
    (see :class:`~.protocol.Limits`) come from ``limits`` with any ``max_*``
    keyword overriding it. ``log_path`` (default ``chip-server-log.jsonl`` in the
    working directory, created at the first refusal; None: no log) receives one
    JSON line per refused, unauthenticated or unsafe request. ``fault_hook(header)``
    is for fault-injection tests: it may return ``"drop_request"``, ``"drop_reply"``
    (apply, do not answer), ``"crash"`` (stop serving now) or a delay in seconds.
    """

    def __init__(
        self,
        chip_or_instrument: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        *,
        limits: Limits | None = None,
        max_request_bytes: int | None = None,
        max_work: int | None = None,
        max_reply_bytes: int | None = None,
        max_request_s: float | None = None,
        lease_ttl_s: float = 30.0,
        log_path: str | os.PathLike | None = DEFAULT_LOG,
        cache_entries: int = 1024,
        cache_bytes: int = 64 * 2**20,
        fault_hook: FaultHook | None = None,
    ):
        if isinstance(chip_or_instrument, LayeredBlackBox):
            self.model = chip_or_instrument
        elif isinstance(chip_or_instrument, Instrument):
            self.model = InstrumentChip(chip_or_instrument)
        else:
            raise TypeError(f"{type(chip_or_instrument).__name__} is neither a LayeredBlackBox nor an Instrument")
        if not is_local_host(host) and not token:
            raise UserInputError(f"refusing to bind {host!r} without a token: anyone on the network could drive the chip; "
                                 "pass token=... (--token) or bind 127.0.0.1")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
            raise UserInputError(f"port must be an integer in 0..65535, got {port!r}")
        if isinstance(lease_ttl_s, bool) or not isinstance(lease_ttl_s, (int, float)) or not 0 < lease_ttl_s < float("inf"):
            raise UserInputError(f"lease_ttl_s must be a positive number of seconds, got {lease_ttl_s!r}")
        overrides = {"max_request_bytes": max_request_bytes, "max_work": max_work,
                     "max_reply_bytes": max_reply_bytes, "max_request_s": max_request_s}
        self.limits = replace(limits or Limits(), **{k: v for k, v in overrides.items() if v is not None})
        self.token = token or None
        self.lease_ttl_s = float(lease_ttl_s)
        self.fault_hook = fault_hook
        self.counter = QueryCounter()
        self.stats = {"requests": 0, "replayed": 0, "errors": 0, "refused": 0, "duplicates": 0, "recomputed": 0}
        self.instance = uuid.uuid4().hex[:12]
        self._infos = [self.model.layer_info(l) for l in range(self.model.n_layers)]
        config = getattr(self.model, "to_config", None)
        self._config = config() if callable(config) else None
        self.fingerprint = fingerprint(self._config, [i.to_dict() for i in self._infos])
        self._log = RequestLog(log_path)
        self.log_path = self._log.path
        self._cache = ReplyCache(cache_entries, cache_bytes)
        self._ledger = ClientLedger()
        self._lease = Lease(lease_ttl_s)
        self._job: _Request | None = None
        self._done_r, self._done_w = os.pipe()
        self._pipe_lock = threading.Lock()
        self._pipe_open = True
        self._stop = threading.Event()
        self._serving = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.perf_counter()
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.MAXMSGSIZE, 2 * self.limits.max_request_bytes)  # larger frames: dropped by ZeroMQ
        bind_host = "127.0.0.1" if host == "localhost" else host.strip("[]")
        if ":" in bind_host:
            self._sock.setsockopt(zmq.IPV6, 1)
        try:
            self._sock.bind(tcp_url(bind_host, port))
        except zmq.ZMQError as exc:
            self._close()
            raise UserInputError(f"cannot bind {tcp_url(bind_host, port)}: {exc}") from None
        endpoint = self._sock.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.port = int(endpoint.rsplit(":", 1)[1])
        self.url = tcp_url(bind_host, self.port)

    # ---------- lifecycle ----------
    def serve_forever(self, poll_s: float = 0.1) -> None:
        """Answer requests until :meth:`stop` (or a signal handler calling it)."""
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        poller.register(self._done_r, zmq.POLLIN)
        self._serving.set()
        try:
            while not self._stop.is_set():
                wait = poll_s
                if self._job is not None and not self._job.timed_out:
                    wait = min(wait, max(0.0, self._job.started + self.limits.max_request_s - time.monotonic()))
                events = dict(poller.poll(int(wait * 1000)))
                if self._done_r in events:
                    os.read(self._done_r, 64)
                    self._finish_job()
                if self._sock in events:
                    peer, frames, overflow = self._recv()
                    self._send(peer, self._serve_one(peer, frames, overflow))
                self._check_overrun()
        except _Crash:
            pass
        finally:
            self._close()
            self._serving.clear()

    def start(self) -> "ChipServer":
        """Serve from a background thread (tests, notebooks, benchmarks)."""
        self._thread = threading.Thread(target=self.serve_forever, name=f"ChipServer:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the serving loop to finish (safe from a signal handler); joins the background thread."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def close(self) -> None:
        """Stop serving and release the port."""
        self.stop()
        if not self.running:
            self._close()

    @property
    def running(self) -> bool:
        return self._serving.is_set()

    def __enter__(self) -> "ChipServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _close(self) -> None:
        if not self._sock.closed:
            self._sock.close(linger=0)
            self._ctx.term()
        with self._pipe_lock:
            if self._pipe_open:
                self._pipe_open = False
                os.close(self._done_r)
                os.close(self._done_w)
        self._log.close()

    # ---------- transport ----------
    def _recv(self) -> tuple[bytes, list[bytes], str | None]:
        """One multipart message, keeping at most the limits' frames and bytes (the rest is read and dropped)."""
        peer = self._sock.recv()
        frames: list[bytes] = []
        size, overflow = 0, None
        while self._sock.getsockopt(zmq.RCVMORE):
            part = self._sock.recv()
            if overflow is not None:
                continue
            size += len(part)
            if size > self.limits.max_request_bytes:
                overflow = f"request exceeds the server's limit of {self.limits.max_request_bytes} bytes"
            elif len(frames) > self.limits.max_arrays + 1:
                overflow = f"request has more than {self.limits.max_arrays + 2} frames"
            if overflow is not None:
                frames = []
            else:
                frames.append(part)
        return peer, frames, overflow

    def _send(self, peer: bytes, frames: list[bytes] | None) -> None:
        if frames is None:
            return
        try:
            self._sock.send_multipart([peer, *frames], flags=zmq.NOBLOCK)
        except zmq.Again:
            pass  # the client is gone or not reading; it will retry with the same id

    def _serve_one(self, peer: bytes, frames: list[bytes], overflow: str | None) -> list[bytes] | None:
        """:meth:`handle`, turning a bug in it into an error reply so that one request never stops the server."""
        if overflow is not None:
            return self._refuse(None, None, peer, _Refusal("TooLarge", overflow))
        try:
            return self.handle(frames, peer)
        except _Crash:
            raise
        except Exception as exc:
            logging.getLogger(__name__).exception("chip server bug while handling a request")
            return self._error(None, "ServerError", f"{type(exc).__name__}: {exc}")

    # ---------- one request ----------
    def handle(self, frames: list[bytes], peer: bytes = b"") -> list[bytes] | None:
        """The reply to one request, or None when the chip worker will answer (or the request is dropped)."""
        self.stats["requests"] += 1
        req = None
        header: dict[str, Any] = {}
        try:
            if not frames or not frames[0].startswith(MAGIC):
                raise _Refusal("Malformed", f"frame 0 must be the authentication frame of protocol {PROTOCOL_VERSION}",
                               "unauthenticated")
            if not authenticated(frames[0], self.token):
                given = len(frames[0]) > len(MAGIC)
                raise _Refusal("AuthError", "wrong token" if given else "this server requires a token", "unauthenticated")
            try:
                header, arrays = decode(frames[1:], self.limits)
                req = self._request(peer, header)
            except ChipProtocolError as exc:
                raise _Refusal("Malformed", str(exc)) from None
            cached = self._cache.get(req.rid)
            if cached is not None:
                self.stats["replayed"] += 1
                return cached
            if self._job is not None and self._job.rid == req.rid:
                return None  # a retry of the request the chip is working on; its reply follows
            if req.method in CHIP_METHODS:
                work = self._validate(req, arrays)
            if req.method in CHIP_METHODS or req.method == "acquire":
                self._take_lease(req.client)
        except _Refusal as refusal:
            return self._refuse(req, header, peer, refusal)
        req.action = self.fault_hook(header) if self.fault_hook is not None else None
        if req.action == "drop_request":
            return None
        if req.action == "crash":
            raise _Crash()
        if req.method in CHIP_METHODS:
            if req.method == "set_params" and self._ledger.done(req.client, "set_params", req.seq):
                self.stats["duplicates"] += 1
                return self._cache.put(req.rid, self._reply(req.rid, {"duplicate": True}))
            self._submit(req, work)
            return None
        reply = self._cache.put(req.rid, self._reply(req.rid, self._immediate(req)))
        if isinstance(req.action, (int, float)) and not isinstance(req.action, bool) and req.action > 0:
            time.sleep(float(req.action))
        return None if req.action == "drop_reply" else reply

    def _request(self, peer: bytes, header: dict[str, Any]) -> _Request:
        if header.get("v") != PROTOCOL_VERSION:
            raise ChipProtocolError(f"protocol version {str(header.get('v'))[:20]!r} not supported; this server speaks {PROTOCOL_VERSION}")
        client, seq = parse_request_id(header.get("id"))
        method, args = header.get("method"), header.get("args", {})
        if method not in METHODS:
            raise ChipProtocolError(f"unknown method {str(method)[:40]!r}; choose one of {', '.join(METHODS)}")
        if not isinstance(args, dict):
            raise ChipProtocolError(f"args must be a JSON object, got {str(args)[:40]!r}")
        req = _Request(peer, header["id"], client, seq, method, args)
        instance = header.get("instance")
        if instance is not None and instance != self.instance:
            raise _Refusal("Restarted", f"this is server instance {self.instance}, not {str(instance)[:20]}: "
                                        "the server restarted and its committed parameters are gone", None)
        return req

    def _refuse(self, req: _Request | None, header: dict[str, Any] | None, peer: bytes, refusal: _Refusal) -> list[bytes]:
        self.stats["errors"] += 1
        if refusal.outcome is not None:
            self.stats["refused"] += 1
            op = req.method if req else (header or {}).get("method")
            rid = req.rid if req else None
            self._log.event(peer, req.client if req else None, rid, op, refusal.outcome, str(refusal))
        rid = req.rid if req else (header or {}).get("id")
        return self._error(rid if isinstance(rid, str) and len(rid) <= 128 else None, refusal.kind, str(refusal))

    def _take_lease(self, client: str) -> None:
        busy = self._job is not None and self._job.client == self._lease.holder
        if self._lease.holder not in (None, client) and (busy or self._lease.blocks(client)):
            left = self.lease_ttl_s if busy else self._lease.remaining()
            raise _Refusal("LeaseHeld", f"the chip is leased to another client for up to {left:.0f} s more "
                                        f"(a lease lapses {self.lease_ttl_s:g} s after its holder's last request)")
        if self._job is not None:
            raise _Refusal("Busy", "the chip is still working on this client's previous request", None)
        self._lease.take(client)

    def _validate(self, req: _Request, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        """Check a chip call's arguments and its cost before any work; the arguments for the worker."""
        layer = req.args.get("layer")
        last = self.model.n_layers - 1
        if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer <= last:
            raise _Refusal("ValueError", f"layer {str(layer)[:20]} out of range 0..{last}")
        if req.method == "get_params":
            return {"layer": layer}
        if req.method == "set_params":
            return {"layer": layer, "params": self._array(arrays, "params", (self._infos[layer].n_params,))}
        try:
            x = check_inputs(self._array(arrays, "x"), self.model.n_inputs)
            settings = {}
            for name in arrays:
                if name == "x":
                    continue
                prefix, _, idx = name.partition(".")
                if prefix != "settings" or not idx.isdigit() or len(idx) > 3:
                    raise _Refusal("Malformed", f"unexpected array {name!r} in a query")
                settings[int(idx)] = self._array(arrays, name)
            settings, m = check_settings(self._infos, layer, settings)
        except ValueError as exc:
            raise _Refusal("ValueError", str(exc)) from None
        work, reply_bytes = m * len(x), m * len(x) * self._infos[layer].out_dim * 8
        if work == 0:
            raise _Refusal("ValueError", "a query needs at least one input and one setting")
        if work > self.limits.max_work:
            raise _Refusal("TooLarge", f"query of {m} settings x {len(x)} inputs = {work} exceeds the server's "
                                       f"work limit of {self.limits.max_work}; split it")
        if reply_bytes > self.limits.max_reply_bytes:
            raise _Refusal("TooLarge", f"query reply of {reply_bytes} bytes exceeds the server's limit of "
                                       f"{self.limits.max_reply_bytes}; split it")
        return {"layer": layer, "x": x, "settings": settings, "m": m}

    def _array(self, arrays: dict[str, np.ndarray], name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        if name not in arrays:
            raise _Refusal("Malformed", f"missing array {name!r}")
        arr = arrays[name].astype(float)
        if shape is not None and arr.shape != shape:
            raise _Refusal("ValueError", f"array {name!r} must have shape {shape}, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise _Refusal("ValueError", f"array {name!r} holds NaN or inf")
        return arr

    def _immediate(self, req: _Request) -> dict[str, Any]:
        if req.method == "info":
            return self.info()
        if req.method == "counter":
            return self.counts()
        if req.method == "release":
            return {"released": self._lease.release(req.client)}
        return {"lease_ttl_s": self.lease_ttl_s}  # acquire: _take_lease already took it

    # ---------- the chip worker ----------
    def _submit(self, req: _Request, work: dict[str, Any]) -> None:
        req.started = time.monotonic()
        self._job = req
        recount = req.method == "query" and self._ledger.done(req.client, "query", req.seq)
        threading.Thread(target=self._work, args=(req, work, recount), name=f"chip-work:{req.rid}", daemon=True).start()

    def _work(self, req: _Request, work: dict[str, Any], recount: bool) -> None:
        """Run one chip call (worker thread) and wake the serving loop."""
        out: dict[str, np.ndarray] = {}
        try:
            if req.method == "get_params":
                out = {"params": self.model.get_params(work["layer"])}
            elif req.method == "set_params":
                self.model.set_params(work["layer"], work["params"])
            else:
                out = {"y": np.asarray(self.model.query(work["x"], work["layer"], work["settings"]), dtype=float)}
                if recount:
                    self.stats["recomputed"] += 1
                else:
                    self.counter.record(work["m"], len(work["x"]), work["layer"] + 1)
            req.reply = encode({"id": req.rid, "server": self.instance, "ok": True, "result": {}}, out)
        except UnsafeDriveError as exc:
            req.outcome = ("unsafe", str(exc))
            req.reply = self._error(req.rid, "UnsafeDriveError", str(exc))
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            req.reply = self._error(req.rid, type(exc).__name__, str(exc))
        except Exception as exc:  # the chip or instrument failed; report it and keep serving
            req.reply = self._error(req.rid, "ServerError", f"{type(exc).__name__}: {exc}")
        if isinstance(req.action, (int, float)) and not isinstance(req.action, bool) and req.action > 0:
            time.sleep(float(req.action))
        with self._pipe_lock:
            if self._pipe_open:
                os.write(self._done_w, b"x")

    def _finish_job(self) -> None:
        req, self._job = self._job, None
        if req is None or req.reply is None:
            return
        ok = json.loads(req.reply[0]).get("ok")
        if ok and req.method in ("set_params", "query"):
            self._ledger.mark(req.client, req.method, req.seq)
        if not ok:
            self.stats["errors"] += 1
        if req.outcome is not None:
            self._log.event(req.peer, req.client, req.rid, req.method, *req.outcome)
        self._lease.renew(req.client)
        self._cache.put(req.rid, req.reply)
        if not req.timed_out and req.action != "drop_reply":
            self._send(req.peer, req.reply)

    def _check_overrun(self) -> None:
        req = self._job
        if req is None or req.timed_out or time.monotonic() - req.started < self.limits.max_request_s:
            return
        req.timed_out = True
        message = (f"{req.method} did not finish within the server's limit of {self.limits.max_request_s:g} s; "
                   "the chip stays busy until it does")
        self._log.event(req.peer, req.client, req.rid, req.method, "timeout", message)
        self._send(req.peer, self._error(req.rid, "Timeout", message))

    # ---------- bookkeeping ----------
    def _reply(self, rid: str, result: dict[str, Any]) -> list[bytes]:
        return encode({"id": rid, "server": self.instance, "ok": True, "result": result})

    def _error(self, rid: str | None, kind: str, message: str) -> list[bytes]:
        return encode({"id": rid, "server": self.instance, "ok": False, "error": {"type": kind, "message": message}})

    # ---------- what the server tells ----------
    def info(self) -> dict[str, Any]:
        """The served chip's description, configuration and fingerprint, the limits and the lease."""
        left = self._lease.remaining()
        return {
            "n_layers": self.model.n_layers, "n_inputs": self.model.n_inputs,
            "layers": [info.to_dict() for info in self._infos], "config": self._config,
            "fingerprint": self.fingerprint, "limits": asdict(self.limits), "lease_ttl_s": self.lease_ttl_s,
            "lease": {"held": left > 0 or self._job is not None, "expires_in_s": left},
        }

    def counts(self) -> dict[str, Any]:
        """The server's own query counts, request statistics and modelled lab time."""
        lab = getattr(self.model, "lab_time_s", None)
        return {
            **self.counter.snapshot(), **self.stats,
            "lab_time_s": lab, "uptime_s": time.perf_counter() - self._started,
        }

