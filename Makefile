# Two commands, each doing all of its own set-up on a fresh machine:
#   make run    build, then serve the embedded default with demo data
#   make test   build, then run the whole test suite, the end-to-end part
#               on both backends (what CI runs)
#
# Build output and native parts live outside the checkout, in
# $(FLIGHTLOG_CACHE), so a fresh clone reuses an earlier build.

FLIGHTLOG_CACHE ?= $(HOME)/.cache/flightlog
export FLIGHTLOG_CACHE
export CARGO_TARGET_DIR ?= $(FLIGHTLOG_CACHE)/target
BIN := $(CARGO_TARGET_DIR)/debug/flightlog
export FLIGHTLOG_BIN ?= $(BIN)
VENV := $(FLIGHTLOG_CACHE)/venv
export FLIGHTLOG_PYTHON ?= $(VENV)/bin/python

# `make run` prints this key and uses it for the demo; set your own for
# anything but a local try-out.
FLIGHTLOG_BOOTSTRAP_KEY ?= local-demo-admin-key
DATA_DIR ?= ./data
LISTEN ?= 127.0.0.1:4318

.PHONY: run test setup build bench-build bench bench-search bench-server bench-otlp-grpc bench-otlp pyclients browser

run: setup build
	@echo "Admin key for this local demo: $(FLIGHTLOG_BOOTSTRAP_KEY)"
	FLIGHTLOG_BOOTSTRAP_KEY=$(FLIGHTLOG_BOOTSTRAP_KEY) $(BIN) serve --data-dir $(DATA_DIR) --listen $(LISTEN) --demo \
		--session-budget 0.05 --agent-budget data-pipeline=0.50

# The end-to-end suite runs twice: on the embedded engine, and in server
# mode against a ClickHouse server (the flightlog-chdb-http fixture).
test: setup build pyclients browser
	PYTHONPATH=clients/python $(FLIGHTLOG_PYTHON) -m unittest discover -s clients/python/tests
	cargo nextest run --workspace --no-fail-fast
	FLIGHTLOG_TEST_BACKEND=server cargo nextest run -p flightlog-tests --no-fail-fast

setup:
	@scripts/setup-native.sh

build:
	cargo build --workspace --bins

# The real Python clients the end-to-end tests drive, pinned.
pyclients:
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	@$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt

# Headless Chromium (Debian's) and playwright-core (npm, pinned) for the
# browser tests; playwright's own browser download is not used.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	@test -d tests/browser/node_modules/playwright-core || npm install --prefix tests/browser --no-audit --no-fund --silent

# Benchmarks use the release profile (not built by `make test` or CI):
# flightlog-bench starts the release `flightlog` beside it as the server.
BENCH := $(CARGO_TARGET_DIR)/release/flightlog-bench --flightlog-bin $(CARGO_TARGET_DIR)/release/flightlog
bench-build:
	cargo build --release -p flightlog-bench -p flightlog

# Ingest throughput, timeline and page latency, verify, bundles, peak RSS.
bench: setup bench-build
	$(BENCH) ingest

# The same in server mode (the ClickHouse HTTP fixture), directly to the
# writer and through a second process that forwards to it.
bench-server: setup bench-build
	$(BENCH) ingest --server-mode
	$(BENCH) ingest --server-mode --through-standby

# OTLP over gRPC beside OTLP/HTTP, the same spans, one server, one run.
bench-otlp-grpc: setup bench-build
	$(BENCH) otlp-grpc

# Embedding throughput, vector search at 100k and 1M points, indexer lag.
bench-search: setup bench-build
	$(BENCH) search

# OTLP ingest against Arize Phoenix, same payloads, same run.
bench-otlp: setup pyclients bench-build
	$(BENCH) otlp
