"""A chip served by :class:`~ffzero_photonics.lab.server.ChipServer`, as a local ``LayeredBlackBox``.

Every request carries a unique id ``<client>-<seq>``; when no reply comes the
client resends the *same* id, so the server applies it at most once. Each call
waits ``timeout_s`` in total, whatever the number of retries. Requests name the
server instance the client has been talking to: a restarted server refuses
them and the client raises :class:`ChipStateLost`, so the run stops and resumes
from its checkpoint. The chip's fingerprint (from ``info``) goes into
``to_config()``; :meth:`RemoteChip.from_config` refuses a server whose chip differs.
"""

from __future__ import annotations

import itertools
import math
import os
import time
import uuid
import weakref
from typing import Any, Mapping

import numpy as np
import zmq

from ..blackbox import LayerInfo, QueryCounter, check_inputs, check_settings
from ..errors import ExternalFailure, UserInputError
from .instrument import UnsafeDriveError
from .protocol import ChipProtocolError, decode, encode_request, parse_url

TOKEN_ENV = "FFZERO_CHIP_TOKEN"
RELEASE_WAIT_S = 0.5


class ChipConnectionError(ExternalFailure, ConnectionError):
    """The chip server did not answer within the time budget."""


class ChipStateLost(ChipConnectionError):
    """The chip server restarted mid-run; its committed parameters are gone."""


class ChipAuthError(ExternalFailure, PermissionError):
    """The chip server refused the token."""


class ChipLeaseError(ExternalFailure):
    """Another client holds the chip's lease."""


class ChipServerError(ExternalFailure):
    """The chip or instrument behind the server failed (or overran its time) while handling a request."""


class ChipRequestError(UserInputError):
    """The chip server refused a request as too large or out of range."""


class ChipIdentityError(UserInputError):
    """The server serves a different chip than the one a run was trained on."""


_ERRORS = {
    "UnsafeDriveError": UnsafeDriveError,
    "AuthError": ChipAuthError,
    "LeaseHeld": ChipLeaseError,
    "ServerError": ChipServerError,
    "Timeout": ChipServerError,
    "Malformed": ChipProtocolError,
}


def _positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise UserInputError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} number, got {value!r}")
    return float(value)


