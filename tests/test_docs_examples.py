"""Every example of the README and ``docs/`` that a user can paste, run (issue 23).

The examples are read from the Markdown, so the docs cannot drift from the program:

- each ``maxent-portfolio ...`` line of a ``bash``/``console``/``sh`` block (and each
  ``$ maxent-portfolio ...`` line of any block) runs in-process through
  :func:`maxent_portfolio.cli.main`, with a small budget appended (:data:`BUDGET`: flags given
  last win) in a scratch directory that links the checkout's ``strategies/`` and
  ``data/universes/``; the lines of one block run in order in one directory, as a user would
  paste them (``train --resume`` after ``train``, ``report reports/<run>`` after a backtest);
- each ``toml``/``yaml``/``json`` block is a run configuration, run through ``--config``
  (``sweep --config`` when it has a ``[sweep]`` table), or a universe definition (it names
  ``tickers`` or a ``source``), shown with ``data show`` on a synthesised Yahoo download;
- each ``python`` block is executed; when a ``text`` block follows it, that is its output.

An example that needs what a test may not use (the network, a GPU, a Ray cluster) is skipped
with its reason (:data:`SKIPS`); the ones that train an agent are marked slow.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_yfinance import yf_frame
from support import REPO

from maxent_portfolio.cli import main

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")),
        REPO / "data" / "universes" / "README.md"]
"""The Markdown whose examples are run."""
SHELL = ("bash", "console", "sh", "shell")
CONFIG = ("toml", "yaml", "yml", "json")

SINCE = ["--start", "2021-01-01", "--train-years", "1", "--test-years", "1"]
"""Two years of data, one fold: enough for every strategy, sac-discrete's doubled lookback
included."""
STEPS = ["--train-steps", "400"]
"""100 vector steps of 4 envs: the warm-up is cut to a quarter of them, so each fold makes 75
updates."""
BUDGET = {
    "backtest": [*SINCE, *STEPS, "--seeds", "1", "--jobs", "1", "--no-html", "-q"],
    "sweep": [*SINCE, *STEPS, "--seeds", "1", "--jobs", "1", "--no-html", "-q",
              "--shrinkage", "none"],
    "train": ["--start", "2014-01-01", *STEPS, "-q"],
    "stress": ["--scenarios", "3", "--jobs", "1", "-q"],
}
"""Flags appended to a command: small data, few steps, one seed (``--seeds 2`` or more of
``train`` stays: it names the files written), one process (tests/test_jobs.py checks
``--jobs``), no HTML (tests/test_reporting.py checks it); a sweep's cells skip the evidence
agent of their first fold (tests/test_shrinkage.py checks the shrinkage)."""
SKIPS = {
    "ray://": "joins a Ray cluster over the network",
    "--backend ray": "starts a Ray instance; tests/test_sweep.py runs the Ray backend",
    "--device cuda": "needs a CUDA GPU; tests/test_cuda.py runs it where there is one",
}
"""An example holding the key is skipped with the reason."""
PYTHON_BUDGET = {
    '"sac.train_steps": 6000}': '"sac.train_steps": 400, "data.start": "2021-01-01", '
                                '"walk_forward.train_years": 1.0, "walk_forward.test_years": 1.0}',
    '"seeds": 3, "jobs": 2}': '"seeds": 1, "jobs": 1}',
}
"""The same budget, as edits of a Python snippet (each must still match the docs)."""
LEARNING = ("sac", "sac-discrete")


@dataclass(frozen=True)
class Example:
    """One pasteable example: where it is, what it is and its text."""

    where: str  # "README.md:88"
    kind: str  # command, config, universe or python
    text: str
    block: str  # the block's first line: commands of one block share a directory
    output: str | None = None  # a python block's printed output, as the docs show it


FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)


def extract(markdown: str, name: str) -> list[Example]:
    """The examples of one Markdown text, in order."""
    blocks = list(FENCE.finditer(markdown))
    examples: list[Example] = []
    for i, match in enumerate(blocks):
        lang, body = match.group(1).lower(), match.group(2)
        first = markdown.count("\n", 0, match.start()) + 2  # the block's first line
        block = f"{name}:{first}"
        if lang == "python":
            follows = blocks[i + 1] if i + 1 < len(blocks) else None
            output = None
            if (follows is not None and follows.group(1) == "text"
                    and not markdown[match.end():follows.start()].strip()):
                output = follows.group(2)
            examples.append(Example(block, "python", body, block, output))
            continue
        if lang in CONFIG:
            data = json.loads(body) if lang == "json" else \
                tomllib.loads(body) if lang == "toml" else yaml.safe_load(body)
            kind = "universe" if isinstance(data, dict) and (
                "tickers" in data or "source" in data) else "config"
            examples.append(Example(block, kind, f"{lang}\n{body}", block))
            continue
        for offset, line in _lines(body):
            prompt = line.startswith("$ ")
            command = line[2:] if prompt else line
            if (lang in SHELL or prompt) and command.startswith("maxent-portfolio"):
                examples.append(Example(f"{name}:{first + offset}", "command", command, block))
    return examples


def _lines(body: str) -> Iterator[tuple[int, str]]:
    """A shell block's lines, continuations (a trailing backslash) joined."""
    pending, start = "", 0
    for offset, raw in enumerate(body.splitlines()):
        line = raw.strip()
        if not pending:
            start = offset
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        yield start, pending + line
        pending = ""


