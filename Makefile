# One virtualenv for everything; both entry points create it when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-load bench-replay bench-signals clean install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/tradehooks up

test: $(STAMP)
	$(BIN)/ruff check contracts domain services projections tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

# Every number, one after the other: the load bench, replay of 1,000,000 events, then
# pages of the signal history out of 1,000,000 signals.
bench: $(STAMP)
	$(BIN)/python -m bench.load
	$(BIN)/python -m bench.replay $(BENCH_REPLAY_ARGS)
	$(BIN)/python -m bench.signals $(BENCH_SIGNALS_ARGS)

# BENCH_SIGNALS_ARGS="--signals 100000 --backends sqlite" for a quick run.
bench-signals: $(STAMP)
	$(BIN)/python -m bench.signals $(BENCH_SIGNALS_ARGS)

bench-load: $(STAMP)
	$(BIN)/python -m bench.load

# BENCH_REPLAY_ARGS="--events 100000 --backends sqlite" for a quick run.
bench-replay: $(STAMP)
	$(BIN)/python -m bench.replay $(BENCH_REPLAY_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check contracts domain services projections tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache
