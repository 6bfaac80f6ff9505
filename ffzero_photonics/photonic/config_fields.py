"""Field checks and the dict round trip shared by every configuration section (chip, non-ideal effects, instrument).

A section is a frozen dataclass with a ``TABLE`` name (its place in a CHIP.toml,
e.g. ``"nonideal.drive"``); every error is one UserInputError line naming
``[TABLE] key`` and the bad value.
"""

from __future__ import annotations

import math
from dataclasses import asdict, fields
from typing import Any, Mapping

import numpy as np

from ..errors import UserInputError

__all__ = ["Section", "check_bits", "check_choice", "check_int", "check_optional_real", "check_real", "coerce_sections"]


def _fail(table: str, name: str, what: str, value: Any) -> UserInputError:
    return UserInputError(f"[{table}] {name} must be {what}, got {value!r}")


def check_real(table: str, name: str, value: Any, *, lo: float | None = None, hi: float | None = None,
               lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite real number (bools refused) within the given bounds, as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise _fail(table, name, "a real number", value)
    value = float(value)
    if not math.isfinite(value):
        raise _fail(table, name, "finite", value)
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise _fail(table, name, f"{'>' if lo_open else '>='} {lo}", value)
    if hi is not None and (value >= hi if hi_open else value > hi):
        raise _fail(table, name, f"{'<' if hi_open else '<='} {hi}", value)
    return value


def check_optional_real(table: str, name: str, value: Any, **bounds: Any) -> float | None:
    return None if value is None else check_real(table, name, value, **bounds)


def check_int(table: str, name: str, value: Any, minimum: int) -> int:
    """An integer >= ``minimum`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise _fail(table, name, f"an integer >= {minimum}", value)
    return int(value)


def check_bits(table: str, name: str, value: Any) -> int | None:
    """None (no quantization) or a number of bits in 1..32."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= 32:
        raise _fail(table, name, "an integer number of bits in 1..32 (or absent)", value)
    return int(value)


def check_choice(table: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise _fail(table, name, f"one of {', '.join(choices)}", value)
    return value


class Section:
    """Dict round trip with unknown-key errors; subclasses are frozen dataclasses with a ``TABLE`` name."""

    TABLE = ""

    def to_dict(self, *, compact: bool = False) -> dict[str, Any]:
        """Plain dict of every field; ``compact`` keeps only values that differ from the defaults."""
        d = asdict(self)
        if compact:
            default = asdict(type(self)())
            d = {k: v for k, v in d.items() if v != default[k]}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None):
        if d is None:
            return cls()
        if not isinstance(d, Mapping):
            raise UserInputError(f"[{cls.TABLE}] must be a table of keys, got {d!r}")
        names = [f.name for f in fields(cls)]
        for key in d:
            if key not in names:
                raise UserInputError(f"[{cls.TABLE}] unknown key {key!r}; allowed: {', '.join(names)}")
        return cls(**d)

    @property
    def enabled(self) -> bool:
        return self != type(self)()


def coerce_sections(obj: Any, sections: Mapping[str, type], *, table: str = "", none_is_default: bool = True) -> None:
    """Turn each field of a frozen config named in ``sections`` from a table into its section class, in place.

    ``None`` gives the section's defaults when ``none_is_default``; any other type is refused in one line
    naming ``[table] field`` (or ``[field]`` when the fields are tables themselves).
    """
    for name, cls in sections.items():
        value = getattr(obj, name)
        if isinstance(value, Mapping) or (value is None and none_is_default):
            object.__setattr__(obj, name, cls.from_dict(value))
        elif not isinstance(value, cls):
            where = f"[{table}] {name}" if table else f"[{name}]"
            raise UserInputError(f"{where} must be a {cls.__name__} or a table, got {value!r}")
