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


class Interrupted(Exception):
    """Ctrl-C or SIGTERM, after whatever could be saved was saved; the CLI exits with 130."""
