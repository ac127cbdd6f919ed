"""The ``maxent-portfolio`` command line. Thin: parse, call the library, print.

Each command group lives in its own module and registers itself on ``app``
(:mod:`maxent_portfolio.cli.app`); this package imports them all. Every
:class:`~maxent_portfolio.errors.UserError` is printed as one line on stderr with exit code 2;
``--verbose`` shows the traceback instead.
"""

from __future__ import annotations

import copy
import signal
import sys
from collections.abc import Iterator
from typing import Any

import typer

# Each command module registers its commands on `app` when imported.
from maxent_portfolio.cli import allocate, backtest, data, keys, stress, sweep, train
from maxent_portfolio.cli.app import app, err, fit_output_width, state
from maxent_portfolio.errors import Interrupted, Terminated, UserError

COMMAND_MODULES = (allocate, backtest, data, keys, stress, sweep, train)
"""The modules whose import registers the commands (imported for that, not for a name)."""


def _raise_terminated(signum: int, frame: object) -> None:
    state["terminated"] = True  # typer turns the interrupt into exit code 130: remember
    raise Terminated


def _set_verbose(ctx: Any, param: Any, value: bool) -> None:
    if value:
        state["verbose"] = True


def _commands(command: Any) -> Iterator[Any]:
    yield command
    for sub in getattr(command, "commands", {}).values():  # a group's commands
        yield from _commands(sub)


def cli_command() -> Any:
    """The app as a click command, ``-v/--verbose`` accepted after every command too.

    The app's own option (``maxent-portfolio -v backtest``) is the one owner of the flag's
    names and help; each command gets a copy, so ``backtest --verbose`` works as the docs show.
    A switch shows no ``<bool>`` value in ``--help``: it takes none.
    """
    command = typer.main.get_command(app)
    own = next(p for p in command.params if p.name == "verbose")
    root = typer.Context(command, info_name="maxent-portfolio", **command.context_settings)
    for sub in _commands(command):
        if sub is not command and all(p.name != "verbose" for p in sub.params):
            flag = copy.copy(own)
            flag.expose_value = False  # the command's function does not take it
            flag.callback = _set_verbose
            sub.params.append(flag)
        ctx = root if sub is command else typer.Context(sub, parent=root, info_name=sub.name)
        help_flag = sub.get_help_option(ctx)  # -h/--help, inherited from the app's settings
        for param in [*sub.params, *([help_flag] if help_flag is not None else [])]:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
    return command


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    verbose = "--verbose" in (argv or sys.argv[1:]) or "-v" in (argv or sys.argv[1:])
    # SIGTERM unwinds like Ctrl-C, so atomic writes clean up and training can checkpoint.
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    fit_output_width()
    try:
        # Non-standalone click returns (not raises) the exit code of an Abort/Exit, which is
        # how typer reports a Ctrl-C it caught (130).
        code = cli_command().main(args=argv, prog_name="maxent-portfolio",
                                  standalone_mode=False)
        if isinstance(code, int) and code:
            if code == 130 and state.get("terminated"):
                err.print("terminated", markup=False)
                return 143
            if code == 130:
                err.print("interrupted", markup=False)
            return code
    except UserError as exc:
        if verbose:
            raise
        err.print(f"error: {exc}", markup=False)
        return 2
    except Interrupted as exc:
        err.print(f"{'terminated' if exc.terminated else 'interrupted'}: {exc}", markup=False)
        return 143 if exc.terminated else 130
    except KeyboardInterrupt:  # typer usually turns it into exit code 130 (handled above)
        terminated = state["terminated"]
        err.print("terminated" if terminated else "interrupted", markup=False)
        return 143 if terminated else 130
    except SystemExit as exc:  # typer/click exits for --help and usage errors
        return int(exc.code or 0)
    except typer.TyperException as exc:  # usage errors: one line, the reason and where to look
        fmt = getattr(exc, "format_message", None)
        reason = fmt() if callable(fmt) else str(exc)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        err.print(f"error: {' '.join(reason.split())}{hint}", markup=False, soft_wrap=True)
        return int(getattr(exc, "exit_code", 2))
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        err.print("aborted", markup=False)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def run() -> None:
    """Console-script wrapper."""
    sys.exit(main())


__all__ = ["COMMAND_MODULES", "app", "cli_command", "main", "run"]
