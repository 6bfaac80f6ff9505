"""The ``ffzero`` group and the one error policy that turns exceptions into exit codes.

Bad input (UserInputError, click usage errors) -> one line, exit 2; failures outside the program
(ExternalFailure) -> one line, exit 3; Ctrl-C -> the resume hint, exit 130; anything else is a bug:
its traceback, exit 1.
"""

from __future__ import annotations

import errno
import sys
import traceback
from typing import Sequence

import click

from .. import __version__
from ..errors import EXIT_BUG, EXIT_EXTERNAL, EXIT_USAGE, ExternalFailure, UserInputError
from .chip import chip
from .drc import drc
from .evaluate import evaluate
from .export_gds import export_gds
from .fab import fab
from .listing import list_command
from .signoff import signoff
from .study import study
from .sweep import sweep
from .train import train
from .verify import verify

EXIT_INTERRUPTED = 130
OUT_OF_SPACE = (errno.ENOSPC, errno.EDQUOT)  # OSErrors that are the machine's, not the program's
RESUME_HINT = "interrupted; re-run the same command to resume from the last checkpoint"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
             epilog='Shell completion (bash; zsh/fish likewise): eval "$(_FFZERO_COMPLETE=bash_source ffzero)"')
@click.version_option(__version__, "--version", prog_name="ffzero", message="%(prog)s %(version)s")
def cli() -> None:
    """Design and train photonic neural networks without backpropagation."""


for command in (train, evaluate, export_gds, verify, signoff, fab, drc, study, chip, sweep, list_command):
    cli.add_command(command)


def _usage_line(exc: click.ClickException) -> str:
    """One line for a click error, naming the option: ``--epochs: must be positive, got 0``."""
    param = getattr(exc, "param", None)
    if isinstance(exc, click.BadParameter) and not isinstance(exc, click.MissingParameter) and param is not None:
        name = param.opts[0] if isinstance(param, click.Option) else param.human_readable_name
        return f"{name}: {exc.message}"
    return exc.format_message()


def _fail(message: str, code: int) -> int:
    click.echo(f"ffzero: error: {' '.join(message.split())}", err=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ffzero`` with ``argv`` (default ``sys.argv[1:]``) and return its exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        code = cli.main(args, prog_name="ffzero", standalone_mode=False)
    except click.exceptions.Abort as exc:  # click wraps KeyboardInterrupt and EOFError in Abort
        if exc.__cause__ is not None and not isinstance(exc.__cause__, KeyboardInterrupt):
            return _bug(exc.__cause__)
        return _fail(RESUME_HINT, EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        return _fail(RESUME_HINT, EXIT_INTERRUPTED)
    except click.exceptions.NoArgsIsHelpError as exc:  # a group called bare: its help, as a usage error
        click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message(), err=True)
        return EXIT_USAGE
    except click.ClickException as exc:
        return _fail(_usage_line(exc), EXIT_USAGE)
    except UserInputError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except ExternalFailure as exc:
        return _fail(str(exc), EXIT_EXTERNAL)
    except OSError as exc:
        if exc.errno in OUT_OF_SPACE:
            return _fail(str(exc), EXIT_EXTERNAL)
        return _bug(exc)
    except Exception as exc:
        return _bug(exc)
    return 0 if code is None else int(code)


def _bug(exc: BaseException) -> int:
    traceback.print_exception(exc)
    click.echo("ffzero: internal error (a bug, not your input): please report the traceback above", err=True)
    return EXIT_BUG
