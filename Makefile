# DocQA developer commands. `make run` and `make test` need nothing but Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# Tests use their own Redis database so they never touch the data of a running `make run`.
TEST_REDIS_DB ?= 15
PYTEST_ARGS ?=

.PHONY: install run run-emulator run-oidc test lint format bench services-up services-down browser clean messages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# `make run WEB_CONCURRENCY=2`: two web processes behind the one port (docs/scaling.md).
run: install
	$(BIN)/python -m docqa.runstack

# The whole app against the local Moonshot emulator: extraction and streamed answers end to end
# without an API key (answers quote the best-matching sentence of your documents).
run-emulator: install
	DOCQA_EMULATOR=1 $(BIN)/python -m docqa.runstack

# The app with single sign-on through a local test OpenID Connect provider (tools/oidc_provider,
# on port 8766): "Sign in with Local test IdP" on the login page, then pick a test identity.
run-oidc: install
	DOCQA_LOCAL_OIDC=1 $(BIN)/python -m docqa.runstack

# Debian's Chromium for the Playwright browser tests (Playwright's own browser download
# cannot work offline). Installed only when missing.
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

# mypy with the Django plugin (pyproject.toml [tool.mypy]): a misspelt model field, lookup or
# attribute fails here. It needs no running server (docqa/typecheck_settings.py).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install browser lint
	$(BIN)/python -m docqa.local_services exec --redis-db $(TEST_REDIS_DB) -- $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m docqa.local_services exec --redis-db $(TEST_REDIS_DB) -- $(BIN)/python -m bench

services-up: install
	$(BIN)/python -m docqa.local_services up

services-down: install
	$(BIN)/python -m docqa.local_services down

# Regenerate translations (needs GNU gettext) and compile them with polib (no gettext needed).
messages: install
	$(BIN)/python -m docqa.local_services exec -- $(BIN)/python manage.py makemessages -l zh_Hans --ignore '.venv/*' --ignore 'var/*' --ignore 'tests/*'
	$(BIN)/python -m docqa.local_services exec -- $(BIN)/python manage.py makemessages -d djangojs -l zh_Hans --ignore '.venv/*' --ignore 'var/*' --ignore 'tests/*'
	$(BIN)/python -m apps.core.compile_messages

clean:
	rm -rf $(VENV) var
