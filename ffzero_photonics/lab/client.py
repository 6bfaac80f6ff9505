"""A chip served by :class:`~ffzero_photonics.lab.server.ChipServer`, as a local ``LayeredBlackBox``.

Every request carries a unique id; on timeout the client recreates its
DEALER socket (dropping anything still queued) and resends the *same* id, so
the server applies it at most once. A reply from a different server instance
means the server restarted and lost the committed parameters: the client
raises :class:`ChipStateLost` so the run stops and resumes from its checkpoint.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from typing import Any, Mapping

import numpy as np
import zmq

from ..blackbox import LayerInfo, QueryCounter, check_inputs, check_settings
from .instrument import UnsafeDriveError
from .server import ChipProtocolError, decode, encode

TOKEN_ENV = "FFZERO_CHIP_TOKEN"


class ChipConnectionError(ConnectionError):
    """The chip server did not answer within the retry budget."""


class ChipStateLost(ChipConnectionError):
    """The chip server restarted mid-run; its committed parameters are gone."""


class ChipAuthError(PermissionError):
    """The chip server refused the token."""


class ChipRequestError(ValueError):
    """The chip server refused a request (malformed, too large, out of range)."""


class ChipServerError(RuntimeError):
    """The chip or instrument behind the server failed while handling a request."""


_ERRORS = {
    "UnsafeDriveError": UnsafeDriveError,
    "AuthError": ChipAuthError,
    "ServerError": ChipServerError,
}


class RemoteChip:
    """``LayeredBlackBox`` proxy for a chip server at ``url`` (e.g. ``tcp://127.0.0.1:5555``).

    ``timeout_s`` per attempt, ``retries`` further attempts with exponential
    backoff from ``backoff_s``. ``token`` defaults to ``$FFZERO_CHIP_TOKEN``.
    ``split_settings=True`` sends one request per candidate setting (slow;
    for benchmarks). ``counter`` counts queries answered to this client.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        retries: int = 5,
        backoff_s: float = 0.05,
        split_settings: bool = False,
    ):
        if not isinstance(url, str) or not url.startswith("tcp://"):
            raise ValueError(f"chip url must look like tcp://HOST:PORT, got {url!r}")
        if not (timeout_s > 0 and retries >= 0 and backoff_s >= 0):
            raise ValueError(f"need timeout_s > 0, retries >= 0, backoff_s >= 0; got {timeout_s}, {retries}, {backoff_s}")
        self.url = url
        self.token = token if token is not None else os.environ.get(TOKEN_ENV)
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)
        self.split_settings = bool(split_settings)
        self.counter = QueryCounter()
        self.attempts = 0  # requests put on the wire, retries included
        self._client_id = uuid.uuid4().hex[:12]
        self._seq = itertools.count()
        self._ctx = zmq.Context()
        self._sock: zmq.Socket | None = None
        self._server: str | None = None
        info, _ = self._call("info")
        self._infos = [_layer_info(d) for d in info["layers"]]
        self._n_inputs = int(info["n_inputs"])
        self.server_config = info.get("config")

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
    def server_counter(self) -> dict[str, Any]:
        """The server's own query counts, request statistics and modelled lab time."""
        result, _ = self._call("counter")
        return result

    def run_metrics(self) -> dict[str, Any]:
        """Server-side counts and modelled lab time for a run's metrics.json."""
        counts = self.server_counter()
        out: dict[str, Any] = {"server_counter": counts, "client_attempts": self.attempts}
        if counts.get("lab_time_s") is not None:
            out["lab_time_s"] = counts["lab_time_s"]
        return out

    def to_config(self) -> dict[str, Any]:
        return {"url": self.url}

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
        if not self._ctx.closed:
            self._ctx.term()

    def __enter__(self) -> "RemoteChip":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # ---------- transport ----------
    def _layer(self, layer: int) -> int:
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < len(self._infos):
            raise ValueError(f"layer {layer!r} out of range 0..{len(self._infos) - 1}")
        return int(layer)

    def _socket(self) -> zmq.Socket:
        if self._sock is None:
            sock = self._ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.RECONNECT_IVL, 50)
            sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
            if "[" in self.url:
                sock.setsockopt(zmq.IPV6, 1)
            sock.connect(self.url)
            self._sock = sock
        return self._sock

    def _reset_socket(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None

    def _call(self, method: str, args: dict[str, Any] | None = None, arrays: dict[str, np.ndarray] | None = None):
        """Send one request (retrying with the same id) and return the reply's (result, arrays)."""
        rid = f"{self._client_id}-{next(self._seq)}"
        frames = encode({"id": rid, "method": method, "token": self.token, "args": args or {}}, arrays)
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(delay)
                delay *= 2
            reply = self._attempt(frames, rid)
            if reply is None:
                self._reset_socket()
                continue
            header, out = reply
            self._check_instance(header)
            if not header.get("ok"):
                err = header.get("error") or {}
                cls = _ERRORS.get(err.get("type"), ChipRequestError)
                raise cls(f"chip server {self.url} refused {method}: {err.get('message', 'unknown error')}")
            return header.get("result") or {}, out
        raise ChipConnectionError(
            f"no reply from chip server {self.url} to {method} (request {rid}) after {self.retries + 1} attempts "
            f"of {self.timeout_s:g} s; is the server running? Re-run to resume from the last checkpoint"
        )

    def _attempt(self, frames: list[bytes], rid: str):
        sock = self._socket()
        self.attempts += 1
        try:
            sock.send_multipart(frames, flags=zmq.NOBLOCK)
        except zmq.Again:
            return None
        deadline = time.monotonic() + self.timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            if not sock.poll(max(1, int(remaining * 1000)), zmq.POLLIN):
                break
            try:
                header, out = decode(sock.recv_multipart())
            except ChipProtocolError:
                continue
            if header.get("id") == rid:
                return header, out
        return None

    def _check_instance(self, header: dict[str, Any]) -> None:
        server = header.get("server")
        if self._server is None:
            self._server = server
        elif server != self._server:
            old, self._server = self._server, server
            raise ChipStateLost(
                f"chip server {self.url} restarted (instance {old} -> {server}) and lost the committed "
                "parameters; re-run to resume from the last checkpoint"
            )


def _layer_info(d: dict[str, Any]) -> LayerInfo:
    d = dict(d)
    d["out_shape"] = tuple(d["out_shape"])
    if d.get("param_names") is not None:
        d["param_names"] = tuple(d["param_names"])
    return LayerInfo(**d)
