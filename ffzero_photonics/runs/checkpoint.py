"""Atomic checkpoints: a JSON header and named arrays in one .npz, replaced in one rename.

A model's parameters are stored per layer (``param_<l>``) with a parallel ``param_names_<l>`` array when
the layer names its parameters (a chip's heaters), and are loaded back by name.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserInputError


def save_checkpoint(path: str | Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Write ``path`` atomically: a crash leaves the previous checkpoint intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, __meta__=np.frombuffer(json.dumps(meta, default=_json_default).encode(), dtype=np.uint8), **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Inverse of :func:`save_checkpoint`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(bytes(data["__meta__"]).decode())
        arrays = {k: data[k] for k in data.files if k != "__meta__"}
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


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """json.dump through a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=_json_default))
    os.replace(tmp, path)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot serialize {type(obj).__name__}")