def every_example() -> list[Example]:
    return [e for doc in DOCS for e in extract(doc.read_text(encoding="utf-8"),
                                                str(doc.relative_to(REPO)))]


# --- running ----------------------------------------------------------------------------------

def run_cli(args: list[str]) -> tuple[int, str, str]:
    """``maxent-portfolio *args`` in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def command_args(text: str, workdir: Path) -> list[str]:
    """A documented command's arguments, with the budget appended and placeholders filled."""
    args = shlex.split(text, comments=True)[1:]
    words = [a for a in args if not a.startswith("-")]
    command = words[0] if words else ""
    if "reports/<run>" in args:
        args[args.index("reports/<run>")] = str(latest_run(workdir))
    return [*args, *BUDGET.get(command, [])]


def latest_run(workdir: Path) -> Path:
    """The newest run directory under ``reports/`` (a backtest earlier in the block), made
    by a quick backtest when there is none."""
    runs = sorted((p for p in (workdir / "reports").glob("*") if (p / "config.json").exists()),
                  key=lambda p: p.stat().st_mtime)
    if not runs:
        code, _, err = run_cli(["backtest", "-s", "equal-weight", *BUDGET["backtest"]])
        assert code == 0, err
        return latest_run(workdir)
    return runs[-1]


def run_example(example: Example, workdir: Path) -> None:
    """Run one example in ``workdir`` (the working directory); AssertionError if it fails."""
    if example.kind == "command":
        args = command_args(example.text, workdir)
        if "--resume" in args:  # pasted after the run it resumes: make that run first
            out = Path(args[args.index("--out") + 1]) if "--out" in args else None
            if out is not None and not out.exists():
                run_cli([a for a in args if a != "--resume"])
        code, _, err = run_cli(args)
        assert code == 0, f"{example.where}: `{example.text}` exited {code}: {err.strip()}"
    elif example.kind in ("config", "universe"):
        lang, body = example.text.split("\n", 1)
        path = workdir / f"example.{lang}"
        path.write_text(body, encoding="utf-8")
        if example.kind == "universe":
            args = ["data", "show", str(path)]
        else:
            parsed: Any = yaml.safe_load(body) if lang != "toml" else tomllib.loads(body)
            command = "sweep" if "sweep" in parsed else "backtest"
            args = [command, "--config", str(path), *BUDGET[command]]
        code, _, err = run_cli(args)
        assert code == 0, f"{example.where}: {example.kind} file exited {code}: {err.strip()}"
    else:
        code_text = example.text
        for old, new in PYTHON_BUDGET.items():
            code_text = code_text.replace(old, new)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            try:
                exec(compile(code_text, example.where, "exec"), {"__name__": "__doc__"})
            except Exception as exc:  # any failure of a snippet is the test's failure
                raise AssertionError(f"{example.where}: {type(exc).__name__}: {exc}") from exc
        if example.output is not None:
            assert _lines_of(printed.getvalue()) == _lines_of(example.output), \
                f"{example.where}: the printed output is not the documented one"


