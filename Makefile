# One virtualenv for everything; both entry points create it when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast checks console-checks docs lint bench bench-append bench-as-of bench-whatif bench-cpu bench-load bench-replay bench-signals \
	bench-sustained bench-latency bench-burst bench-ingress bench-flatness bench-dispatcher clean install console \
	console-api console-test browser screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@$(MAKE) --no-print-directory console || echo "console: not built (see above); everything else starts"
	$(BIN)/tradehooks up

# The web console (React + TypeScript, console/) is built into the Python package
# (services/api/console/static, served at / of the operator listener, shipped in the
# wheel). Rebuilt only when its sources changed; without Node it says so and stops.
CONSOLE_SRC := $(shell find console/src console/index.html console/package.json \
	console/package-lock.json console/vite.config.ts console/tsconfig.json -type f 2>/dev/null)
CONSOLE_OUT := services/api/console/static/index.html

console: $(CONSOLE_OUT)

$(CONSOLE_OUT): $(CONSOLE_SRC)
	@command -v npm >/dev/null 2>&1 || { echo "console: Node.js 20 and npm are needed to \
	build the web console (https://nodejs.org, or apt-get install nodejs npm); the API \
	works without it"; exit 1; }
	cd console && npm ci --no-audit --no-fund --loglevel=error && npx vite build --logLevel warn
	@touch $(CONSOLE_OUT)

# Regenerate the console's API types from the OpenAPI document, and docs/asyncapi.json.
console-api: $(STAMP)
	$(BIN)/python -m services.api.console.dump_openapi console/openapi.json docs/asyncapi.json
	cd console && npx openapi-typescript openapi.json -o src/api/schema.d.ts

# Component tests (Vitest) and the console's type check.
console-test:
	cd console && (test -d node_modules || npm ci --no-audit --no-fund --loglevel=error) \
		&& npx tsc -b && npx vitest run

# Screenshots of every console tab (light, dark, phone) into docs/screenshots.
screenshots: $(STAMP) browser console
	TRADEHOOKS_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q -p no:randomly \
		tests/browser/test_console.py -k themes

# Debian's Chromium for the browser tests (Playwright's own download cannot work here).
browser:
	@test -x /usr/bin/chromium || apt-get install -y chromium >/dev/null \
		|| echo "browser: could not install chromium; the browser tests will be skipped"

# The suite runs on TEST_WORKERS processes (pytest-xdist), a whole module per worker at
# a time (the tests of a module may share one running system), in collection order (the
# longest first, see tests/conftest.py; xdist would put the modules with the most
# tests first); TEST_WORKERS=0: in one process.
TEST_WORKERS ?= 3

test: $(STAMP) browser
	$(MAKE) --no-print-directory -j2 --output-sync=recurse checks console-checks
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The static checks, beside the console's build and checks (make test runs the two at
# once: each is mostly one process, and there are two cores).
checks: $(STAMP)
	$(BIN)/ruff check contracts domain libs services cli projections tests bench
	$(BIN)/mypy
	$(MAKE) --no-print-directory docs

# One after the other: the build installs node_modules, which the checks need.
console-checks:
	$(MAKE) --no-print-directory console
	$(MAKE) --no-print-directory console-test

# Every number, one after the other: issue 14's targets (sustained end to end, latency,
# a candle-close burst, ingress alone, flat CPU per signal, the dispatcher's cost),
# replay of 1,000,000 events, pages of the signal history out of 1,000,000 signals,
# CPU per signal in windows, the chain's cost, as-of reads and what-if replays.
# Each prints a table and saves JSON under bench/results/ (docs/performance.md).
bench: $(STAMP)
	$(BIN)/python -m bench.sustained $(BENCH_SUSTAINED_ARGS)
	$(BIN)/python -m bench.latency $(BENCH_LATENCY_ARGS)
	$(BIN)/python -m bench.burst $(BENCH_BURST_ARGS)
	$(BIN)/python -m bench.ingress $(BENCH_INGRESS_ARGS)
	$(BIN)/python -m bench.flatness $(BENCH_FLATNESS_ARGS)
	$(BIN)/python -m bench.dispatcher $(BENCH_DISPATCHER_ARGS)
	$(BIN)/python -m bench.replay $(BENCH_REPLAY_ARGS)
	$(BIN)/python -m bench.signals $(BENCH_SIGNALS_ARGS)
	$(BIN)/python -m bench.cpu $(BENCH_CPU_ARGS)
	$(BIN)/python -m bench.append $(BENCH_APPEND_ARGS)
	$(BIN)/python -m bench.as_of $(BENCH_AS_OF_ARGS)
	$(BIN)/python -m bench.whatif $(BENCH_WHATIF_ARGS)

