"""Checkpoint I/O of the SAC agent: the file format, its version, and the global RNG state.

A checkpoint is one ``torch.save`` dict, written atomically (:mod:`maxent_portfolio.files`) and
read with ``torch.load(weights_only=True)``: plain data and tensors only, never pickled code.
An inference file (:meth:`maxent_portfolio.agents.Agent.save`) holds ``version``, ``config``,
``dims``, ``model`` and ``step``; a training checkpoint (:func:`maxent_portfolio.agents.train`)
adds the optimiser, replay buffer, RNG and env states and the loop's counters, everything a
bit-exact resume needs.
"""

from __future__ import annotations

import os
import random
from typing import Any, cast

import numpy as np
import torch

from maxent_portfolio.agents.config import SACConfig
from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.files import atomic_path

CHECKPOINT_VERSION = 1
"""Format version; a file with another one is refused."""

RUN_ONLY = frozenset({"total_steps", "train_steps", "eval_every", "checkpoint_every",
                      "log_every", "num_threads", "device", "compile"})
"""Config fields a resumed run may change (how long and how it is watched, not what it learns)."""


def config_dict(config: SACConfig) -> dict[str, Any]:
    """``config`` as plain data (``hidden`` as a list), as stored in a checkpoint."""
    return config.to_dict()


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """``torch.save`` the ``state`` dict (``version`` added) atomically: whole file or none."""
    with atomic_path(path) as tmp:
        torch.save({"version": CHECKPOINT_VERSION, **state}, tmp)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``torch.load(weights_only=True)``; any failure is a one-line :class:`DataError`."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"checkpoint not found: {path}") from None
    except Exception as exc:  # truncated zip, wrong format, unpickling refusal, ...
        raise DataError(f"corrupt checkpoint {path}: cannot be read "
                        f"({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise DataError(f"corrupt checkpoint {path}: not a maxent-portfolio SAC checkpoint")
    bad = non_finite(state.get("model"))
    if bad is not None:  # an agent that acts on NaN weights would only fail later, obscurely
        raise DataError(f"corrupt checkpoint {path}: its weights hold NaN or infinite values "
                        f"({bad}); delete it, or train again without --resume")
    return state


def non_finite(tree: Any, where: str = "") -> str | None:
    """The name of the first floating tensor of ``tree`` (nested dicts) holding NaN or
    infinite values, or None."""
    if isinstance(tree, torch.Tensor):
        return where if tree.is_floating_point() and not bool(torch.isfinite(tree).all()) \
            else None
    if isinstance(tree, dict):
        for key, value in tree.items():
            found = non_finite(value, f"{where}.{key}" if where else str(key))
            if found is not None:
                return found
    return None


def corruption(exc: BaseException) -> str:
    """What is wrong with a checkpoint, in a few words: the missing entry of a ``KeyError``,
    else the error's type and the first line of its message."""
    if isinstance(exc, KeyError) and exc.args:
        return f"no {exc.args[0]!r} entry (a file of another version, or edited)"
    lines = str(exc).strip().splitlines()
    detail = " ".join(line.strip() for line in lines[:2])
    return f"{type(exc).__name__}: {detail[:200]}" if detail else type(exc).__name__


def _describe_data(data: dict[str, Any]) -> str:
    return (f"{len(data.get('assets', []))} assets {data.get('first')}..{data.get('last')} "
            f"(data hash {str(data.get('hash', ''))[:12]})")


def check_resumable(state: dict[str, Any], config: SACConfig, path: str | os.PathLike[str],
                    dims: list[int] | None = None, data: dict[str, Any] | None = None) -> None:
    """Refuse to resume a run that would not continue the same training.

    :class:`ConfigError` names what differs: the data (its window, assets and content hash:
    an agent resumed on other data could have seen beyond the window it claims), the
    dimensions, the settings (:data:`RUN_ONLY` fields aside), or a budget already exceeded.
    """
    saved_data = state.get("data")
    if data is not None and saved_data is not None and saved_data != data:
        what = [k for k in ("first", "last", "assets", "hash") if saved_data.get(k) != data.get(k)]
        raise ConfigError(f"cannot resume from {path}: it was trained on "
                          f"{_describe_data(saved_data)}, this run has {_describe_data(data)} "
                          f"({', '.join(what)} differ)")
    if dims is not None and list(state.get("dims", dims)) != list(dims):
        n_saved, n_now = int(state["dims"][0]), int(dims[0])
        raise ConfigError(f"cannot resume from {path}: it was trained on {n_saved} assets "
                          f"({state['dims'][1]} features each), this run has {n_now} "
                          f"({dims[1]})")
    done = int(state.get("step", 0))
    if done > config.total_steps:
        per = config.num_envs
        raise ConfigError(f"cannot resume from {path}: it has already trained {done * per} "
                          f"steps, more than the {config.total_steps * per} asked "
                          "(--train-steps)")
    saved = {k: v for k, v in dict(state.get("config", {})).items() if k not in RUN_ONLY}
    wanted = {k: v for k, v in config_dict(config).items() if k not in RUN_ONLY}
    if saved != wanted:
        changed = sorted(k for k in wanted if saved.get(k) != wanted[k])
        raise ConfigError(f"cannot resume from {path}: it was trained with different "
                          f"settings ({', '.join(changed) or 'dimensions'})")


def capture_rng_state() -> dict[str, Any]:
    """The global python, numpy and torch (and CUDA) generator states, as tensors and lists."""
    np_state = cast(tuple[Any, ...], np.random.get_state())
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]),
             "numpy": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
             "numpy_pos": int(np_state[2])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back the generator states of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate((3, tuple(state["python"]), None))
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32),
                         state["numpy_pos"], 0, 0.0))


__all__ = ["CHECKPOINT_VERSION", "RUN_ONLY", "capture_rng_state", "check_resumable",
           "config_dict", "corruption", "load_checkpoint", "non_finite", "restore_rng_state",
           "save_checkpoint"]
