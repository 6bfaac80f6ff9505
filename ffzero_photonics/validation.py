"""Checks shared by constructors and config readers: one-line errors that name the bad value."""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Any


def check_int(value: Any, name: str, minimum: int, description: str | None = None) -> int:
    """An integer >= ``minimum`` (bools refused); the error names ``name`` and the value."""
    message = f"{name} must be {description or f'an integer >= {minimum}'}, got {value!r}"
    if isinstance(value, bool):
        raise ValueError(message)
    try:
        v = operator.index(value)
    except TypeError:
        raise ValueError(message) from None
    if v < minimum:
        raise ValueError(message)
    return int(v)


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """A TOML file as a dict; a missing file or bad syntax is a one-line error naming ``what`` and the path."""
    import tomllib

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
