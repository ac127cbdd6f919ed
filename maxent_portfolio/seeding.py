"""Every random seed of a run, derived from the one ``--seed`` in one place.

Seeds come from :class:`numpy.random.SeedSequence`, so streams never overlap by accident:
``seed + i`` schemes give agents ``s`` and ``s + 1`` shared folds and episode streams.
``provenance.json`` lists every seed derived here (:func:`seed_table`).
"""

from __future__ import annotations

import numpy as np


def _draw(entropy: list[int], n: int = 1) -> list[int]:
    return [int(x >> 1) for x in np.random.SeedSequence(entropy).generate_state(n)]  # 31 bits


def strategy_seeds(seed: int, n: int) -> list[int]:
    """Seeds of the ``n`` agents of a seeded strategy: ``seed, seed + 1, ...``.

    Consecutive integers keep ``train --seed s`` and a backtest's ``sac-seed<s>`` row the same
    agent; the streams each one draws from are decorrelated by :func:`fold_seed` and
    :func:`env_seeds`.
    """
    return [seed + i for i in range(n)]


def fold_seed(seed: int, fold: int) -> int:
    """The training seed of walk-forward fold ``fold`` for an agent seeded ``seed``.

    Fold 0 uses ``seed`` itself (so ``train --seed s`` is a backtest's first fold); later folds
    draw from ``SeedSequence([seed, fold])``.
    """
    return seed if fold == 0 else _draw([seed, fold])[0]


def evidence_seed(seed: int) -> int:
    """Training seed of the agent whose replay is the first fold's evidence (``--shrinkage
    evidence``), trained on the first half of that fold's window."""
    return _draw([seed, 2**31 - 3])[0]


def env_seeds(seed: int, n: int) -> list[int]:
    """Seeds of the ``n`` sub-environments of a batched env trained with ``seed``."""
    return _draw([seed], n)


def evaluation_seed(seed: int) -> int:
    """Seed of the validation env's resets (it starts at a fixed date; the seed is recorded)."""
    return _draw([seed, 2**31 - 1])[0]


def placebo_seed(seed: int) -> int:
    """Seed of the run's permutation placebos (``--placebos``), drawn from the run's ``seed``.

    One stream for the whole run: every learned strategy is shuffled by the same
    permutations, so their placebo percentiles are comparable draw for draw.
    """
    return _draw([seed, 2**31 - 2])[0]


def seed_table(seed: int, n_agents: int, n_folds: int, num_envs: int) -> dict[str, object]:
    """Every seed a run with these sizes derives, for ``provenance.json``."""
    agents = {}
    for agent in strategy_seeds(seed, n_agents):
        folds = [fold_seed(agent, f) for f in range(n_folds)]
        agents[str(agent)] = {"folds": folds,
                              "episodes": [env_seeds(s, num_envs) for s in folds],
                              "evaluation": [evaluation_seed(s) for s in folds]}
    return {"seed": seed, "agents": agents, "placebo": placebo_seed(seed)}


__all__ = ["env_seeds", "evaluation_seed", "fold_seed", "placebo_seed", "seed_table",
           "strategy_seeds"]
