"""``python -m maxent_portfolio``."""

from maxent_portfolio.cli import run

run()
