# Two commands: `make run` and `make test`. Everything else is set up on the way.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HTMX_VERSION := 2.0.11
HTMX_NPM := .cache/npm/node_modules/htmx.org/dist/htmx.min.js
# The OpenID Provider the sign-in tests run under node (tests/oidc): pinned here only.
OIDC_PROVIDER_VERSION := 9.13.3
OIDC_NPM := .cache/npm/.oidc-provider-$(OIDC_PROVIDER_VERSION)
# axe-core checks every page for accessibility in the browser tests; this is its one pin.
AXE_VERSION := 4.14.1
AXE_NPM := .cache/npm/axe-core-$(AXE_VERSION).installed
PG_TEST_SERVER ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export FLASK_APP := wsgi

.PHONY: run test test-sqlite bench lint format vendor clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

# A real secret key for the local instance, made once and kept in instance/config.py.
instance/config.py:
	mkdir -p instance
	$(BIN)/python -c "import secrets; print('SECRET_KEY = %r' % secrets.token_hex(32))" > $@

run: $(VENV)/.installed instance/config.py
	$(BIN)/flask db upgrade
	@if [ ! -f instance/.demo-loaded ]; then $(BIN)/flask demo && touch instance/.demo-loaded; \
	else echo "Demo sign-ins: coordinator@example.org, faculty1..12@example.org, fellow1..6@example.org (password: demo-password)"; fi
	@echo "Serving on http://127.0.0.1:5000"
	$(BIN)/flask run --host 127.0.0.1 --port 5000

# htmx from the npm package at the pinned version: the browser tests serve it in place of
# the CDN so they run offline and the integrity hash is checked for real.
$(HTMX_NPM):
	@if command -v npm >/dev/null 2>&1; then \
		npm install --silent --no-audit --no-fund --prefix .cache/npm htmx.org@$(HTMX_VERSION); \
	else echo "npm not found: browser tests will be skipped (CI requires them)"; fi

# A real OpenID Provider for the tests of signing in with the hospital's identity provider.
$(OIDC_NPM):
	@if command -v npm >/dev/null 2>&1; then \
		npm install --silent --no-audit --no-fund --save-exact --prefix .cache/npm oidc-provider@$(OIDC_PROVIDER_VERSION) && touch $@; \
	else echo "npm not found: identity provider tests will be skipped (CI requires them)"; fi


# The stamp names the version, so changing the pin installs the new one.
$(AXE_NPM): | $(HTMX_NPM)
	@if command -v npm >/dev/null 2>&1; then \
		npm install --silent --no-audit --no-fund --save-exact --prefix .cache/npm axe-core@$(AXE_VERSION) \
		&& touch $@; \
	else echo "npm not found: the accessibility check will be skipped (CI requires it)"; fi


test: $(VENV)/.installed-dev $(HTMX_NPM) $(OIDC_NPM) $(AXE_NPM)
	@if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || $(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1)" 2>/dev/null; then \
		echo "PostgreSQL answers on 127.0.0.1:5432: the suite runs on SQLite and PostgreSQL"; \
		TEST_DATABASE_URL=$${TEST_DATABASE_URL:-$(PG_TEST_SERVER)} $(BIN)/pytest $(PYTEST_ARGS); \
	else \
		echo "PostgreSQL not reachable: the suite runs on SQLite only"; \
		$(BIN)/pytest $(PYTEST_ARGS); \
	fi

test-sqlite: $(VENV)/.installed-dev $(HTMX_NPM) $(OIDC_NPM) $(AXE_NPM)
	TEST_DATABASE_URL= $(BIN)/pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-dev $(HTMX_NPM)
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# A self-hosted copy of htmx for networks that block the CDN (then set HTMX_SELF_HOSTED = True).
vendor: $(HTMX_NPM)
	mkdir -p static/vendor
	cp $(HTMX_NPM) static/vendor/htmx-$(HTMX_VERSION).min.js

clean:
	rm -rf $(VENV) .cache .pytest_cache