# >= 400 signals/s end to end for 60 s, nothing lost; BENCH_SUSTAINED_ARGS="--seconds 10".
bench-sustained: $(STAMP)
	$(BIN)/python -m bench.sustained $(BENCH_SUSTAINED_ARGS)

# p99 request -> webhook.trade_executed at 200/s; BENCH_LATENCY_ARGS="--seconds 10".
bench-latency: $(STAMP)
	$(BIN)/python -m bench.latency $(BENCH_LATENCY_ARGS)

# 3,000 alerts from 300 strategies within a second; BENCH_BURST_ARGS="--alerts 1000".
bench-burst: $(STAMP)
	$(BIN)/python -m bench.burst $(BENCH_BURST_ARGS)

# Ingress alone, 1 and 2 processes; BENCH_INGRESS_ARGS="--workers 2 --seconds 3".
bench-ingress: $(STAMP)
	$(BIN)/python -m bench.ingress $(BENCH_INGRESS_ARGS)

# One account to signal 50,000, then 10 accounts; BENCH_FLATNESS_ARGS="--signals 5000".
bench-flatness: $(STAMP)
	$(BIN)/python -m bench.flatness $(BENCH_FLATNESS_ARGS)

# The dispatcher without and with callback endpoints; BENCH_DISPATCHER_ARGS="--signals 500".
bench-dispatcher: $(STAMP)
	$(BIN)/python -m bench.dispatcher $(BENCH_DISPATCHER_ARGS)

# What the tamper-evidence chain costs a write; BENCH_APPEND_ARGS="--events 20000".
bench-append: $(STAMP)
	$(BIN)/python -m bench.append $(BENCH_APPEND_ARGS)

# An account of 100,000 events as of random moments; BENCH_AS_OF_ARGS="--events 20000".
bench-as-of: $(STAMP)
	$(BIN)/python -m bench.as_of $(BENCH_AS_OF_ARGS)

# 100,000 recorded signals decided again; BENCH_WHATIF_ARGS="--signals 20000".
bench-whatif: $(STAMP)
	$(BIN)/python -m bench.whatif $(BENCH_WHATIF_ARGS)

# CPU ms per signal per process, in windows (flat as an account trades?).
# BENCH_CPU_ARGS="--windows 3 --window 500" for a quick run.
bench-cpu: $(STAMP)
	$(BIN)/python -m bench.cpu $(BENCH_CPU_ARGS)

# BENCH_SIGNALS_ARGS="--signals 100000 --backends sqlite" for a quick run.
bench-signals: $(STAMP)
	$(BIN)/python -m bench.signals $(BENCH_SIGNALS_ARGS)

bench-load: $(STAMP)
	$(BIN)/python -m bench.load

# BENCH_REPLAY_ARGS="--events 100000 --backends sqlite" for a quick run.
bench-replay: $(STAMP)
	$(BIN)/python -m bench.replay $(BENCH_REPLAY_ARGS)

# The fast layer: pure decisions and handlers against in-memory fakes (no NATS, no
# processes); the position model runs fewer examples than in make test.
test-fast: $(STAMP)
	MODEL_EXAMPLES=$${MODEL_EXAMPLES:-60} $(BIN)/pytest -q -x tests/unit

# The docs site (docs/ + mkdocs.yml) into var/site; strict: a broken link or anchor fails
# (not --quiet: it hides the warnings strict mode counts).
docs: $(STAMP)
	@mkdir -p var && NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict > var/mkdocs.log 2>&1 \
		|| (grep -v '^INFO' var/mkdocs.log; exit 1)

lint: $(STAMP)
	$(BIN)/ruff check contracts domain libs services cli projections tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache console/node_modules services/api/console/static