class RemoteChip:
    """``LayeredBlackBox`` proxy for a chip server at ``url`` (``tcp://HOST:PORT``).

    ``timeout_s`` bounds the wait of each call (connecting included); within it
    the request is sent up to ``1 + retries`` times, ``attempt_timeout_s`` apart
    (default ``timeout_s / (retries + 1)``) with exponential backoff from
    ``backoff_s``. ``token`` defaults to ``$FFZERO_CHIP_TOKEN``. ``fingerprint``:
    refuse a server whose chip has another one. ``split_settings=True`` sends one
    request per candidate setting (slow; for benchmarks).
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        attempt_timeout_s: float | None = None,
        retries: int = 5,
        backoff_s: float = 0.05,
        split_settings: bool = False,
        fingerprint: str | None = None,
    ):
        host, _ = parse_url(url)
        self.timeout_s = _positive("timeout_s", timeout_s)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise UserInputError(f"retries must be a non-negative integer, got {retries!r}")
        self.retries = retries
        self.attempt_timeout_s = min(self.timeout_s, _positive("attempt_timeout_s", attempt_timeout_s)
                                     if attempt_timeout_s is not None else self.timeout_s / (retries + 1))
        self.backoff_s = _positive("backoff_s", backoff_s, allow_zero=True)
        self.url = url
        self.split_settings = bool(split_settings)
        self.counter = QueryCounter()
        self._link = _Link(url, token if token is not None else os.environ.get(TOKEN_ENV), ipv6=":" in host)
        self._finalizer = weakref.finalize(self, self._link.shutdown)
        try:
            info, _ = self._call("info")
            self._infos = [_layer_info(d) for d in info["layers"]]
            self._n_inputs = int(info["n_inputs"])
            self.server_config = info.get("config")
            self.fingerprint: str = info.get("fingerprint")
            if fingerprint is not None:
                self.check_identity({"fingerprint": fingerprint})
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **options: Any) -> "RemoteChip":
        """Reconnect to the chip a run recorded (``to_config()``), refusing a server whose chip differs."""
        if not isinstance(config, Mapping) or not isinstance(config.get("url"), str):
            raise UserInputError(f"a remote chip's config needs a 'url' string, got {config!r}")
        return cls(config["url"], fingerprint=config.get("fingerprint"), **options)

    def check_identity(self, config: Mapping[str, Any]) -> None:
        """Raise :class:`ChipIdentityError` unless the served chip has the fingerprint in ``config`` (a ``to_config()``)."""
        expected = config.get("fingerprint")
        if expected is not None and expected != self.fingerprint:
            raise ChipIdentityError(
                f"chip server {self.url} serves a chip with fingerprint {str(self.fingerprint)[:12]}..., not "
                f"{str(expected)[:12]}... as recorded for this run; serve the run's chip (same CHIP.toml) or start a new run")

    @property
    def attempts(self) -> int:
        """Requests put on the wire, retries included."""
        return self._link.attempts

    # ---------- LayeredBlackBox ----------
    @property
    def n_layers(self) -> int:
        return len(self._infos)

    @property
    def n_inputs(self) -> int:
        return self._n_inputs

    def layer_info(self, layer: int) -> LayerInfo:
        return self._infos[layer]

    def get_params(self, layer: int) -> np.ndarray:
        _, arrays = self._call("get_params", {"layer": self._layer(layer)})
        return np.array(arrays["params"], dtype=float)

    def set_params(self, layer: int, params: np.ndarray) -> None:
        self._call("set_params", {"layer": self._layer(layer)}, {"params": np.asarray(params, dtype=float)})

    def query(self, x: np.ndarray, layer: int, settings: Mapping[int, np.ndarray] | None = None) -> np.ndarray:
        """Measured output of ``layer`` for all candidate settings, in one request (see ``LayeredBlackBox``)."""
        x = check_inputs(x, self.n_inputs)
        settings, m = check_settings(self._infos, self._layer(layer), settings)
        if self.split_settings and m > 1:
            return np.concatenate([self.query(x, layer, {l: s[i : i + 1] for l, s in settings.items()}) for i in range(m)])
        arrays = {"x": x, **{f"settings.{l}": s for l, s in settings.items()}}
        _, out = self._call("query", {"layer": layer}, arrays)
        y = np.array(out["y"], dtype=float)
        expected = (m, len(x), *self._infos[layer].out_shape)
        if y.shape != expected:
            raise ChipProtocolError(f"server returned readings of shape {y.shape}, expected {expected}")
        self.counter.record(m, len(x), layer + 1)
        return y

    # ---------- extras ----------
    def acquire(self) -> float:
        """Take the chip's lease now (chip calls take it anyway); returns its time to live in seconds."""
        result, _ = self._call("acquire")
        return float(result["lease_ttl_s"])

    def release(self) -> bool:
        """Give the lease back so another client may drive the chip at once."""
        result, _ = self._call("release")
        return bool(result.get("released"))

    def server_info(self) -> dict[str, Any]:
        """The server's ``info``: chip configuration, fingerprint, limits and whether the chip is leased."""
        result, _ = self._call("info")
        return result

    def server_counter(self) -> dict[str, Any]:
        """The server's own query counts, request statistics and modelled lab time."""
        result, _ = self._call("counter")
        return result

    def run_metrics(self) -> dict[str, Any]:
        """Server-side counts, chip fingerprint and modelled lab time for a run's metrics.json."""
        counts = self.server_counter()
        out: dict[str, Any] = {"server_counter": counts, "client_attempts": self.attempts,
                               "chip_fingerprint": self.fingerprint}
        if counts.get("lab_time_s") is not None:
            out["lab_time_s"] = counts["lab_time_s"]
        return out

    def to_config(self) -> dict[str, Any]:
        return {"url": self.url, "fingerprint": self.fingerprint}

    def close(self) -> None:
        """Release the lease (best effort, briefly) and close the connection."""
        self._finalizer()

    def __enter__(self) -> "RemoteChip":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _layer(self, layer: int) -> int:
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < len(self._infos):
            raise UserInputError(f"layer {layer!r} out of range 0..{len(self._infos) - 1}")
        return int(layer)

    def _call(self, method: str, args: dict[str, Any] | None = None, arrays: dict[str, np.ndarray] | None = None):
        return self._link.call(method, args or {}, arrays, self.timeout_s, self.attempt_timeout_s, self.retries, self.backoff_s)


