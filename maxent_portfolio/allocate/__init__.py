"""``allocate``: from a finished backtest to the next period's weights and the orders.

:mod:`~maxent_portfolio.allocate.config` owns the command's options,
:mod:`~maxent_portfolio.allocate.decision` takes the decision as the engine takes it, and
:mod:`~maxent_portfolio.allocate.orders` turns a book into share orders. Only the first is
light; import the others where they are used.
"""
