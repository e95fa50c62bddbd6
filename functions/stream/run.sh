#!/bin/sh
# Lambda handler of the stream function. The Lambda Web Adapter layer (AWS_LAMBDA_EXEC_WRAPPER=
# /opt/bootstrap) execs "$LAMBDA_TASK_ROOT/$_HANDLER", i.e. this script, then proxies every
# invocation to the port below and streams the response back (AWS_LWA_INVOKE_MODE=response_stream).
# Locally the same ASGI app runs under plain uvicorn, so what is tested there is what runs here.
set -eu
cd "${LAMBDA_TASK_ROOT:-$(dirname "$0")/../..}"
export PYTHONPATH="${LAMBDA_TASK_ROOT:-.}${PYTHONPATH:+:$PYTHONPATH}"
exec python -m uvicorn functions.stream.app:app \
  --host 127.0.0.1 --port "${PORT:-8080}" --http shared.http_server:ProblemH11Protocol \
  --no-access-log --timeout-graceful-shutdown 2
