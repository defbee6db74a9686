# omni: every thing a person can do, one target each. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY      := .venv/bin/python
PIP     := .venv/bin/pip
PACKAGES := libs/schemas libs/service $(sort $(dir $(wildcard services/*/pyproject.toml tools/*/pyproject.toml)))
STAMP   := .venv/.installed-$(shell cat requirements/*.txt $(wildcard libs/*/pyproject.toml services/*/pyproject.toml) 2>/dev/null | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: lock chart-sync help install infra up down demo test lint typecheck schemas bench faults migrate topics clean status

help: ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP):
	@test -x $(PY) || python3 -m venv .venv
	@$(PIP) install -q --upgrade pip
	@$(PIP) install -q -c requirements/constraints.txt -r requirements/dev.txt $(addprefix -e ,$(PACKAGES))
	@rm -f .venv/.installed-*; touch $(STAMP)

install: $(STAMP) ## create .venv, install every package (editable), the dev tools, the servers and helm
	@deploy/local/infra.sh install
	@deploy/tools/install-helm.sh >/dev/null

lock: install ## re-pin the container images' dependencies (deploy/docker/requirements.lock)
	@deploy/docker/lock.sh

chart-sync: ## copy config/, the Prometheus rules and the dashboard into the Helm chart
	@deploy/tools/sync-chart-files.sh

infra: install ## start Kafka, PostgreSQL and Redis; create topics; apply migrations
	@deploy/local/infra.sh up
	@$(PY) -m omni_service.topics
	@$(PY) -m omni_service.migrate

topics: install ## create the contract's Kafka topics where missing
	@$(PY) -m omni_service.topics

migrate: install ## apply every service's SQL migrations
	@$(PY) -m omni_service.migrate

up: infra ## start infra and all six services in the background; returns once every /readyz is 200
	@deploy/local/services.sh up

down: ## stop all services and the infrastructure
	@deploy/local/services.sh down
	@deploy/local/infra.sh down

status: ## what is running
	@deploy/local/infra.sh status; deploy/local/services.sh status

demo: up ## run the pipeline with simulated traffic on every channel and print the KPIs
	@$(PY) -m omni_sim demo

lint: install ## ruff (lint + format check)
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .

typecheck: install ## mypy: strict on libs/ and every domain/, plain elsewhere
	@.venv/bin/mypy --strict libs/schemas/src libs/service/src $(wildcard services/*/src/*/domain tools/*/src/*/domain)
	@.venv/bin/mypy $(wildcard services/*/src tools/*/src)

schemas: install ## regenerate JSON Schemas, golden examples and the AsyncAPI document
	@$(PY) -m omni_schemas._generate

test: infra lint typecheck ## install, start real servers, lint, type-check and run the whole suite
	@$(PY) -m omni_schemas._generate --check
	@$(PY) -m pytest -n 2 --dist loadfile -q $(PYTEST_ARGS) $(wildcard libs services tests tools)

bench: infra ## run every benchmark; lines on stdout and .run/bench.json
	@rm -f .run/bench.json
	@set -e; for f in $(wildcard services/*/bench/bench_*.py tests/bench/bench_*.py); do \
	  echo "== $$f"; $(PY) $$f; done
	@$(PY) -c "import json; r=json.load(open('.run/bench.json')); print(f'{len(r)} results, {sum(x[\"met\"] for x in r)} targets met; .run/bench.json')"

faults: up ## kill and restart every service and server under load; check nothing was lost
	@$(PY) -m omni_sim faults

clean: ## stop everything and delete local state (.run), keeping cached Kafka jars
	@deploy/local/services.sh down
	@deploy/local/infra.sh clean
