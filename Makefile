# keras-clx developer commands. `make demo` and `make test` set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BACKENDS ?= tensorflow jax torch
PYTEST_ARGS ?=

.PHONY: setup demo test test-backend bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch==2.13.0 first: pip resolves it to the local CPU wheel (a range could pull a CUDA build).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[torch,dev]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/keras-clx fit recipes/demo.py

# The whole suite once per backend, as keras-hub's CI matrix does.
test: setup
	@set -e; for backend in $(BACKENDS); do \
		echo "=== KERAS_BACKEND=$$backend"; \
		KERAS_BACKEND=$$backend $(BIN)/python -m pytest -q -n 2 $(PYTEST_ARGS); \
	done

bench: setup
	$(BIN)/python tools/bench.py

clean:
	rm -rf $(VENV) runs served .pytest_cache
