# AIConexus: one command to install, run, test and benchmark.
#   make install   .venv with both packages (editable), the native verifier and the dev tools,
#                  pinned by requirements-dev.lock
#   make run       the gateway on 127.0.0.1:8000, in memory (STORAGE_TYPE=sqlite: on disk)
#   make test      the whole test suite, with coverage (artifacts/coverage/; COVERAGE=0: without)
#   make test-lowest  the smoke tests against the lowest dependency versions the packages allow
#   make test-newest  lint and fast tests against the newest releases, unpinned (reports, never fails)
#   make lint      ruff and mypy --strict (packages, tests and bench)
#   make bench     the benchmark: every figure, also in artifacts/bench.json (BENCH_QUICK=1: small)
# Docker: make gateway-build | gateway-start | gateway-stop | ... | cluster-test (see DOCKER_GATEWAY.md)

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# every optional extra of the gateway package (the dev venv tests them all)
GATEWAY_EXTRAS := $(shell sed -n '/^\[project.optional-dependencies\]/,/^\[/s/^\([a-z0-9_-]*\) *=.*/\1/p' gateway/pyproject.toml | paste -sd, -)
HOST   ?= 127.0.0.1
PORT   ?= 8000
# make run STORAGE_TYPE=sqlite keeps stored frames in ~/.aiconexus/gateway.db across restarts
STORAGE_TYPE ?= memory

.PHONY: install run test test-lowest test-newest lint format bench system-deps clean \
        gateway-build gateway-start gateway-stop gateway-restart gateway-status gateway-logs \
        gateway-health gateway-shell gateway-cleanup gateway-test gateway-verify cluster-test

install: $(STAMP)

# Every version comes from requirements-dev.lock (constraints), so a new release elsewhere
# cannot change what `make lint` or `make test` see; scripts/lock-dev.sh moves the lock.
# native/ (the gateway's `native` extra, a cffi extension against libsodium) is built, not
# editable: without a C compiler or libsodium's headers (make system-deps installs
# libsodium-dev) it installs without its extension and the gateway verifies with PyNaCl.
NATIVE_SOURCES := native/pyproject.toml native/setup.py \
  $(wildcard native/aiconexus_native/*.py native/aiconexus_native/*.pyi native/aiconexus_native/*.c)
$(STAMP): sdk/pyproject.toml gateway/pyproject.toml requirements-dev.txt requirements-dev.lock \
          $(NATIVE_SOURCES)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements-dev.lock \
	  -e ./sdk -e './gateway[$(GATEWAY_EXTRAS)]' ./native -r requirements-dev.txt
	@$(PY) -c 'import aiconexus_native as n; n.AVAILABLE or print("make install: the native verifier was not compiled (no C compiler or libsodium headers: make system-deps); PyNaCl verifies instead")'
	touch $(STAMP)

run: install
	STORAGE_TYPE=$(STORAGE_TYPE) $(VENV)/bin/aiconexus-gateway --host $(HOST) --port $(PORT)

# libsodium-dev: headers for the native verifier (native/), compiled by make install.
# The suite starts real servers: the gateway itself, and redis-server for the cluster tests.
# The status page test drives Debian's chromium with its chromedriver (skipped without them).
# The bridges' JavaScript client tests need @a2a-js/sdk and @modelcontextprotocol/sdk (npm ci,
# npm's download cache in .cache/npm; skipped without Node.js).
system-deps:
	@[ -f /usr/include/sodium.h ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing libsodium-dev (the headers the native verifier is compiled against)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsodium-dev >/dev/null; \
	  else echo "libsodium-dev is not installed: the native verifier will not be compiled (PyNaCl verifies instead)" >&2; fi; }
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing redis-server (needed by the cluster tests)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else echo "redis-server is required by the test suite: install it (e.g. apt-get install redis-server)" >&2; exit 1; fi; }
	@{ command -v chromium >/dev/null 2>&1 && [ -x /usr/bin/chromedriver ]; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium and chromium-driver (needed by the status page test)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "chromium and chromium-driver are not installed: the status page test will be skipped" >&2; fi; }
	@{ command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing nodejs and npm (the bridges' JavaScript client tests)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null || \
	      echo "nodejs and npm could not be installed: the JavaScript client tests will be skipped" >&2; \
	  else echo "nodejs and npm are not installed: the JavaScript client tests will be skipped" >&2; fi; }
	@if command -v npm >/dev/null 2>&1; then \
	  [ -d tests/bridges/a2a_js/node_modules/@a2a-js/sdk ] || { \
	    echo "installing the @a2a-js/sdk client of the A2A bridge test (npm ci)"; \
	    (cd tests/bridges/a2a_js && npm ci --no-audit --no-fund --silent --cache $(CURDIR)/.cache/npm); }; \
	  [ -d tests/bridges/mcp/node/node_modules/@modelcontextprotocol/sdk ] || { \
	    echo "installing the @modelcontextprotocol/sdk client of the MCP bridge test (npm ci)"; \
	    (cd tests/bridges/mcp/node && npm ci --no-audit --no-fund --silent --cache $(CURDIR)/.cache/npm); }; \
	fi
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing nginx (the load balancer of the cluster drain test)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null || \
	      echo "nginx could not be installed: the load balancer tests will be skipped" >&2; \
	  else echo "nginx is not installed: the load balancer tests will be skipped" >&2; fi; }

# Coverage of sdk/ and gateway/ over the suite, gateway subprocesses included ([tool.coverage]
# in pyproject.toml: parallel data files, patch = subprocess); the report is written to
# artifacts/coverage/ (html/, coverage.xml) and the run fails below its fail_under.
# tests/abuse runs after it, untraced: it asserts rates and latencies of a gateway under
# floods, which tracing the gateway and the flooding processes would distort.
COVERAGE ?= 1
COVERAGE_DIR := $(CURDIR)/artifacts/coverage
COV := COVERAGE_FILE=$(COVERAGE_DIR)/.coverage $(PY) -m coverage

test: system-deps install
ifeq ($(COVERAGE),0)
	$(PY) -m pytest
else
	@mkdir -p $(COVERAGE_DIR)
	$(COV) erase
	$(COV) run -m pytest --ignore=tests/abuse
	$(COV) combine --quiet
	$(COV) html --quiet
	$(COV) xml --quiet
	$(COV) report
	$(PY) -m pytest tests/abuse
endif

# Both packages with the lowest version of each dependency their bounds allow, in a venv of
# their own (.cache/lowest-venv), then the smoke tests (tests/smoke) against them.
test-lowest: system-deps
	bash scripts/ci/lowest-versions.sh

# The newest releases the bounds allow, without the lock: what would break (never fails).
test-newest:
	bash scripts/ci/newest-versions.sh

# mypy --strict over both packages and tests/ ([tool.mypy] in pyproject.toml), then bench/
# on its own: its scripts import each other as top-level modules (abuse, driver...), names
# that would clash with the test packages in one run.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	MYPYPATH=bench $(VENV)/bin/mypy bench

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: system-deps install
	$(PY) bench/run.py $(if $(BENCH_QUICK),--quick)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .cache/lowest-venv
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

gateway-build gateway-start gateway-stop gateway-restart gateway-status gateway-health gateway-shell gateway-cleanup:
	./gateway-docker.sh $(@:gateway-%=%)

gateway-logs:
	./gateway-docker.sh logs $(ARGS)

gateway-test:
	./test_docker_gateway.sh

gateway-verify:
	./verify_docker_setup.sh

cluster-test:
	./test_docker_cluster.sh