def _lines_of(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").splitlines()]


def _skip_reason(example: Example) -> str | None:
    for key, reason in SKIPS.items():
        if key in example.text:
            if key == "--device cuda":
                import torch

                if torch.cuda.is_available():
                    return None
            return reason
    return None


def _trains(example: Example) -> bool:
    """Whether an example trains an agent (slow): a sweep, train, or a backtest whose
    strategies (the default ones unless -s names others) include a learning one."""
    text = example.text
    if example.kind == "python":
        return "sweep" in text
    if example.kind == "universe":
        return False
    if example.kind == "config":
        return "strategies" not in text or any(s in text for s in LEARNING)
    args = shlex.split(text, comments=True)[1:]
    if "sweep" in args or "train" in args:
        return True
    if args[:1] == ["allocate"] and len(args) > 1 and not args[1].startswith("-"):
        return True  # decides from the run directory of its block's backtest
    if "backtest" not in args or "--help" in args:
        return False
    for flag in ("-s", "--strategies"):
        if flag in args:
            return any(s.strip() in LEARNING for s in args[args.index(flag) + 1].split(","))
    return True


@pytest.fixture(scope="module")
def workdirs() -> dict[str, Path]:
    """One scratch working directory per block, made on first use."""
    return {}


@pytest.fixture
def workdir(request: pytest.FixtureRequest, workdirs: dict[str, Path],
            tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
            ) -> Path:
    example: Example = request.node.callspec.params["example"]
    if example.block not in workdirs:
        folder = tmp_path_factory.mktemp("docs")
        (folder / "strategies").symlink_to(REPO / "strategies")
        (folder / "data").mkdir()
        (folder / "data" / "universes").symlink_to(REPO / "data" / "universes")
        (folder / "docs").mkdir()
        (folder / "docs" / "examples").symlink_to(REPO / "docs" / "examples")
        workdirs[example.block] = folder
    monkeypatch.chdir(workdirs[example.block])
    monkeypatch.setenv("COLUMNS", "160")
    import yfinance

    monkeypatch.setattr(yfinance, "download", lambda tickers, **kwargs: yf_frame(
        list(tickers), start="2019-01-02", periods=1000))
    return workdirs[example.block]


EXAMPLES = every_example()


def _param(example: Example) -> Any:
    marks = [pytest.mark.slow] if _trains(example) else []
    reason = _skip_reason(example)
    if reason is not None:
        marks.append(pytest.mark.skip(reason=reason))
    return pytest.param(example, marks=marks, id=f"{example.where} {example.kind}")


@pytest.mark.parametrize("example", [_param(e) for e in EXAMPLES])
def test_doc_example_runs(example: Example, workdir: Path) -> None:
    run_example(example, workdir)


# --- the extractor and runner themselves --------------------------------------------------------

def test_every_doc_kind_is_found() -> None:
    kinds = {e.kind for e in EXAMPLES}
    assert kinds == {"command", "config", "universe", "python"}
    where = {e.where.split(":")[0] for e in EXAMPLES}
    assert {"README.md", "docs/sweep.md", "docs/sac-discrete.md",
            "data/universes/README.md"} <= where
    assert any(e.output is not None for e in EXAMPLES)  # the Python API's table


def test_every_skip_and_budget_edit_still_matches_the_docs() -> None:
    """A reason or an edit that matches nothing any more is stale: the docs changed."""
    for key in SKIPS:
        assert any(key in e.text for e in EXAMPLES), key
    python = "\n".join(e.text for e in EXAMPLES if e.kind == "python")
    for old in PYTHON_BUDGET:
        assert old in python, old


BROKEN = """
Some prose.

```bash
maxent-portfolio universes          # fine
maxent-portfolio backtest --no-such-flag -s equal-weight \\
    --cost-bps 5
```

```toml
[sac]
gama = 0.9
```

```yaml
name: mine
source: yahoo
tickers: [SPY]
```

```python
print(undefined_name)
```

```python
print("two")
```

```text
three
```
"""


def test_the_extractor_reads_each_kind() -> None:
    examples = extract(BROKEN, "broken.md")
    assert [e.kind for e in examples] == ["command", "command", "config", "universe",
                                          "python", "python"]
    assert examples[1].text == "maxent-portfolio backtest --no-such-flag -s equal-weight " \
                               "--cost-bps 5"
    assert examples[1].where == "broken.md:6"
    assert examples[4].output is None and examples[5].output == "three\n"


@pytest.mark.parametrize("index", [1, 2, 3, 4, 5])
def test_a_broken_doc_example_fails(index: int, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A flag that does not exist, a misspelt key, an unknown source, a name error and output
    other than the documented one: each fails the doc test."""
    import yfinance

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(yfinance, "download", lambda tickers, **kwargs: yf_frame(
        list(tickers), start="2019-01-02", periods=1000))
    examples = extract(BROKEN, "broken.md")
    run_example(examples[0], tmp_path)  # the good line passes
    with pytest.raises(AssertionError, match=r"broken\.md"):
        run_example(examples[index], tmp_path)


def test_placeholders_and_budget_fill_a_command(tmp_path: Path) -> None:
    run = tmp_path / "reports" / "20240101-000000-sp500-20"
    run.mkdir(parents=True)
    (run / "config.json").write_text("{}")
    assert command_args("maxent-portfolio report reports/<run>   # again", tmp_path) == \
        ["report", str(run)]
    args = command_args("maxent-portfolio backtest --seeds 4 --jobs 2", tmp_path)
    assert args[:4] == ["backtest", "--seeds", "4", "--jobs"]
    assert args[-len(BUDGET["backtest"]):] == BUDGET["backtest"]
