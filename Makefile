# keras-clx developer commands. `make demo` and `make test` set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BACKENDS ?= tensorflow jax torch
PYTEST_ARGS ?=

.PHONY: setup demo lint test test-backend bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch==2.13.0 first: pip resolves it to the local CPU wheel (a range could pull a CUDA build).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[torch,dev,bench]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/keras-clx fit recipes/demo.py

# Lint and format check (ruff), then the whole suite once per backend, as keras-hub's CI matrix does.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	@set -e; for backend in $(BACKENDS); do \
		echo "=== KERAS_BACKEND=$$backend"; \
		KERAS_BACKEND=$$backend $(BIN)/python -m pytest -q -n 2 $(PYTEST_ARGS); \
	done

# The performance suite (docs/benchmarks.md): every backend, tiny and small, with the
# PyTorch + transformers peer loop (the `bench` extra). JSON per backend in bench/.
BENCH_ARGS ?= --size tiny small --peer
bench: setup
	@mkdir -p bench; set -e; for backend in $(BACKENDS); do \
		$(BIN)/python tools/bench.py --backend $$backend $(BENCH_ARGS) --json bench/$$backend.json; \
	done

clean:
	rm -rf $(VENV) runs served bench .pytest_cache
