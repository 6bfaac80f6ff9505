"""Option types shared by every ``ffzero`` command: checked numbers, int lists, named choices, datasets, presets.

Each type fails with one line naming the bad value; the group in ``main.py`` prefixes the option name.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Sequence

import click

from ..errors import UserInputError


class Number(click.ParamType):
    """An int or float within ``[low, high]`` (finite); ``describe`` is the range in words for the error."""

    def __init__(self, cast: Callable[[str], Any], low: float, describe: str, high: float = math.inf,
                 metavar: str | None = None):
        self.cast, self.low, self.high, self.describe = cast, low, high, describe
        self.name = metavar or ("INTEGER" if cast is int else "NUMBER")

    def convert(self, value: Any, param, ctx):
        try:
            number = self.cast(value)
        except (TypeError, ValueError):
            self.fail(f"expected {'an integer' if self.cast is int else 'a number'}, got {value!r}", param, ctx)
        if not (math.isfinite(number) and self.low <= number <= self.high):
            self.fail(f"must be {self.describe}, got {value}", param, ctx)
        return number


POSITIVE_INT = Number(int, 1, "positive")
NON_NEGATIVE_INT = Number(int, 0, ">= 0")
PORT = Number(int, 0, "in 0..65535", 65535, metavar="PORT")
POSITIVE_FLOAT = Number(float, math.nextafter(0.0, 1.0), "a positive finite number")
NON_NEGATIVE_FLOAT = Number(float, 0.0, "a non-negative finite number")


class IntList(click.ParamType):
    """Comma-separated positive integers, e.g. ``100,100,100`` -> ``(100, 100, 100)``."""

    name = "INT,INT,..."

    def convert(self, value: Any, param, ctx):
        if isinstance(value, (tuple, list)):
            return tuple(value)
        try:
            values = tuple(int(v) for v in str(value).split(",") if v.strip())
        except ValueError:
            self.fail(f"expected comma-separated integers, got {value!r}", param, ctx)
        if not values or any(v < 1 for v in values):
            self.fail(f"expected positive integers, got {value!r}", param, ctx)
        return values


INT_LIST = IntList()


class NamedChoice(click.Choice):
    """A click.Choice whose error reads like the library's: ``unknown optimizer 'x'; choose one of a, b``."""

    def __init__(self, what: str, choices: Sequence[str]):
        super().__init__(tuple(choices))
        self.what = what

    def convert(self, value: Any, param, ctx):
        if value in self.choices:
            return value
        self.fail(f"unknown {self.what} {value!r}; choose one of {', '.join(map(str, self.choices))}", param, ctx)


class DatasetName(click.ParamType):
    """A built-in dataset name, ``idx:DIR``, ``npz:FILE`` or ``FILE.npz`` whose path exists; ``forms`` for messages."""

    name = "DATASET"

    def __init__(self, builtin: Sequence[str], forms: Sequence[str]):
        self.builtin = tuple(builtin)
        self.forms = tuple(forms)

    def get_metavar(self, param, ctx=None) -> str:
        return "[" + "|".join(self.forms) + "]"

    def convert(self, value: Any, param, ctx):
        text = str(value)
        if text.strip().lower() in self.builtin:
            return text
        low = text.lower()
        if low.startswith(("idx:", "npz:")):
            path = text[4:]
        elif low.endswith(".npz"):
            path = text
        else:
            self.fail(f"unknown dataset {text!r}; choose one of {', '.join(self.forms)}", param, ctx)
        if not path.strip() or not Path(path).expanduser().exists():
            self.fail(f"dataset path {path!r} does not exist", param, ctx)
        return text


class Presets(click.ParamType):
    """``EFFECT:LEVEL[+EFFECT:LEVEL...]`` non-ideality presets, checked by ``parse`` (returns its value)."""

    name = "EFFECT:LEVEL[+...]"

    def __init__(self, parse: Callable[[str], Any]):
        self.parse = parse

    def convert(self, value: Any, param, ctx):
        if not isinstance(value, str):
            return value
        try:
            self.parse(value)
        except UserInputError as exc:
            self.fail(str(exc), param, ctx)
        return value


class SuffixPath(click.Path):
    """A file path that must end in ``suffix`` (checked first, so the error names the suffix)."""

    def __init__(self, suffix: str, **kwargs: Any):
        super().__init__(dir_okay=False, **kwargs)
        self.suffix = suffix

    def convert(self, value: Any, param, ctx):
        if Path(str(value)).suffix.lower() != self.suffix:
            self.fail(f"must name a {self.suffix} file, got {str(value)!r}", param, ctx)
        return super().convert(value, param, ctx)


def with_default(help_text: str, default: Any) -> str:
    """Help text ending in click's ``[default: ...]`` for a default that is not the option's own value."""
    return f"{help_text}  [default: {default}]".strip()


class LazyHelpOption(click.Option):
    """An option whose help text is computed when help is shown (its source is too heavy to import up front)."""

    def __init__(self, *args: Any, help_text: Callable[[], str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.help_text = help_text

    def get_help_record(self, ctx):
        self.help = self.help_text()
        return super().get_help_record(ctx)


def existing_file(**kwargs: Any) -> click.Path:
    """A path that must name an existing, readable file."""
    return click.Path(exists=True, dir_okay=False, readable=True, **kwargs)


def existing_dir(**kwargs: Any) -> click.Path:
    """A path that must name an existing directory."""
    return click.Path(exists=True, file_okay=False, **kwargs)
