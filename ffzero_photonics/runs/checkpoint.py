"""Durable atomic files and checkpoints: a JSON header and named arrays in one .npz, replaced in one rename.

Every write goes to a unique temporary file in the target's directory, is fsynced, renamed over the
target and the directory fsynced: a kill at any instant leaves the old file or the new one, never a mix.
A model's parameters are stored per layer (``param_<l>``) with a parallel ``param_names_<l>`` array when
the layer names its parameters (a chip's heaters), and are loaded back by name.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserInputError

TMP_SUFFIX = ".tmp"


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``path`` durably and atomically (temporary file, fsync, rename, fsync of the directory)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_text_atomic(path: str | Path, text: str) -> None:
    """:func:`write_bytes_atomic` for UTF-8 text."""
    write_bytes_atomic(path, text.encode())


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """JSON (indented, numpy values as plain numbers) written with :func:`write_bytes_atomic`."""
    write_text_atomic(path, json.dumps(obj, indent=2, default=_json_default))


def remove_temporaries(directory: str | Path) -> list[Path]:
    """Delete the temporary files an interrupted atomic write left in ``directory``; returns them."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    stale = [p for p in directory.iterdir() if p.name.endswith(TMP_SUFFIX) and p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def save_checkpoint(path: str | Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Write ``path`` durably and atomically: a crash leaves the previous checkpoint intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    header = np.frombuffer(json.dumps(meta, default=_json_default).encode(), dtype=np.uint8)
    np.savez(buf, __meta__=header, **arrays)
    write_bytes_atomic(path, buf.getvalue())


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Inverse of :func:`save_checkpoint`; a missing or unreadable file is a UserInputError naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"no checkpoint at {path}")
    if not zipfile.is_zipfile(path):  # np.load would try pickle on it and advise allow_pickle
        raise UserInputError(f"{path} is not a checkpoint (not an .npz archive, or truncated)")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "__meta__" not in data.files:
                raise UserInputError(f"{path} is not an ffzero checkpoint: it has no metadata (__meta__)")
            meta = json.loads(bytes(data["__meta__"]).decode())
            arrays = {k: data[k] for k in data.files if k != "__meta__"}
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as exc:  # damaged archive or member
        if isinstance(exc, UserInputError):
            raise
        raise UserInputError(f"{path} is a damaged checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict):
        raise UserInputError(f"{path} is not an ffzero checkpoint: its metadata is not a JSON object")
    return meta, arrays


def param_arrays(model: Any) -> dict[str, np.ndarray]:
    """Committed parameters of every layer, with their names where the layer has them."""
    arrays: dict[str, np.ndarray] = {}
    for l in range(model.n_layers):
        arrays[f"param_{l}"] = np.asarray(model.get_params(l), dtype=float)
        names = model.layer_info(l).param_names
        if names:
            arrays[f"param_names_{l}"] = np.array(names, dtype=str)
    return arrays


def load_params(model: Any, arrays: dict[str, np.ndarray]) -> None:
    """Commit the parameters :func:`param_arrays` saved; named parameters are matched by name."""
    for l in range(model.n_layers):
        if f"param_{l}" not in arrays:
            raise UserInputError(f"checkpoint holds no parameters for layer {l}; it is not a checkpoint of this model")
        values = arrays[f"param_{l}"]
        saved_names = arrays.get(f"param_names_{l}")
        names = model.layer_info(l).param_names
        if saved_names is not None and names:
            by_name = dict(zip(saved_names.tolist(), values))
            missing = [n for n in names if n not in by_name]
            if missing or len(by_name) != len(names):
                raise UserInputError(f"checkpoint layer {l} names parameters {sorted(by_name)[:3]}..., the model "
                                     f"has {list(names)[:3]}... (missing {missing[:3]})")
            values = np.array([by_name[n] for n in names], dtype=float)
        model.set_params(l, values)


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot serialize {type(obj).__name__}")
