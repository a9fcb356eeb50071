# One virtualenv for everything; both entry points create it when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/tradehooks up

test: $(STAMP)
	$(BIN)/ruff check contracts services projections tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench.load

lint: $(STAMP)
	$(BIN)/ruff check contracts services projections tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache
