# batchsim: `make serve` runs the emulator, `make test` runs every test.
# Both create .venv first when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LEGACY_SDK := anthropic==0.75.0
LEGACY_DIR := $(VENV)/legacy-sdk
LEGACY_GENAI := google-genai==1.30.0
LEGACY_GENAI_DIR := $(VENV)/legacy-genai
LEGACY_OPENAI := openai==1.109.1
LEGACY_OPENAI_DIR := $(VENV)/legacy-openai
# `make serve` serves on BATCHSIM_HOST/BATCHSIM_PORT when set (else 127.0.0.1:8000), like
# `batchsim serve` itself; `make serve HOST=0.0.0.0 PORT=9000` overrides both.
HOST ?=
PORT ?=
ARGS ?=

.PHONY: install test lint serve bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# The legacy (0.x, httpx-based) SDK lives beside the current one, for compatibility tests.
	$(BIN)/python -m pip install --quiet --upgrade --target $(LEGACY_DIR) "$(LEGACY_SDK)"
	# google-genai 1.x (httpx-based, v1beta, the older state names) likewise, beside the current 3.x.
	$(BIN)/python -m pip install --quiet --upgrade --target $(LEGACY_GENAI_DIR) "$(LEGACY_GENAI)"
	# ... and so does OpenAI's httpx-based SDK (1.x), beside the current 3.x.
	$(BIN)/python -m pip install --quiet --upgrade --target $(LEGACY_OPENAI_DIR) "$(LEGACY_OPENAI)"
	touch $@

test: install
	$(BIN)/python -m pytest $(ARGS)

lint: install
	$(BIN)/ruff check batchsim client tests benchmarks examples
	$(BIN)/ruff format --check batchsim client tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/lint-imports

serve: install
	$(BIN)/batchsim serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT)) $(ARGS)

bench: install
	# wrk is the load generator when it can be had; without it a Python load client is used.
	command -v wrk >/dev/null || ( [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -qq && apt-get install -y -qq wrk >/dev/null ) || echo "wrk unavailable: using the Python load client"
	$(BIN)/python -m benchmarks $(ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info
