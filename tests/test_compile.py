"""``--compile``: torch.compile of the solo networks, same learning, resumable, clean fallback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch._dynamo
from support import tiny_config, vector_env

from maxent_portfolio.agents import Agent, train
from maxent_portfolio.agents.checkpoint import RUN_ONLY

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def fresh_dynamo() -> Iterator[None]:
    """Each test compiles from scratch, and the fallback switch ``--compile`` turns on is put
    back afterwards (Dynamo's configuration is process-wide)."""
    torch._dynamo.reset()
    with torch._dynamo.config.patch(suppress_errors=False):
        yield
    torch._dynamo.reset()


def _train(stop_at: int | None = None, checkpoint: Path | None = None, resume: bool = False,
           **kw: object) -> Agent:
    stop: Callable[[int, Agent], bool] | None = None
    if stop_at is not None:
        stop = lambda step, agent: step == stop_at  # noqa: E731
    return train(vector_env(2), tiny_config(total_steps=16, **kw), progress=False,
                 checkpoint_path=checkpoint, resume=resume, callback=stop)


def _state(agent: Agent) -> dict[str, torch.Tensor]:
    return agent.algorithm.state_dict()


def _assert_same_agent(a: Agent, b: Agent) -> None:
    sa, sb = _state(a), _state(b)
    assert sa.keys() == sb.keys()
    for key, value in sa.items():
        assert torch.equal(sb[key], value), key
    np.testing.assert_equal(a.history, b.history)  # NaN returns before the first episode ends
    assert a.step == b.step


def _compiled(module: torch.nn.Module) -> bool:
    """Whether ``nn.Module.compile`` wrapped the module's call."""
    return getattr(module, "_compiled_call_impl", None) is not None


def test_compile_is_a_run_setting_off_by_default_and_a_resume_may_change_it() -> None:
    assert "compile" in RUN_ONLY
    assert tiny_config().compile is False


@pytest.mark.slow
def test_a_compiled_run_learns_as_eager_and_resumes_to_the_uninterrupted_run(
        tmp_path: Path) -> None:
    full = _train(compile=True)
    for module in (full.algorithm.actor, full.algorithm.qf, full.algorithm.qf_target):
        assert _compiled(module), type(module).__name__
    assert torch._dynamo.config.suppress_errors  # a failing graph would run eagerly
    eager = _state(_train())
    assert eager.keys() == _state(full).keys()  # checkpoints keep the parameter names
    for key, value in eager.items():  # fused kernels round differently
        torch.testing.assert_close(_state(full)[key], value, rtol=1e-3, atol=1e-4, msg=key)
    path = tmp_path / "compiled.pt"
    part = _train(stop_at=11, checkpoint=path, compile=True)  # mid-episode, after updates
    assert part.interrupted and part.step == 11 and path.exists()
    resumed = _train(checkpoint=path, resume=True, compile=True)
    assert resumed.step == 16 and not resumed.interrupted
    _assert_same_agent(full, resumed)
    assert all(torch.isfinite(v).all() for v in _state(resumed).values())


def test_a_graph_that_fails_to_compile_runs_eagerly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented fallback: a backend error is suppressed and the run is the eager run."""
    calls: list[int] = []

    def failing_backend(graph: Any, example_inputs: Any) -> Any:
        calls.append(1)
        raise RuntimeError("this backend compiles nothing")

    real_compile = torch.compile

    def compile_with_failing_backend(model: Any = None, **kw: Any) -> Any:
        return real_compile(model, **{**kw, "backend": failing_backend})

    monkeypatch.setattr(torch, "compile", compile_with_failing_backend)
    fallen_back = _train(compile=True)
    assert calls, "the backend was never asked to compile a graph"
    assert _compiled(fallen_back.algorithm.actor)
    monkeypatch.setattr(torch, "compile", real_compile)
    _assert_same_agent(_train(), fallen_back)


def test_the_fallback_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                          capfd: pytest.CaptureFixture[str]) -> None:
    """Without a C++ compiler every graph fails; Dynamo logs each failure with its traceback
    (about 2,000 lines). The run says once that it fell back, and nothing else."""
    def failing_backend(graph: Any, example_inputs: Any) -> Any:
        raise RuntimeError("no C++ compiler found")

    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model=None, **kw: real_compile(
        model, **{**kw, "backend": failing_backend}))
    capfd.readouterr()
    _train(compile=True)
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err[:2000]
    assert "--compile" in lines[0] and "eager" in lines[0] and "no C++ compiler" in lines[0]
    assert "Traceback" not in err
