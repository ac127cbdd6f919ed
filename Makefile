# Two commands: `make backtest` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
# Where pip looks for torch: unset, the default package index (on Linux its torch is the CUDA
# build, a multi-GB download). For the CPU-only build, set it to PyTorch's CPU wheel index
# (README.md, "Two commands").
TORCH_INDEX ?=
TORCH_PIP := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: backtest test install lint bench clean errors-doc

backtest: $(STAMP)
	$(BIN)/maxent-portfolio backtest

test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile --durations=15

install: $(STAMP)

# Torch first, pinned to one version (the pin fixes the version, not the build: TORCH_INDEX
# chooses the CPU-only one). Override with e.g. `make test TORCH=torch==2.14.1`.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_PIP) "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev,ray]"
	touch $(STAMP)

# docs/errors.md is generated from the refused-input cases of tests/test_errors_doc.py.
errors-doc: $(STAMP)
	MAXENT_WRITE_ERRORS_DOC=1 $(BIN)/python -m pytest -q tests/test_errors_doc.py -k docs

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# The peers (vectorbt, stable-baselines3) with torch pinned, so the resolver keeps the torch
# installed above (whichever build it is).
# If they cannot be installed the benchmarks still run and run_all names the missing peer.
# `make bench BENCH_ARGS="--quick --only engine"`: see benchmarks/run_all.py; BENCH_ARGS=--all
# adds the slow opt-in ones (learnability).
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]" "$(TORCH)" \
		|| echo "bench extra not installed: comparisons with missing peers are skipped"
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV)
