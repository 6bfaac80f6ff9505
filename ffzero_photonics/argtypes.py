"""argparse value types shared by every ``ffzero`` subcommand: checked numbers, one-line errors."""

from __future__ import annotations

import argparse
import math
from typing import Callable


def _number(cast: Callable[[str], float], expected: str, lo: float, lo_text: str, hi: float = math.inf):
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not (lo <= value <= hi) or (isinstance(value, float) and not math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"must be {lo_text}, got {text}")
        return value

    return parse


positive_int = _number(int, "an integer", 1, "positive")
non_negative_int = _number(int, "an integer", 0, ">= 0")
port = _number(int, "a port number", 0, "in 0..65535", 65535)
positive_float = _number(float, "a number", math.nextafter(0.0, 1.0), "a positive finite number")
non_negative_float = _number(float, "a number", 0.0, "a non-negative finite number")


def int_list(text: str) -> tuple[int, ...]:
    """Comma-separated positive integers, e.g. ``100,100,100``."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values
