"""Progress bars of the long layout loops (placement, routing, wiring, extraction): tqdm on a terminal, silent otherwise."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import TypeVar

from tqdm.auto import tqdm

__all__ = ["progress_bars", "steps"]

T = TypeVar("T")
_ENABLED: ContextVar[bool | None] = ContextVar("ffzero_layout_progress", default=None)
_MIN_ITEMS = 200
"""Loops shorter than this finish in well under a second: no bar."""


@contextlib.contextmanager
def progress_bars(enabled: bool | None) -> Iterator[None]:
    """Within the block, show the layout progress bars (True), hide them (False) or show them on a terminal only (None)."""
    token = _ENABLED.set(enabled)
    try:
        yield
    finally:
        _ENABLED.reset(token)


def steps(items: Iterable[T], desc: str, total: int | None = None) -> Iterable[T]:
    """``items`` wrapped in a bar named ``desc`` when bars are on (see :func:`progress_bars`; env ``FFZERO_PROGRESS=0`` hides them)."""
    enabled = _ENABLED.get()
    if os.environ.get("FFZERO_PROGRESS", "") == "0":
        enabled = False
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if enabled is False or (total is not None and total < _MIN_ITEMS):
        return items
    return tqdm(items, desc=desc, total=total, disable=None if enabled is None else False, leave=False,
                unit="it", mininterval=0.5)
