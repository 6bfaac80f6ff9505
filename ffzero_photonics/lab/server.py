"""Serve a chip (or any instrument) to remote trainers over ZeroMQ.

Wire format (one ZeroMQ multipart message per request and per reply; the
client's DEALER socket talks to the server's ROUTER socket):

- frame 0: a UTF-8 JSON header. Request: ``{"v": 1, "id": str, "method": str,
  "token": str | null, "args": {...}, "arrays": [{"name", "dtype", "shape"}, ...]}``.
  Reply: ``{"v": 1, "id": str | null, "server": str, "ok": bool, "result": {...},
  "arrays": [...]}`` or, on failure, ``"error": {"type": str, "message": str}``.
- frames 1..k: the raw C-order bytes of the arrays listed in ``"arrays"``, in
  that order (decoded with ``np.frombuffer``). Allowed dtypes: little-endian
  float64/float32/int64/int32.

Methods: ``info``, ``get_params`` (args ``layer``; reply array ``params``),
``set_params`` (args ``layer``; array ``params``), ``query`` (args ``layer``;
arrays ``x`` and ``settings.<l>`` for every perturbed layer; reply array ``y``),
``counter``. Replies are cached by request id (bounded LRU), so a retried
request is applied at most once. ``server`` identifies the serving process
instance, letting a client notice a restart.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import zmq

from ..blackbox import LayeredBlackBox, QueryCounter, check_inputs, check_settings
from .instrument import Instrument, InstrumentChip, UnsafeDriveError

PROTOCOL_VERSION = 1
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
DTYPES = ("<f8", "<f4", "<i8", "<i4")
METHODS = ("info", "get_params", "set_params", "query", "counter")
MAX_HEADER_BYTES = 64 * 1024

FaultHook = Callable[[dict[str, Any]], Any]


class ChipProtocolError(ValueError):
    """A request or reply that does not follow the wire format."""


# ---------- wire format (shared with the client) ----------
def encode(header: dict[str, Any], arrays: Mapping[str, np.ndarray] | None = None) -> list[bytes]:
    """Header JSON frame followed by one raw frame per array."""
    header = dict(header)
    frames: list[bytes] = []
    specs = []
    for name, arr in (arrays or {}).items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype.str not in DTYPES:
            arr = arr.astype("<f8")
        specs.append({"name": name, "dtype": arr.dtype.str, "shape": list(arr.shape)})
        frames.append(arr.tobytes())
    header["v"] = PROTOCOL_VERSION
    header["arrays"] = specs
    return [json.dumps(header, default=_json_default).encode()] + frames


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.ndarray, np.generic)):
        return obj.tolist()
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"cannot put a {type(obj).__name__} in a message header")


def decode(frames: Sequence[bytes]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Inverse of :func:`encode`; raises :class:`ChipProtocolError` naming what is wrong."""
    if not frames:
        raise ChipProtocolError("empty message")
    if len(frames[0]) > MAX_HEADER_BYTES:
        raise ChipProtocolError(f"header of {len(frames[0])} bytes exceeds {MAX_HEADER_BYTES}")
    try:
        header = json.loads(bytes(frames[0]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ChipProtocolError(f"header is not UTF-8 JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ChipProtocolError(f"header must be a JSON object, got {type(header).__name__}")
    specs = header.get("arrays", [])
    if not isinstance(specs, list) or len(specs) != len(frames) - 1:
        raise ChipProtocolError(f"header lists {len(specs) if isinstance(specs, list) else specs!r} arrays "
                                f"but the message carries {len(frames) - 1} data frames")
    arrays: dict[str, np.ndarray] = {}
    for spec, frame in zip(specs, frames[1:]):
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise ChipProtocolError(f"bad array description {spec!r}")
        name, dtype, shape = spec["name"], spec.get("dtype"), spec.get("shape")
        if dtype not in DTYPES:
            raise ChipProtocolError(f"array {name!r}: dtype {dtype!r} not allowed; use one of {', '.join(DTYPES)}")
        if (not isinstance(shape, list) or len(shape) > 8
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
            raise ChipProtocolError(f"array {name!r}: bad shape {shape!r}")
        expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if expected != len(frame):
            raise ChipProtocolError(f"array {name!r}: shape {shape} {dtype} needs {expected} bytes, frame has {len(frame)}")
        if name in arrays:
            raise ChipProtocolError(f"array {name!r} sent twice")
        arrays[name] = np.frombuffer(frame, dtype=dtype).reshape(shape)
    return header, arrays


def is_local_host(host: str) -> bool:
    return host.strip("[]") in LOCAL_HOSTS


def tcp_url(host: str, port: int) -> str:
    host = host.strip("[]")
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


class _RequestError(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class _Crash(Exception):
    """Raised by the fault hook's "crash" action: stop serving at once, reply to nobody."""


class ChipServer:
    """Serve one chip (a ``LayeredBlackBox``) or an :class:`Instrument` on a ZeroMQ ROUTER socket.

    Requests are handled one at a time (one chip, one light path). ``token``
    is mandatory when binding anything but a loopback address. ``max_request_bytes``
    bounds a request (header + arrays); larger ones get an error reply (frames
    beyond 4x that are dropped by ZeroMQ itself). ``fault_hook(header)`` is for
    fault-injection tests: it may return ``"drop_request"`` (ignore),
    ``"drop_reply"`` (apply, do not answer), ``"crash"`` (stop serving now) or a
    delay in seconds before replying.
    """

    def __init__(
        self,
        chip_or_instrument: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        *,
        max_request_bytes: int = 64 * 2**20,
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
            raise ValueError(f"refusing to bind {host!r} without a token: anyone on the network could drive the chip; "
                             "pass token=... (--token) or bind 127.0.0.1")
        if port is None or not isinstance(port, int) or not 0 <= port < 65536:
            raise ValueError(f"port must be an integer in 0..65535, got {port!r}")
        if max_request_bytes < 1024:
            raise ValueError(f"max_request_bytes must be >= 1024, got {max_request_bytes}")
        self.token = token or None
        self.max_request_bytes = int(max_request_bytes)
        self.fault_hook = fault_hook
        self.counter = QueryCounter()
        self.stats = {"requests": 0, "replayed": 0, "errors": 0}
        self.instance = uuid.uuid4().hex[:12]
        self._infos = [self.model.layer_info(l) for l in range(self.model.n_layers)]
        self._cache: OrderedDict[str, list[bytes]] = OrderedDict()
        self._cache_bytes = 0
        self._cache_limits = (int(cache_entries), int(cache_bytes))
        self._stop = threading.Event()
        self._serving = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.perf_counter()
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.MAXMSGSIZE, 4 * self.max_request_bytes)
        bind_host = "127.0.0.1" if host == "localhost" else host.strip("[]")
        if ":" in bind_host:
            self._sock.setsockopt(zmq.IPV6, 1)
        try:
            self._sock.bind(tcp_url(bind_host, port))
        except zmq.ZMQError as exc:
            self._sock.close()
            self._ctx.term()
            raise ValueError(f"cannot bind {tcp_url(bind_host, port)}: {exc}") from None
        endpoint = self._sock.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.port = int(endpoint.rsplit(":", 1)[1])
        self.url = tcp_url(bind_host, self.port)

    # ---------- lifecycle ----------
    def serve_forever(self, poll_s: float = 0.1) -> None:
        """Answer requests until :meth:`stop` (or a signal handler calling it)."""
        self._serving.set()
        try:
            while not self._stop.is_set():
                if not self._sock.poll(int(poll_s * 1000), zmq.POLLIN):
                    continue
                frames = self._sock.recv_multipart(copy=True)
                try:
                    self._handle(frames)
                except _Crash:
                    break
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

    # ---------- one request ----------
    def _handle(self, frames: list[bytes]) -> None:
        identity, body = frames[0], frames[1:]
        self.stats["requests"] += 1
        rid = None
        try:
            size = sum(len(f) for f in body)
            if size > self.max_request_bytes:
                raise _RequestError("TooLarge", f"request of {size} bytes exceeds the server's limit of {self.max_request_bytes} bytes")
            try:
                header, arrays = decode(body)
            except ChipProtocolError as exc:
                raise _RequestError("Malformed", str(exc)) from None
            if header.get("v") != PROTOCOL_VERSION:
                raise _RequestError("Malformed", f"protocol version {header.get('v')!r} not supported; this server speaks {PROTOCOL_VERSION}")
            rid = header.get("id")
            if not isinstance(rid, str) or not 0 < len(rid) <= 128:
                rid = None
                raise _RequestError("Malformed", f"request id must be a non-empty string of <= 128 characters, got {header.get('id')!r}")
            if self.token is not None:
                given = header.get("token")
                if not isinstance(given, str) or not hmac.compare_digest(given.encode(), self.token.encode()):
                    raise _RequestError("AuthError", "missing or wrong token" if given else "this server requires a token")
        except _RequestError as exc:
            self.stats["errors"] += 1
            self._send(identity, self._error_frames(rid, exc.kind, str(exc)))
            return

        cached = self._cache.get(rid)
        if cached is not None:
            self._cache.move_to_end(rid)
            self.stats["replayed"] += 1
            self._send(identity, cached)
            return

        action = self.fault_hook(header) if self.fault_hook is not None else None
        if action == "drop_request":
            return
        if action == "crash":
            raise _Crash()
        try:
            result, out = self._dispatch(header, arrays)
            reply = encode({"id": rid, "server": self.instance, "ok": True, "result": result}, out)
        except (_RequestError, UnsafeDriveError, ValueError, TypeError, KeyError, IndexError) as exc:
            self.stats["errors"] += 1
            kind = exc.kind if isinstance(exc, _RequestError) else type(exc).__name__
            reply = self._error_frames(rid, kind, str(exc))
        except Exception as exc:  # the chip or instrument failed; report it and keep serving
            self.stats["errors"] += 1
            reply = self._error_frames(rid, "ServerError", f"{type(exc).__name__}: {exc}")
        self._remember(rid, reply)
        if action == "drop_reply":
            return
        if isinstance(action, (int, float)) and not isinstance(action, bool) and action > 0:
            time.sleep(float(action))
        self._send(identity, reply)

    def _send(self, identity: bytes, frames: list[bytes]) -> None:
        try:
            self._sock.send_multipart([identity, *frames], flags=zmq.NOBLOCK)
        except zmq.Again:
            pass  # the client is gone or not reading; it will retry with the same id

    def _error_frames(self, rid, kind: str, message: str) -> list[bytes]:
        return encode({"id": rid, "server": self.instance, "ok": False, "error": {"type": kind, "message": message}})

    def _remember(self, rid: str, frames: list[bytes]) -> None:
        size = sum(len(f) for f in frames)
        max_entries, max_bytes = self._cache_limits
        if size > max_bytes:
            return
        self._cache[rid] = frames
        self._cache_bytes += size
        while len(self._cache) > max_entries or self._cache_bytes > max_bytes:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= sum(len(f) for f in old)

    # ---------- methods ----------
    def _dispatch(self, header: dict[str, Any], arrays: dict[str, np.ndarray]):
        method = header.get("method")
        args = header.get("args", {})
        if not isinstance(args, dict):
            raise _RequestError("Malformed", f"args must be a JSON object, got {args!r}")
        if method == "info":
            return self.info(), {}
        if method == "counter":
            return self.counts(), {}
        if method == "get_params":
            return {}, {"params": self.model.get_params(self._layer(args, self.model.n_layers - 1))}
        if method == "set_params":
            layer = self._layer(args, self.model.n_layers - 1)
            params = self._array(arrays, "params", (self._infos[layer].n_params,))
            self.model.set_params(layer, params)
            return {}, {}
        if method == "query":
            layer = self._layer(args, self.model.n_layers - 1)
            x = check_inputs(self._array(arrays, "x"), self.model.n_inputs)
            settings = {}
            for name, arr in arrays.items():
                if name == "x":
                    continue
                prefix, _, idx = name.partition(".")
                if prefix != "settings" or not idx.isdigit():
                    raise _RequestError("Malformed", f"unexpected array {name!r} in a query")
                settings[int(idx)] = self._array(arrays, name)
            settings, m = check_settings(self._infos, layer, settings)
            y = np.asarray(self.model.query(x, layer, settings), dtype=float)
            self.counter.record(m, len(x), layer + 1)
            return {}, {"y": y}
        raise _RequestError("Malformed", f"unknown method {method!r}; choose one of {', '.join(METHODS)}")

    def info(self) -> dict[str, Any]:
        config = getattr(self.model, "to_config", None)
        return {
            "n_layers": self.model.n_layers, "n_inputs": self.model.n_inputs,
            "layers": [info.to_dict() for info in self._infos],
            "config": config() if callable(config) else None,
        }

    def counts(self) -> dict[str, Any]:
        """The server's own query counts, request statistics and modelled lab time."""
        lab = getattr(self.model, "lab_time_s", None)
        return {
            **self.counter.snapshot(), **self.stats,
            "lab_time_s": lab, "uptime_s": time.perf_counter() - self._started,
        }

    def _layer(self, args: dict[str, Any], last: int) -> int:
        layer = args.get("layer")
        if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer <= last:
            raise _RequestError("ValueError", f"layer {layer!r} out of range 0..{last}")
        return layer

    def _array(self, arrays: dict[str, np.ndarray], name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        if name not in arrays:
            raise _RequestError("Malformed", f"missing array {name!r}")
        arr = arrays[name].astype(float)
        if shape is not None and arr.shape != shape:
            raise _RequestError("ValueError", f"array {name!r} must have shape {shape}, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise _RequestError("ValueError", f"array {name!r} holds NaN or inf")
        return arr
