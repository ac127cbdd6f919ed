"""``python -m maxent_portfolio``."""

from maxent_portfolio.cli import run

if __name__ == "__main__":  # not when a worker process of ``--jobs`` imports it
    run()
