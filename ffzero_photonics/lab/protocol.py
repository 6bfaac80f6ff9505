"""The chip server's wire protocol: frames, bounded decoding, limits, request ids, URLs, chip fingerprints.

A request is one ZeroMQ multipart message (the client's DEALER talks to the
server's ROUTER):

- frame 0, authentication: ``MAGIC`` followed by the UTF-8 token (empty when
  none). The server checks it with ``hmac.compare_digest`` before it parses
  anything else, so an unauthenticated body is never decoded.
- frame 1, header: UTF-8 JSON ``{"v": 2, "id": "<client>-<seq>", "method": str,
  "instance": str | null, "args": {...}, "arrays": [{"name", "dtype", "shape"}, ...]}``.
- frames 2..k: the raw C-order bytes of the arrays listed in ``"arrays"``.

A reply has no authentication frame: header ``{"v": 2, "id", "server", "ok",
"result" | "error": {"type", "message"}, "arrays"}`` then the array frames.
JSON is parsed with bounds on size, nesting depth and integer size; array
shapes are checked against their frame's length before any array exists.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, fields
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import UserInputError

PROTOCOL_VERSION = 2
MAGIC = b"FFZ2"
MAX_TOKEN_BYTES = 256
DTYPES = ("<f8", "<f4", "<i8", "<i4")
METHODS = ("info", "counter", "acquire", "release", "get_params", "set_params", "query")
MAX_SAFE_INT = 2**53
MAX_DIM = 2**31
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
URL_FORM = "tcp://HOST:PORT (e.g. tcp://127.0.0.1:5555 or tcp://[::1]:5555)"

_REQUEST_ID = re.compile(r"([A-Za-z0-9_.:]{1,64})-([0-9]{1,15})")
_URL = re.compile(r"tcp://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?):([0-9]{1,5})")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


class ChipProtocolError(ValueError):
    """A message that does not follow the wire format (from a hostile or buggy peer)."""


@dataclass(frozen=True)
class Limits:
    """What one request may cost the server; anything beyond is refused before any work.

    ``max_work`` bounds settings x samples of one query, ``max_reply_bytes`` the
    reply it would produce, ``max_request_s`` the time one request may hold the chip.
    """

    max_request_bytes: int = 64 * 2**20
    max_header_bytes: int = 16 * 1024
    max_json_depth: int = 8
    max_arrays: int = 16
    max_work: int = 2**18
    max_reply_bytes: int = 32 * 2**20
    max_request_s: float = 60.0

    def __post_init__(self) -> None:
        minimum = {"max_request_bytes": 1024, "max_header_bytes": 256, "max_json_depth": 4, "max_arrays": 1,
                   "max_work": 1, "max_reply_bytes": 1024}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "max_request_s":
                ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf")
                need = "a positive number of seconds"
            else:
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum[f.name]
                need = f"an integer >= {minimum[f.name]}"
            if not ok:
                raise UserInputError(f"chip server limit {f.name} must be {need}, got {value!r}")


REPLY_LIMITS = Limits(max_header_bytes=4 * 2**20, max_json_depth=64, max_arrays=16)


# ---------- bounded JSON ----------
def _parse_int(text: str) -> int:
    if len(text) > 17 or abs(value := int(text)) > MAX_SAFE_INT:
        raise ChipProtocolError(f"integer {text[:24]}{'...' if len(text) > 24 else ''} exceeds 2**53")
    return value


def _parse_float(text: str) -> float:
    if len(text) > 64:
        raise ChipProtocolError(f"number literal of {len(text)} characters is too long")
    value = float(text)
    if not np.isfinite(value):
        raise ChipProtocolError(f"number {text} is out of range")
    return value


def _reject_constant(name: str) -> Any:
    raise ChipProtocolError(f"{name} is not allowed in a message")


def json_depth(text: str) -> int:
    """Deepest nesting of arrays/objects in JSON ``text`` (strings skipped), without parsing it."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub('""', text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def parse_json(data: bytes, max_bytes: int, max_depth: int) -> Any:
    """JSON of at most ``max_bytes`` and ``max_depth`` levels; integers within 2**53; no NaN/Infinity."""
    if len(data) > max_bytes:
        raise ChipProtocolError(f"header of {len(data)} bytes exceeds {max_bytes}")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise ChipProtocolError("header is not UTF-8") from None
    if (depth := json_depth(text)) > max_depth:
        raise ChipProtocolError(f"header nests {depth} levels deep; at most {max_depth} allowed")
    try:
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ChipProtocolError(f"header is not JSON: {exc}") from None


def json_default(obj: Any) -> Any:
    if isinstance(obj, (np.ndarray, np.generic)):
        return obj.tolist()
    if isinstance(obj, (tuple, set)):
        return list(obj)
    raise TypeError(f"cannot put a {type(obj).__name__} in a message header")


