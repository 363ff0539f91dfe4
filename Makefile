# The one place for every command a person or CI runs. Versions come from uv.lock.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian's package; Playwright drives it (never `playwright install`, which downloads a browser).
CHROMIUM := /usr/bin/chromium

.DEFAULT_GOAL := help
.PHONY: help install demo test test-fast test-browser lint typecheck eval eval-identity train-de bench bench-scale bench-compare chaos deploy-base deploy-images deploy-test clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install the locked dependencies

demo: $(STAMP) ## run the pipeline on the bundled sample articles and print their summaries
	$(BIN)/newsflow demo

test: $(STAMP) ## lint, type-check and run the test suite (starts its own redis-server)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	@test -x $(CHROMIUM) || echo "NOTE: the console browser test will be SKIPPED: $(CHROMIUM) is not installed (make test-browser installs it)"
	$(BIN)/pytest -m "not slow" -p no:cacheprovider

test-browser: $(STAMP) ## install Debian's chromium (apt) when missing, run the console's browser test, refresh docs/screenshots
	@test -x $(CHROMIUM) || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
	NEWSFLOW_TEST_SCREENSHOTS=docs/screenshots $(BIN)/pytest tests/browser -m browser -p no:cacheprovider -ra

test-fast: $(STAMP) ## unit tests only
	$(BIN)/pytest tests/unit -q

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy --strict
	$(BIN)/mypy .

eval: $(STAMP) ## entity tagging quality on the en, es, fr and de dev sets: raw model and ours side by side; same-story precision/recall
	$(BIN)/newsflow eval ../shared/eval/conll2003_validation_docs.jsonl --compare-raw
	$(BIN)/newsflow eval ../shared/eval/conll2002-es-val_docs.jsonl --compare-raw
	$(BIN)/newsflow eval ../shared/eval/wikineural-fr-val_docs.jsonl --compare-raw
	$(BIN)/newsflow eval ../shared/eval/wikineural-de-val_docs.jsonl --compare-raw
	$(BIN)/newsflow eval-same-story ../shared/eval/conll2003_validation_docs.jsonl
	@$(MAKE) --no-print-directory eval-identity

eval-identity: $(STAMP) ## cross-document identity: B-cubed F1 of registry ids on the linked dev set (about 30 s)
	$(BIN)/pytest tests/integration/test_identity_eval.py -q -s -p no:cacheprovider

train-de: $(STAMP) ## train the German NER pipeline into services/enrich/models/de_newsflow_ner (~15 min)
	nice -n 10 $(BIN)/python -m services.enrich.training.train_de

bench: $(STAMP) ## throughput, latency and memory against a private redis-server; archive lookups at 10,000 articles
	$(BIN)/newsflow bench --archive 10000

bench-scale: $(STAMP) ## archive growth: lookups and Redis memory at 10k, 100k and 1M articles (~30 min); JSON last line
	$(BIN)/newsflow bench --archive-only --archive 10000,100000,1000000 --json

bench-compare: $(STAMP) ## bench BASE (a commit; default: the last commit before the architecture change) and this checkout back to back
	$(BIN)/newsflow bench-compare $(or $(BASE),5465da4)

chaos: $(STAMP) ## kill -9 services and restart Redis under load; prints lost/duplicate counts
	$(BIN)/pytest -m slow tests/chaos tests/integration/test_cluster.py -p no:cacheprovider -s

# Docker without an image registry (root; installs docker.io, docker-compose, debootstrap from
# Debian's packages when missing, starts dockerd when none runs): deploy/README.md.
deploy-base: $(STAMP) ## build the Debian base image locally (debootstrap, cached)
	nice -n 10 $(BIN)/python -m tests.deploy.live base

deploy-images: $(STAMP) ## build the base, app (newsflow:dev) and Redis images locally
	nice -n 10 $(BIN)/python -m tests.deploy.live images

deploy-test: $(STAMP) ## build the images, run the compose stack end to end; one JSON line
	@nice -n 10 $(BIN)/python -m tests.deploy.live test

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
