"""The progress bar of the long commands (``backtest``, ``sweep``): a rich display implementing
:class:`maxent_portfolio.runner.Progress`."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from maxent_portfolio.cli.app import err


class RichProgress:
    """One progress bar over folds x strategies x training steps, with time remaining."""

    def __init__(self) -> None:
        self.bar = Progress(TextColumn("[bold]{task.description:<44}"), BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"),
                            TimeRemainingColumn(), console=err, transient=False)
        self.task = self.bar.add_task("starting", total=None)

    def __enter__(self) -> RichProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            self.bar.__exit__(kind, *rest)  # type: ignore[arg-type]
            return
        # On an error the bar is erased, so the error stays the one line on stderr; the live
        # display is stopped alone, as Progress.stop would add an empty line off a terminal.
        self.bar.live.transient = True
        self.bar.live.stop()

    def start(self, total: float) -> None:
        self.bar.update(self.task, total=total)

    def advance(self, amount: float, description: str) -> None:
        self.bar.update(self.task, advance=amount, description=description[:44])


__all__ = ["RichProgress"]
