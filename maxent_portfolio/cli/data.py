"""`universes` and `data` commands (filled in by the market-data work)."""
