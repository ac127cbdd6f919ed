"""Allocation strategies: the shared interface, the baselines and the registry."""

from maxent_portfolio.strategies.base import CASH, Strategy
from maxent_portfolio.strategies.baselines import (
    BuyAndHold,
    EqualWeight,
    HierarchicalRiskParity,
    InverseVolatility,
    MaximumSharpe,
    MinimumVariance,
    Momentum,
    RandomWeights,
    RiskParity,
)
from maxent_portfolio.strategies.online import (
    BCRP,
    OLMAR,
    PAMR,
    ExponentiatedGradient,
    OnlineNewtonStep,
)
from maxent_portfolio.strategies.registry import (
    STRATEGIES,
    available_strategies,
    get_strategy,
    register,
)

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
