# Gonghui — the two commands a fresh machine needs are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_MEMBERS ?= 2000
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: setup run test lint bench messages clean

$(BIN)/.installed: requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

local.env:
	$(PYTHON) scripts/gen_local_env.py local.env

setup: $(BIN)/.installed local.env

## Serve the platform with demo data on 127.0.0.1:8000 (SQLite), task worker included.
run: setup
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --members $(DEMO_MEMBERS) --if-empty
	$(BIN)/python manage.py demo_logins
	HOST=$(HOST) PORT=$(PORT) BIN=$(BIN) bash scripts/serve.sh

## Run the whole test suite (browser tests need /usr/bin/chromium; .ci/run installs it).
test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check gonghui bench scripts
	$(BIN)/mypy gonghui bench

## Seed 1,000,000 members on PostgreSQL and time the console member list.
bench: setup
	$(BIN)/python bench/seed_demo.py

messages: setup
	cd gonghui && ../$(BIN)/python ../manage.py makemessages -l en -l zh_Hans --ignore 'tests/*' --ignore 'static/*'
	$(BIN)/python scripts/fill_zh_catalogue.py gonghui/locale/zh_Hans/LC_MESSAGES/django.po
	cd gonghui && ../$(BIN)/python ../manage.py compilemessages

clean:
	rm -rf $(VENV) var
