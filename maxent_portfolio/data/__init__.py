"""Market data: universes, loading, caching and validation.

Start with :func:`load_universe` (returns :class:`MarketData`) and :func:`list_universes`.
"""

from maxent_portfolio.data.loader import list_universes, load_universe
from maxent_portfolio.data.market import MarketData, Provenance, frame_hash
from maxent_portfolio.data.universes import DEFAULT_UNIVERSE, UniverseInfo, UniverseSpec
from maxent_portfolio.data.validate import MAX_GAP, require_history

__all__ = [
    "DEFAULT_UNIVERSE",
    "MAX_GAP",
    "MarketData",
    "Provenance",
    "UniverseInfo",
    "UniverseSpec",
    "frame_hash",
    "list_universes",
    "load_universe",
    "require_history",
]
