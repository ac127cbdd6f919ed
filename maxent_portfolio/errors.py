"""Errors a user can fix. The CLI prints these as one line on stderr and exits with 2."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input (data, config, plug-in), not a bug in maxent-portfolio."""


class DataError(UserError):
    """Market data that is missing, malformed or too short."""


class ConfigError(UserError):
    """An invalid option or configuration value."""


class StrategyError(UserError):
    """A strategy that failed or returned invalid weights."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be so the same cleanup runs; the
    CLI exits with 143 (128 + SIGTERM), the shell convention, instead of Ctrl-C's 130."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM, after whatever could be saved was saved; the CLI exits with 130
    (143 for SIGTERM)."""

    def __init__(self, message: str, terminated: bool = False) -> None:
        super().__init__(message)
        self.terminated = terminated