# ---------- frames ----------
def encode(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None) -> list[bytes]:
    """Header JSON frame followed by one raw frame per array (a reply, or a request's body)."""
    header = dict(header)
    frames: list[bytes] = []
    specs = []
    for name, arr in (arrays or {}).items():
        arr = np.asarray(arr)
        if not arr.flags.c_contiguous:
            arr = arr.copy(order="C")
        if arr.dtype.str not in DTYPES:
            arr = arr.astype("<f8")
        specs.append({"name": name, "dtype": arr.dtype.str, "shape": list(arr.shape)})
        frames.append(arr.tobytes())
    header["v"] = PROTOCOL_VERSION
    header["arrays"] = specs
    return [json.dumps(header, default=json_default).encode()] + frames


def auth_frame(token: str | None) -> bytes:
    """Frame 0 of every request: the magic bytes and the token."""
    raw = (token or "").encode()
    if len(raw) > MAX_TOKEN_BYTES:
        raise UserInputError(f"chip token of {len(raw)} bytes is longer than {MAX_TOKEN_BYTES}")
    return MAGIC + raw


def encode_request(token: str | None, header: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None) -> list[bytes]:
    return [auth_frame(token), *encode(header, arrays)]


def authenticated(frame: bytes, token: str | None) -> bool:
    """Whether frame 0 carries the magic bytes and (when the server has one) the right token, in constant time."""
    if len(frame) > len(MAGIC) + MAX_TOKEN_BYTES or not frame.startswith(MAGIC):
        return False
    if token is None:
        return True
    return hmac.compare_digest(bytes(frame[len(MAGIC):]), token.encode())


def decode(frames: Sequence[bytes], limits: Limits = REPLY_LIMITS) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Header and arrays of a message body; raises :class:`ChipProtocolError` naming what is wrong."""
    if not frames:
        raise ChipProtocolError("empty message")
    if len(frames) - 1 > limits.max_arrays:
        raise ChipProtocolError(f"message carries {len(frames) - 1} data frames; at most {limits.max_arrays} allowed")
    header = parse_json(frames[0], limits.max_header_bytes, limits.max_json_depth)
    if not isinstance(header, dict):
        raise ChipProtocolError(f"header must be a JSON object, got {type(header).__name__}")
    specs = header.get("arrays", [])
    if not isinstance(specs, list) or len(specs) != len(frames) - 1:
        raise ChipProtocolError(f"header lists {len(specs) if isinstance(specs, list) else repr(specs)[:40]} arrays "
                                f"but the message carries {len(frames) - 1} data frames")
    arrays: dict[str, np.ndarray] = {}
    for spec, frame in zip(specs, frames[1:]):
        name, dtype, shape = _array_spec(spec)
        count = 1
        for s in shape:
            count *= s
        if count * np.dtype(dtype).itemsize != len(frame):
            raise ChipProtocolError(f"array {name!r}: shape {shape} {dtype} does not match its frame of {len(frame)} bytes")
        if name in arrays:
            raise ChipProtocolError(f"array {name!r} sent twice")
        arrays[name] = np.frombuffer(frame, dtype=dtype).reshape(shape)
    return header, arrays


def _array_spec(spec: Any) -> tuple[str, str, list[int]]:
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not 0 < len(spec["name"]) <= 64:
        raise ChipProtocolError(f"bad array description {str(spec)[:80]}")
    name, dtype, shape = spec["name"], spec.get("dtype"), spec.get("shape")
    if dtype not in DTYPES:
        raise ChipProtocolError(f"array {name!r}: dtype {str(dtype)[:20]!r} not allowed; use one of {', '.join(DTYPES)}")
    if (not isinstance(shape, list) or len(shape) > 4
            or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_DIM for s in shape)):
        raise ChipProtocolError(f"array {name!r}: bad shape {str(shape)[:80]} (at most 4 dimensions of 0..2**31)")
    return name, dtype, shape


def parse_request_id(rid: Any) -> tuple[str, int]:
    """``"<client>-<seq>"`` -> (client, seq); the client part names the caller for leases and replay."""
    match = _REQUEST_ID.fullmatch(rid) if isinstance(rid, str) else None
    if match is None:
        raise ChipProtocolError(f"request id must look like CLIENT-SEQ (CLIENT: 1-64 of A-Z a-z 0-9 _ . :), got {str(rid)[:80]!r}")
    return match.group(1), int(match.group(2))


# ---------- addresses ----------
def parse_url(url: Any) -> tuple[str, int]:
    """(host, port) of a ``tcp://HOST:PORT`` URL; UserInputError naming the URL otherwise."""
    match = _URL.fullmatch(url) if isinstance(url, str) else None
    if match is None or not 1 <= int(match.group(2)) <= 65535:
        raise UserInputError(f"chip url {url!r} is not of the form {URL_FORM}")
    return match.group(1).strip("[]"), int(match.group(2))


def is_local_host(host: str) -> bool:
    return host.strip("[]") in LOCAL_HOSTS


def tcp_url(host: str, port: int) -> str:
    host = host.strip("[]")
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


# ---------- identity ----------
def fingerprint(config: Any, layers: list[dict[str, Any]]) -> str:
    """sha256 of the canonical JSON of a chip's configuration and layer descriptions."""
    canonical = json.dumps({"config": config, "layers": layers}, sort_keys=True, separators=(",", ":"),
                           default=json_default)
    return hashlib.sha256(canonical.encode()).hexdigest()
