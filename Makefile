# `make test` and `make bench` create .venv when it is missing and install mull into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench fake-server clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The app, on this machine only (127.0.0.1); MULL_PORT picks another port.
run: $(STAMP)
	$(BIN)/streamlit run ui/app.py --server.address 127.0.0.1 --server.port $${MULL_PORT:-8501} --browser.gatherUsageStats false

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks.reasoning_step_overhead
	$(BIN)/python -m benchmarks.sandbox_startup
	$(BIN)/python -m benchmarks.app_streaming
	$(BIN)/python -m benchmarks.hybrid_search
	$(BIN)/python -m benchmarks.concurrent_threads
	$(BIN)/python -m benchmarks.eval_throughput
	$(BIN)/python -m benchmarks.tool_step_overhead

# A model-free server on Ollama's port, so mull can be tried without a model.
fake-server: $(STAMP)
	$(BIN)/python -m tests.fake_server --port 11434

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
