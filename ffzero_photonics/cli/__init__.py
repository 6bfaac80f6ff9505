"""The ``ffzero`` command line on click: one module per command; ``main.py`` holds the group and the error policy."""

from .main import cli, main

__all__ = ["cli", "main"]
