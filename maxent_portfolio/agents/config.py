"""The agent's configuration: :class:`SACConfig` (the ``sac`` section of a run), and devices.

Torch-free, so the option tree (and every ``--help``) loads without torch: the accepted
``--policy`` and ``--network`` names are plain tuples here, equal to the keys of the registries
that build them (``POLICY_HEADS`` in :mod:`~maxent_portfolio.agents.distributions`,
``NETWORK_BUILDERS`` in :mod:`~maxent_portfolio.agents.networks`; a test holds them equal), and
torch is imported only to ask whether CUDA is there.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError, ValidationInfo, field_validator, model_validator

from maxent_portfolio.errors import ConfigError
from maxent_portfolio.options import Section, describe_error, one_of, option

POLICIES = ("dirichlet", "logistic-normal")
"""Names of the policy heads, the keys of ``distributions.POLICY_HEADS`` in order."""
NETWORKS = ("shared", "mlp")
"""Names of the network builders, the keys of ``networks.NETWORK_BUILDERS`` in order."""
DEVICES = ("auto", "cpu", "cuda")
MODEL_SELECTIONS = ("last", "best-validation")
ACTOR_OBJECTIVES = ("sample", "mean")
SHRINKAGES = ("none", "evidence")
CHOICES = {"policy": POLICIES, "network": NETWORKS, "model_selection": MODEL_SELECTIONS,
           "actor_objective": ACTOR_OBJECTIVES, "shrinkage": SHRINKAGES}
"""The accepted names of the section's named options."""


