"""The project's error classes, which set how the CLI reports a failure and its exit code.

- :class:`UserInputError` (exit 2, one line): bad input the user can fix (an unknown key, a
  negative power, a missing file). Validation raises it; it is a ``ValueError`` so callers of the
  Python API can catch it as one.
- :class:`ExternalFailure` (exit 3, one line): something outside the program failed at run time
  (the chip server is gone, the scheduler is unreachable, the disk is full).
- Anything else is a bug: the CLI shows its traceback and exits 1.
"""

from __future__ import annotations

EXIT_BUG = 1
EXIT_USAGE = 2
EXIT_EXTERNAL = 3


class UserInputError(ValueError):
    """Bad input, reported as one line naming the bad value (exit code 2)."""


class ExternalFailure(RuntimeError):
    """A failure outside the program at run time, reported as one line (exit code 3)."""
