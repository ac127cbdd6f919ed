"""Allocation strategies: the shared interface, the baselines and the registry.

Names are imported on first use (``from maxent_portfolio.strategies import get_strategy``
works as usual), so the ``menu`` section of the option tree (:mod:`.menuconfig`) loads no
strategy. A type checker sees them as ``Any`` here: for static types, import each from the
module that defines it (:data:`HOMES`).
"""

from __future__ import annotations

from typing import Any

from maxent_portfolio.lazy import exported, homes

HOMES = {
    **homes("maxent_portfolio.rebalance", ["CASH"]),
    **homes("maxent_portfolio.strategies.base", ["Strategy"]),
    **homes("maxent_portfolio.strategies.baselines",
            ["BuyAndHold", "EqualWeight", "HierarchicalRiskParity", "InverseVolatility",
             "MaximumSharpe", "MinimumVariance", "Momentum", "RandomWeights", "RiskParity"]),
    **homes("maxent_portfolio.strategies.online",
            ["BCRP", "OLMAR", "PAMR", "ExponentiatedGradient", "OnlineNewtonStep"]),
    **homes("maxent_portfolio.strategies.registry",
            ["STRATEGIES", "available_strategies", "get_strategy", "register"]),
}
"""Each public name -> the module that defines it."""


def __getattr__(name: str) -> Any:
    return exported(__name__, HOMES, name)


__all__ = [
    "BCRP",
    "CASH",
    "OLMAR",
    "PAMR",
    "STRATEGIES",
    "BuyAndHold",
    "EqualWeight",
    "ExponentiatedGradient",
    "HierarchicalRiskParity",
    "InverseVolatility",
    "MaximumSharpe",
    "MinimumVariance",
    "Momentum",
    "OnlineNewtonStep",
    "RandomWeights",
    "RiskParity",
    "Strategy",
    "available_strategies",
    "get_strategy",
    "register",
]
