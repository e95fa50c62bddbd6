# Steadfast: `make dev` runs the whole stack locally; `make test` passes the tests.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: install dev test test-localstack localstack lint typecheck synth deploy bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

node_modules/.installed: package.json
	npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP)

dev: install
	$(BIN)/steadfast dev

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy shared functions local infra

# The Lambda dependencies are built first (skipped when built; pip's cache makes a rebuild quick) so that
# tests/infra/test_assets_import.py imports every function from its asset on a clean clone too.
test: install
	$(BIN)/ruff check .
	$(BIN)/mypy shared functions local infra
	$(BIN)/python -m infra.build_deps
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests

# The jobs integration suite with SQS on LocalStack (installed from PyPI into .localstack/venv under
# CPython >= 3.12) and DynamoDB on the embedded moto. Not part of `make test`: see the README.
test-localstack: install
	$(BIN)/python -m local.localstack_lane

# LocalStack alone in the foreground (SQS at 127.0.0.1:$(LOCALSTACK_PORT); 4566, its usual port, is the embedded moto's), for `AWS_ENDPOINT_URL_SQS=… make dev`.
LOCALSTACK_PORT ?= 4567
localstack: install
	$(BIN)/python -m local.localstack_lane --serve $(LOCALSTACK_PORT)

# STAGE names the deployment (default dev; prod/production keep their data). The CLI is the one pinned
# in package.json: the npm `latest` (3.x) cannot read aws-cdk-lib 2.275's cloud assembly.
synth: install node_modules/.installed
	node_modules/.bin/cdk synth --quiet -c stage=$${STAGE:-dev}

deploy: install node_modules/.installed
	node_modules/.bin/cdk deploy --all --require-approval never -c stage=$${STAGE:-dev}

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) cdk.out node_modules .steadfast .localstack bench/out
