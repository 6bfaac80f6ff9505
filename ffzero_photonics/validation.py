"""Checks shared by constructors and config readers: one-line errors that name the bad value."""

from __future__ import annotations

import operator
import tomllib
from pathlib import Path
from typing import Any

from .errors import UserInputError


def check_int(value: Any, name: str, minimum: int, description: str | None = None) -> int:
    """An integer >= ``minimum`` (bools refused); the error names ``name`` and the value."""
    message = f"{name} must be {description or f'an integer >= {minimum}'}, got {value!r}"
    if isinstance(value, bool):
        raise UserInputError(message)
    try:
        v = operator.index(value)
    except TypeError:
        raise UserInputError(message) from None
    if v < minimum:
        raise UserInputError(message)
    return int(v)


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """A TOML file as a dict; a missing file, an unreadable one or bad syntax is one line naming ``what`` and the path."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"no {what} at {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserInputError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise UserInputError(f"{path}: not a text file (expected TOML)") from None