def cuda_available() -> bool:
    """Whether torch sees a CUDA device (imports torch: only a CUDA device asks)."""
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available else ``cpu``; ``cuda`` without CUDA is an error."""
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}: use {', '.join(DEVICES)}")
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device == "cuda" and not cuda_available():
        raise ConfigError("invalid device 'cuda': CUDA is not available on this machine "
                          "(use --device cpu or auto)")
    return device


class SACConfig(Section):
    """Soft Actor-Critic on the simplex: what the agent learns with, saved in checkpoints.

    The flags (``--train-steps``, ``--alpha``, ``--diversification``, ``--policy``,
    ``--network``, ``--device``) are the usual knobs; the hyper-parameters are file-only keys
    of the ``[sac]`` table; the internal fields are set per fold by the ``sac`` strategy.
    """

    train_steps: int = option(
        20_000, "Environment transitions of SAC training per fold, summed over the batched "
        "episodes.", ge=1)
    alpha: float | None = option(
        0.01, "SAC temperature, the dial between return and diversification: higher holds "
        "the policy closer to the reference (at about 1, 1/N). none: tuned automatically "
        "toward the --diversification target (with --reference-cash 1 or no --reference). "
        "Default chosen on the development protocol (docs/agent.md).", gt=0)
    diversification: float = option(
        0.5, "Diversification dial in (0, 1]: the entropy target of a symmetric reference "
        "policy holding 1 + d (N_peak - 1) effective assets; higher holds more names.",
        gt=0, le=1)
    policy: str = option("dirichlet", f"Policy head: {' or '.join(POLICIES)}.")
    network: str = option(
        "shared", f"Networks: {' or '.join(NETWORKS)} (shared: a per-asset encoder for any "
        "number of assets; mlp: a flat MLP).")
    device: str = option("auto", "Torch device: cpu, cuda, or auto (cuda when available).")
    one_step_model: bool = option(
        True, "Use the env's exact one-step model: the critic learns only the continuation "
        "value and the actor takes the exact reward (and cost gradient) of its samples. "
        "Rewards log and drawdown only; dsr and mean-var, which depend on the episode's "
        "past, train on replay alone. --no-one-step-model: plain replay SAC.")
    actor_horizon: int = option(
        3, "Decisions the actor's objective rolls forward through the data with the exact "
        "model before the critic takes over: it maximises the exact H-step soft return of its "
        "own reparameterised actions, the drifted weights carrying each decision's effect into "
        "the next ones, plus the discounted critic value beyond (SVG(H), short-horizon "
        "actor-critic). 0: the one-step model alone. Needs --one-step-model.", ge=0, le=256)
    reference: float | None = option(
        4.0, "Concentration c of a reference policy Dirichlet(c, ..., c) centred on equal "
        "weights: the entropy bonus becomes minus the KL divergence to it, so the hot end of "
        "the dial is equal weights and --diversification sets the KL budget. none: plain "
        "entropy.", gt=0)
    reference_cash: float = option(
        0.01, "Cash's concentration in the reference policy, relative to an asset's: 1 centres "
        "the reference on equal weights over the assets and cash; 0.01 on 1/N over the risky "
        "assets, with almost no cash. A value other than 1 needs a fixed --alpha.", gt=0,
        le=1)
    actor_objective: str = option(
        "mean", "Where the actor takes its return: sample (SAC: at its reparameterised draws, "
        "with their log-ratio as the entropy term) or mean (at the policy's mean action, the "
        "portfolio it holds, with the closed-form KL divergence from the reference as the "
        "max-entropy term: no sampling noise in its gradient). mean needs the Dirichlet head, "
        "--reference and --one-step-model.")
    model_selection: str = option(
        "last", "Which networks a fold keeps: last (the end of training) or best-validation "
        "(the snapshot with the highest log growth on the validation slice, the tail of the "
        "training window; never test data).")
    shrinkage: str = option(
        "evidence", "Shrink the agent's portfolio toward 1/N by its out-of-sample record: none, "
        "or evidence (hold mix * agent + (1 - mix) * 1/N, the mix the growth-optimal blend at "
        "the lower confidence bound of the agent's record against 1/N before the fold: the "
        "previous folds' agents on the data they were not trained on, and for the first fold an "
        "agent trained on the first half of its window replayed on the second). No edge beyond "
        "the noise holds 1/N. The sac strategy's; sac-discrete does not shrink.")
    shrinkage_confidence: float = option(
        1.0, "Standard errors the evidence shrinkage subtracts from the record's mean excess "
        "growth before it mixes in the agent (0: follow the record's leader).", ge=0)

    seed_batch: int = option(
        1, "Seeds of a --seeds K run (in a sweep: cells of one cost level) trained together as "
        "one batched network, in groups of this many (1: each alone). A batched seed follows "
        "its solo run "
        "to float rounding; groups do not depend on --jobs, so neither do the results. It pays "
        "on a GPU; on a CPU the arithmetic of the default networks grows with the group, so "
        "--jobs is the faster lever (docs/speed.md).", ge=1)
    compile: bool = option(
        False, "torch.compile the actor and critics of solo training (a graph that fails to "
        "compile runs eager). Off by default: on the CPU measured (benchmarks/bench_compile.py) "
        "it slowed the update; it may pay on a GPU.")
    num_envs: int = option(4, "Parallel training episodes in the batched env.", ge=1,
                           file_only=True)
    warm_start: bool = option(True, "Start each fold's training from the previous fold's "
                              "networks.", file_only=True)
    validation_fraction: float = option(
        0.2, "Last fraction of each training window held out for validation (0 disables it).",
        ge=0, lt=1, file_only=True)
    gamma: float = option(0.99, "Discount factor.", ge=0, lt=1, file_only=True)
    tau: float = option(0.005, "Polyak coefficient of the target critics.", gt=0, le=1,
                        file_only=True)
    policy_lr: float = option(3e-4, "Adam learning rate of the actor.", gt=0, file_only=True)
    q_lr: float = option(1e-3, "Adam learning rate of the twin critics.", gt=0, file_only=True)
    alpha_lr: float = option(1e-3, "Adam learning rate of log alpha (automatic temperature).",
                             gt=0, file_only=True)
    batch_size: int = option(256, "Minibatch size of each gradient update.", ge=1,
                             file_only=True)
    buffer_size: int = option(200_000, "Replay buffer capacity in transitions.", ge=1,
                              file_only=True)
    learning_starts: int = option(
        250, "Warm-up vector-env steps with uniform Dirichlet(1) actions and no updates; at "
        "most warm_up_share of a fold's steps (a smaller --train-steps cuts it, with a note).",
        ge=0, file_only=True)
    warm_up_share: float = option(
        0.25, "Largest share of a fold's vector steps spent in the warm-up, so that a small "
        "--train-steps still trains.", gt=0, le=1, file_only=True)
    utd_ratio: float = option(0.25, "Gradient updates per collected transition.", gt=0,
                              file_only=True)
    initial_alpha: float = option(0.1, "Starting temperature when tuned automatically.", gt=0,
                                  file_only=True)
    target_entropy: float | None = option(
        None, "Explicit entropy target in nats; overrides --diversification when set.",
        file_only=True)
    hidden: tuple[int, ...] | None = option(
        None, "Hidden layer sizes; default (32, 32) per asset token for shared, (256, 256) for "
        "mlp.", file_only=True, strict=False)
    reward_scale: float = option(100.0, "Rewards (log growth) are multiplied by this before "
                                 "learning.", gt=0, file_only=True)

    total_steps: int = option(20_000, "Vector-env steps to run; each collects num_envs "
                              "transitions.", ge=0, internal=True)
    seed: int = option(1, "Seeds python, numpy, torch and the env, in one place.", ge=0,
                       internal=True)
    eval_every: int = option(0, "Validation every this many steps (0: off).", ge=0,
                             internal=True)
    checkpoint_every: int = option(0, "Checkpoint every this many steps (0: only at the end).",
                                   ge=0, internal=True)
    log_every: int = option(50, "Steps between progress and history records.", ge=1,
                            internal=True)
    num_threads: int | None = option(1, "torch.set_num_threads; None leaves torch's default.",
                                     internal=True)

    @property
    def fold_steps(self) -> int:
        """Vector-env steps of one fold's training: ``train_steps`` over ``num_envs``."""
        return math.ceil(self.train_steps / self.num_envs)

    @property
    def warm_up(self) -> int:
        """Vector steps of uniform actions before the first update: ``learning_starts``, cut
        to ``warm_up_share`` of ``total_steps`` so that a small budget still trains (and a
        budget smaller than the warm-up never reports an untrained policy)."""
        return min(self.learning_starts, int(self.total_steps * self.warm_up_share))

    def warm_up_note(self) -> str | None:
        """One line when ``train_steps`` cuts the warm-up of every fold, else None."""
        steps = self.fold_steps
        cut = self.model_copy(update={"total_steps": steps}).warm_up
        if cut == self.learning_starts:
            return None
        return (f"--train-steps {self.train_steps} is {steps} vector steps of {self.num_envs} "
                f"envs per fold: the warm-up (learning_starts {self.learning_starts}) is cut to "
                f"{cut}, {self.warm_up_share:g} of them (warm_up_share)")

    @field_validator(*CHOICES)
    @classmethod
    def _one_of(cls, value: str, info: ValidationInfo) -> str:
        return one_of(value, CHOICES[str(info.field_name)], " or ")

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not (value in DEVICES or value.startswith("cuda:")):
            raise ValueError(f"use {', '.join(DEVICES)}")
        if value.startswith("cuda") and not cuda_available():
            raise ValueError("CUDA is not available on this machine (use cpu or auto)")
        return value

    @field_validator("hidden")
    @classmethod
    def _hidden(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is not None and (not value or any(h < 1 for h in value)):
            raise ValueError("must be a non-empty list of positive sizes")
        return value

    @model_validator(mode="after")
    def _buffer(self) -> SACConfig:
        if self.buffer_size < self.num_envs:
            raise ValueError("buffer_size must hold one step of every env")
        if self.actor_objective == "mean" and (self.policy != "dirichlet" or self.reference is None
                                               or not self.one_step_model):
            raise ValueError("actor_objective mean needs the Dirichlet head, a reference "
                             "(--reference) and the one-step model")
        if self.reference_cash != 1.0 and self.alpha is None and self.reference is not None:
            raise ValueError("reference_cash other than 1 needs a fixed --alpha (the KL budget "
                             "of the dial is for the symmetric reference): set --alpha, or "
                             "--reference-cash 1")
        if self.actor_horizon > 0 and not self.one_step_model:
            raise ValueError("actor_horizon > 0 needs the one-step model (--one-step-model)")
        if (self.actor_horizon > 0 or self.actor_objective == "mean") and self.seed_batch > 1:
            raise ValueError("actor_horizon > 0 and actor_objective mean train one agent at a "
                             "time: use seed_batch 1")
        if self.shrinkage == "evidence" and self.seed_batch > 1:
            raise ValueError("shrinkage evidence trains one agent at a time: use seed_batch 1")
        if self.model_selection == "best-validation" and self.validation_fraction == 0:
            raise ValueError("model_selection best-validation needs a validation slice "
                             "(validation_fraction > 0)")
        return self

    def validate(self) -> None:  # type: ignore[override]
        """Re-check every value (fields may have been assigned one by one)."""
        try:
            type(self).model_validate(self.model_dump())
        except ValidationError as exc:
            raise describe_error(exc) from None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SACConfig:
        """Build from plain data (a checkpoint's), ignoring keys this version does not know.

        The device is not kept: where an agent ran says nothing of where it will run.
        """
        known = {k: v for k, v in data.items() if k in cls.model_fields and k != "device"}
        if known.get("hidden") is not None:
            known["hidden"] = tuple(known["hidden"])
        try:
            return cls(**known)
        except ValidationError as exc:
            raise describe_error(exc) from None


__all__ = ["DEVICES", "MODEL_SELECTIONS", "NETWORKS", "POLICIES", "SHRINKAGES", "SACConfig",
           "cuda_available", "resolve_device"]
