"""One function of the topology in a process of its own, wired to its local trigger:
`python -m local.runner FUNCTION [--port N]`, or `--asgi module:app --port N` for a plain ASGI service."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
from collections.abc import Callable
from typing import Any

import uvicorn

from local.apigw import build_app
from local.gc_policy import freeze_survivors
from local.sources import lane_sources, run_queue_source, run_schedule
from shared.http_server import ProblemH11Protocol
from shared.topology import FUNCTIONS, HttpApi, QueueSource, Schedule, StreamingUrl, function, queue


def load_handler(dotted: str) -> Callable[[dict[str, Any], Any], Any]:
    module, _, name = dotted.rpartition(".")
    handler: Callable[[dict[str, Any], Any], Any] = getattr(importlib.import_module(module), name)
    return handler


def serve(app: Any, port: int) -> None:
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1,
                http=ProblemH11Protocol)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="local.runner")
    parser.add_argument("function", nargs="?")
    parser.add_argument("--asgi")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.asgi:
        serve(args.asgi, args.port)
        return
    fn = function(args.function)
    # What the Lambda runtime sets; Powertools keys its event-loop handling off LAMBDA_TASK_ROOT.
    os.environ.update({"LAMBDA_TASK_ROOT": os.getcwd(), "AWS_LAMBDA_FUNCTION_NAME": f"steadfast-{fn.name}",
                       "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb)})
    trigger = fn.trigger
    if isinstance(trigger, HttpApi):
        origins = tuple(filter(None, os.environ.get("STEADFAST_CORS_ORIGINS", "").split(",")))
        joined = tuple((f, load_handler(f.entry)) for f in FUNCTIONS
                       if isinstance(f.trigger, HttpApi) and f.trigger.shares_api == fn.name)
        # An API's invocations are short: what a full collection finds alive is its init (local.gc_policy).
        # Not the streaming app's, whose sessions live for minutes and may leave cycles behind when they end.
        importlib.import_module(fn.module)
        freeze_survivors()
        serve(build_app(fn, load_handler(fn.entry), origins, joined), args.port)
    elif isinstance(trigger, StreamingUrl):
        serve(trigger.asgi_app, args.port)
    elif isinstance(trigger, QueueSource):
        run_queue_source(fn, load_handler(fn.entry), lane_sources(queue(trigger.queue), os.environ))
    elif isinstance(trigger, Schedule):
        rate = float(os.environ.get(trigger.local_rate_env or "", "") or trigger.local_rate_s)
        run_schedule(fn, load_handler(fn.entry), rate)


if __name__ == "__main__":
    main()