class _Link:
    """The connection: socket, request ids, the server instance and whether we may hold its lease."""

    def __init__(self, url: str, token: str | None, ipv6: bool):
        self.url, self.token, self.ipv6 = url, token, ipv6
        self.client_id = uuid.uuid4().hex
        self.attempts = 0
        self.server: str | None = None
        self.leased = False
        self._seq = itertools.count()
        self._ctx = zmq.Context()
        self._sock: zmq.Socket | None = None

    def call(self, method: str, args: dict[str, Any], arrays, timeout_s: float, attempt_s: float, retries: int,
             backoff_s: float):
        """Send one request (resending the same id) until a reply or ``timeout_s``; the reply's (result, arrays)."""
        if self._ctx.closed:
            raise ChipConnectionError(f"the connection to chip server {self.url} is closed")
        rid = f"{self.client_id}-{next(self._seq)}"
        frames = encode_request(self.token, {"id": rid, "method": method, "args": args, "instance": self.server}, arrays)
        start = time.monotonic()
        deadline, delay, tries = start + timeout_s, backoff_s, 0
        while tries <= retries and (remaining := deadline - time.monotonic()) > 0:
            if tries:
                time.sleep(min(delay, remaining))
                delay *= 2
                if (remaining := deadline - time.monotonic()) <= 0:
                    break
            tries += 1
            reply = self._attempt(frames, rid, remaining if tries > retries else min(attempt_s, remaining))
            if reply is None:
                continue
            header, out = reply
            if not header.get("ok"):
                err = header.get("error") or {}
                kind, message = err.get("type"), f"chip server {self.url} refused {method}: {err.get('message', 'unknown error')}"
                if kind == "Busy":
                    continue
                if kind == "Restarted":
                    raise ChipStateLost(f"{message}; re-run to resume from the last checkpoint")
                raise _ERRORS.get(kind, ChipRequestError)(message)
            self._check_instance(header)
            self.leased = method != "release" and (self.leased or method in ("acquire", "get_params", "set_params", "query"))
            return header.get("result") or {}, out
        raise ChipConnectionError(
            f"no reply from chip server {self.url} to {method} after {tries} attempts in {time.monotonic() - start:.1f} s "
            f"(timeout {timeout_s:g} s); is the server running? Re-run to resume from the last checkpoint"
        )

    def _socket(self) -> zmq.Socket:
        if self._sock is None:
            sock = self._ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.RECONNECT_IVL, 50)
            sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
            if self.ipv6:
                sock.setsockopt(zmq.IPV6, 1)
            sock.connect(self.url)
            self._sock = sock
        return self._sock

    def _attempt(self, frames: list[bytes], rid: str, wait_s: float):
        """Send once and wait up to ``wait_s`` for the reply to ``rid`` (a late reply to an earlier send counts)."""
        sock = self._socket()
        self.attempts += 1
        try:
            sock.send_multipart(frames, flags=zmq.NOBLOCK)
        except zmq.Again:
            self._sock = None
            sock.close(linger=0)
            time.sleep(min(wait_s, 0.05))
            return None
        deadline = time.monotonic() + wait_s
        while (remaining := deadline - time.monotonic()) > 0:
            if not sock.poll(max(1, int(remaining * 1000)), zmq.POLLIN):
                break
            try:
                header, out = decode(sock.recv_multipart())
            except ChipProtocolError:
                continue
            if header.get("id") == rid or (header.get("id") is None and header.get("ok") is False):
                return header, out  # a refusal before the id was read (authentication, framing) is ours too
        return None

    def _check_instance(self, header: dict[str, Any]) -> None:
        server = header.get("server")
        if self.server is None:
            self.server = server
        elif server != self.server:
            old, self.server = self.server, server
            raise ChipStateLost(
                f"chip server {self.url} restarted (instance {old} -> {server}) and lost the committed "
                "parameters; re-run to resume from the last checkpoint"
            )

    def shutdown(self) -> None:
        """Release the lease if we may hold it (one short try), then close."""
        if self.leased and not self._ctx.closed:
            try:
                self.call("release", {}, None, RELEASE_WAIT_S, RELEASE_WAIT_S, 0, 0.0)
            except Exception:  # best effort: an unreleased lease lapses by itself
                pass
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
        if not self._ctx.closed:
            self._ctx.term()


def _layer_info(d: dict[str, Any]) -> LayerInfo:
    d = dict(d)
    d["out_shape"] = tuple(d["out_shape"])
    if d.get("param_names") is not None:
        d["param_names"] = tuple(d["param_names"])
    return LayerInfo(**d)
