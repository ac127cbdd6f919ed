"""`universes`, `data fetch` and `data show`: list, download and inspect market data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import typer
from rich import box
from rich.table import Table

from maxent_portfolio.cli.app import app, err, out, warn_about
from maxent_portfolio.config import OPTIONS

if TYPE_CHECKING:
    from maxent_portfolio.data import MarketData

data_app = typer.Typer(
    help=(
        "Download and inspect a universe's prices.\n\n"
        "UNIVERSE is a name from `maxent-portfolio universes`, a universe YAML, or a wide CSV "
        "(date column first, one column per asset; prices or simple returns, daily, weekly "
        "or monthly).\n\n"
        "Yahoo downloads are cached under $MAXENT_PORTFOLIO_CACHE (default ./data/cache) and "
        "reused while they cover the requested dates."
    ),
    no_args_is_help=True,
)
app.add_typer(data_app, name="data", rich_help_panel="Data")

_START = typer.Option(None, "--start", help="First date, YYYY-MM-DD (inclusive).")
_END = typer.Option(None, "--end", help="Last date, YYYY-MM-DD (inclusive).")
_DATE_FORMAT = typer.Option(None, "--date-format", metavar="<format>",
                            help=OPTIONS["date_format"].help)
_SPIKES = typer.Option("warn", "--spikes", metavar="<policy>", help=OPTIONS["spikes"].help)
_MISSING = typer.Option(
    "common-start", "--missing",
    help="Assets listed late: 'common-start' trims to the first date all have data; "
         "'drop' drops them (with a note).")


@app.command("universes", rich_help_panel="Data")
def universes() -> None:
    """List the built-in universes and the YAMLs in ./data/universes/.

    Embedded universes (sp500-20, factor-etfs) work offline; yfinance ones download once and
    are cached. Add your own by dropping a YAML in ./data/universes/ (see its README).
    """
    from maxent_portfolio.data import list_universes

    table = Table(title="Universes", header_style="bold", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False,
                  collapse_padding=True)
    for col, justify in (("name", "left"), ("source", "left"), ("assets", "right"),
                         ("dates", "left"), ("benchmark", "left")):
        table.add_column(col, justify=justify, no_wrap=col != "source")  # type: ignore[arg-type]
    local = False
    for info in list_universes():
        name = info.name if info.origin == "builtin" else f"{info.name} *"
        local = local or info.origin != "builtin"
        table.add_row(name, info.source, "?" if info.n_assets is None else str(info.n_assets),
                      info.span, info.benchmark or "-")
    out.print(table)
    if local:
        out.print("* defined in ./data/universes/", markup=False)
    out.print("Default: sp500-20. Any wide CSV path works as a universe too.", markup=False)


@data_app.command(
    "fetch", epilog="Example: maxent-portfolio data fetch us-sectors --start 2010-01-01")
def fetch(
    universe: str = typer.Argument(..., help="Universe name, YAML or CSV path."),
    start: str | None = _START,
    end: str | None = _END,
    refresh: bool = typer.Option(False, "--refresh",
                                 help="Download again even if the cache covers the dates."),
    missing: str = _MISSING,
    date_format: str | None = _DATE_FORMAT,
    spikes: str = _SPIKES,
) -> None:
    """Download (or reuse the cached) prices of UNIVERSE and validate them.

    Exits 2 with a one-line message when the download fails and nothing is cached; when
    --refresh fails but an older cache exists, uses it, says so and exits 1.
    """
    from maxent_portfolio.data import load_universe

    market = load_universe(universe, start, end, refresh=refresh, missing=missing,
                           date_format=date_format, spikes=spikes)
    _print_overview(market)
    if refresh and market.provenance.details.get("cache_fallback"):
        err.print("warning: --refresh could not download; the cached prices above are stale",
                  markup=False)
        raise typer.Exit(1)


@data_app.command(
    "show", epilog="Examples: maxent-portfolio data show sp500-20 --start 2015-01-01;  "
                   "maxent-portfolio data show my_prices.csv")
def show(
    universe: str = typer.Argument(..., help="Universe name, YAML or CSV path."),
    start: str | None = _START,
    end: str | None = _END,
    missing: str = _MISSING,
    date_format: str | None = _DATE_FORMAT,
    spikes: str = _SPIKES,
) -> None:
    """Per asset: first and last date, observations, annualised return and volatility, and
    what was done about missing values."""
    from maxent_portfolio.data import load_universe
    from maxent_portfolio.data.summary import asset_summary

    market = load_universe(universe, start, end, missing=missing, date_format=date_format,
                           spikes=spikes)
    summary = asset_summary(market)
    table = Table(title=f"{market.name}: per asset", header_style="bold", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False,
                  collapse_padding=True)
    for col in ("asset", "first", "last", "obs", "filled", "ann.ret", "ann.vol", "missing values"):
        table.add_column(col, justify="left" if col in ("asset", "missing values") else "right",
                         no_wrap=col != "missing values")
    for asset, row in summary.iterrows():
        table.add_row(str(asset), _day(row["first"]), _day(row["last"]),
                      _int(row["observations"]), _int(row["filled"]), _pct(row["ann_return"]),
                      _pct(row["ann_vol"]), str(row["action"]) if pd.notna(row["action"])
                      else "-")
    out.print(table)
    _print_overview(market)


def _day(value: Any) -> str:
    return "-" if value is None or pd.isna(value) else f"{pd.Timestamp(value):%Y-%m-%d}"


def _int(value: Any) -> str:
    return "-" if value is None or pd.isna(value) else str(int(value))


def _pct(value: Any) -> str:
    return "-" if value is None or pd.isna(value) else f"{float(value):.1%}"


def _print_overview(market: MarketData) -> None:
    from maxent_portfolio.data.validate import frequency_name

    p = market.provenance
    out.print(f"{market.name}: {market.n_assets} assets, {len(market.prices)} "
              f"{frequency_name(market.periods_per_year)} prices "
              f"{market.prices.index[0]:%Y-%m-%d}..{market.prices.index[-1]:%Y-%m-%d}, "
              f"benchmark {market.benchmark_name or '-'}", markup=False)
    where = p.details.get("cache") or p.details.get("file") or p.details.get("dataset", "")
    out.print(f"source {p.source} ({where}), as of {p.fetched_at}, "
              f"sha256 {p.content_hash[:16]}", markup=False)
    for note in market.notes:
        out.print(f"note: {note}", markup=False)
    warn_about(market.warnings)
