# The two commands a newcomer needs are `make dev` and `make test`; everything they need is
# installed by the targets themselves, under target/ (nothing global).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
TEST_VENV := target/py/test
TEST_TOOLS := $(TEST_VENV)/.installed

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# Extra flags for `make dev`, e.g. `make dev ARGS="--fault-rate 0.2"`.
ARGS ?=

.PHONY: dev
dev: ## Run the whole service locally (no AWS, no Polygon key): ws://127.0.0.1:8080/local
	cargo run --locked --package stocksctl -- local $(ARGS)

.PHONY: test
test: lint $(TEST_TOOLS) ## Run every test (installs moto into target/py/test first)
	MOTO_SERVER=$(CURDIR)/$(TEST_VENV)/bin/moto_server cargo test --workspace --locked

.PHONY: lint
lint: ## cargo fmt --check and clippy with warnings as errors
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

.PHONY: fmt
fmt: ## Format the code
	cargo fmt --all

$(TEST_TOOLS): scripts/requirements-test.txt
	@echo "==> installing test tools into $(TEST_VENV)"
	$(PYTHON) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/pip install --quiet --disable-pip-version-check -r $<
	touch $@
