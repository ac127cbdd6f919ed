"""The ``menu`` section of a run: the strategies ``sac-discrete`` and ``menu-blend`` choose from."""

from __future__ import annotations

from pydantic import field_validator

from maxent_portfolio.options import Section, one_of, option, strategy_names

DEFAULT_MENU = ("equal-weight", "min-variance", "inverse-volatility", "momentum", "hrp", "eg")
MENU_HOLDS = ("mixture", "top")
NOT_ON_MENU = ("sac-discrete", "menu-blend")


class MenuConfig(Section):
    """The menu of strategies and how ``sac-discrete`` holds it.

    Names are checked against the registry (plug-ins included) when the strategy is built, since
    plug-ins load after the options are read.
    """

    menu: list[str] = option(
        list(DEFAULT_MENU), "Comma-separated strategies that sac-discrete and menu-blend "
        "choose from (registered names, plug-ins included; at least 2).", min_length=2)
    menu_hold: str = option(
        "mixture", "What sac-discrete holds: mixture (sum_k pi(k|s) w_k, the policy's "
        "probabilities over the menu) or top (the single most probable strategy).")
    menu_refit_every: int = option(
        63, "While precomputing the menu over a training window, refit each menu strategy on "
        "its history every this many periods (walk-forward inside the window).", ge=1,
        file_only=True)

    @field_validator("menu", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return [s.strip() for s in value.split(",")] if isinstance(value, str) else value

    @field_validator("menu")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        names = strategy_names(value, "menu")
        inside = [s for s in names if s in NOT_ON_MENU]
        if inside:
            raise ValueError(f"{inside[0]!r} cannot be on its own menu")
        return names

    @field_validator("menu_hold")
    @classmethod
    def _hold(cls, value: str) -> str:
        return one_of(value, MENU_HOLDS, " or ")


__all__ = ["DEFAULT_MENU", "MENU_HOLDS", "MenuConfig"]
