#!/usr/bin/env bash
# `make test-localstack`: the jobs integration suite with SQS on LocalStack and DynamoDB on moto.
# LocalStack (localstack-core from PyPI, with the runtime extra) needs CPython 3.12+, so it gets its own
# virtualenv under pyenv's 3.13 (.venv-localstack); it runs on the host (no Docker) serving SQS only,
# on a port of its own. boto3 reads AWS_ENDPOINT_URL_SQS before AWS_ENDPOINT_URL, so SQS calls of the
# local stack (and of every function process it starts) go to LocalStack, while DynamoDB stays on the
# stack's embedded moto server (AWS_ENDPOINT_URL, set by the stack). Tables are waited for until ACTIVE
# (local/resources.py). LocalStack is stopped when the suite ends, however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

LS_VENV=.venv-localstack
PY313="${LOCALSTACK_PYTHON:-$(pyenv root 2>/dev/null)/versions/3.13.0/bin/python3}"
if [ ! -x "$LS_VENV/bin/python" ]; then
  [ -x "$PY313" ] || { echo "test-localstack: needs CPython 3.13 (pyenv install 3.13.0, or LOCALSTACK_PYTHON=...)" >&2; exit 2; }
  "$PY313" -m venv "$LS_VENV"
fi
# LocalStack 2026.3 pins nothing of these; newer ones break its start-up (cbor2 6, pyopenssl 25).
"$LS_VENV/bin/python" -m pip install -q --disable-pip-version-check \
  "localstack-core[runtime]==2026.3.0" "cbor2<6" "pyopenssl>=24.3,<24.4" "cryptography>=44,<45" service-identity

PORT="${LOCALSTACK_PORT:-$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
STATE=$(mktemp -d)
GATEWAY_LISTEN="127.0.0.1:$PORT" SERVICES=sqs DISABLE_EVENTS=1 LOCALSTACK_VOLUME_DIR="$STATE/volume" \
  FILESYSTEM_ROOT="$STATE/fs" "$LS_VENV/bin/python" -m localstack.runtime.main >"$STATE/localstack.log" 2>&1 &
LS_PID=$!
trap 'kill "$LS_PID" 2>/dev/null; wait "$LS_PID" 2>/dev/null; rm -rf "$STATE"' EXIT

for _ in $(seq 1 120); do
  if curl -sf "http://127.0.0.1:$PORT/_localstack/health" | grep -q '"sqs": "\(available\|running\)"'; then break; fi
  kill -0 "$LS_PID" 2>/dev/null || { echo "test-localstack: LocalStack exited:" >&2; tail -20 "$STATE/localstack.log" >&2; exit 1; }
  sleep 1
done
echo "LocalStack $(curl -sf "http://127.0.0.1:$PORT/_localstack/info" | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["version"])') serves SQS on 127.0.0.1:$PORT"

started=$(date +%s)
AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$PORT" .venv/bin/python -m pytest -q tests/integration/jobs "$@"
echo "test-localstack: the jobs suite on SQS/LocalStack + DynamoDB/moto took $(( $(date +%s) - started )) s"
