"""The `steadfast` command line (SPEC §1)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from local import cli_schedules, cli_sources, cli_workflows
from local.cli_common import ApiError, connect, job_spec

if TYPE_CHECKING:
    from local.client import Client
    from shared.topology import Function, HttpApi

TERMINAL = {"completed", "failed", "dead", "cancelled"}


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2))


def _job_line(job: dict[str, Any]) -> str:
    return (f"{job['id']}  {job['status']:<10} attempts={job['attempts']}/{job['max_attempts']}"
            f"  {job['request']['method']} {job['request']['url']}")


def _local_env() -> None:
    """Point boto3 at the running local stack (for commands that act on it directly)."""
    from local.stack import StackState

    state = StackState.load()
    if state is None and not os.environ.get("AWS_ENDPOINT_URL"):
        raise SystemExit("steadfast: no local stack is running here (start it with `make dev`)")
    if state is not None:
        # The running stack's own settings win over whatever the shell has (an AWS_ENDPOINT_URL left
        # over from another stack would act on the wrong one); without a stack the shell's are used.
        os.environ.update(state.function_env)


def cmd_dev(_: argparse.Namespace) -> int:
    from local.cloud import run

    return run()


def cmd_keys_create(args: argparse.Namespace) -> int:
    _local_env()
    from shared.config import env
    from shared.tenants import TenantStore, new_api_key

    key = new_api_key()
    TenantStore(env().tenants_table).add_key(args.tenant, key)
    print(key)
    return 0


def cmd_keys_signing_secret(args: argparse.Namespace) -> int:
    _local_env()
    from shared.config import env
    from shared.signing import new_secret
    from shared.tenants import TenantStore

    secret = new_secret()
    TenantStore(env().tenants_table).set_signing_secret(args.tenant, secret)
    print(secret)
    return 0


def cmd_invoke(args: argparse.Namespace) -> int:
    _local_env()
    from local.runner import load_handler
    from local.sources import scheduled_event
    from shared.topology import FUNCTIONS, HttpApi, QueueSource, Schedule, function

    try:
        fn = function(args.function)
    except KeyError:
        names = ", ".join(f.name for f in FUNCTIONS)
        raise SystemExit(f"steadfast: unknown function {args.function!r} (one of: {names})") from None
    if fn.handler is None:
        raise SystemExit(f"steadfast: {fn.name} is served over HTTP by the running stack, not invoked")
    if args.event:
        event = _event_file(args.event)
    elif isinstance(fn.trigger, Schedule):
        event = scheduled_event(fn)
    elif isinstance(fn.trigger, QueueSource):
        event = None  # one batch of what waits in its queue, below
    else:
        assert isinstance(fn.trigger, HttpApi)
        event = synthetic_request(fn.trigger)
        if event.get("pathParameters"):
            method = event["requestContext"]["http"]["method"]
            print(f"steadfast: no --event: invoking {fn.name} with a synthetic {method} {event['rawPath']} (made-up "
                  "ids; --event FILE sends a real request)", file=sys.stderr)
    if fn.name == "poller" and not args.event:
        event["lease_wait_s"] = POLL_LEASE_WAIT_S  # a running stack's cycle holds the lease for < 1 s
    log = _invoke_log(fn.name, args.verbose)
    try:
        # The function's JSON logs, EMF metrics and warnings go to its log file unless --verbose: the
        # terminal shows the result, or one line saying why there is none.
        with _into(log):
            result = _invoke(fn, load_handler(fn.entry), event)
    except Exception as exc:
        if log:
            import traceback

            traceback.print_exc(file=log)
        where = f"; its log: {log.name}" if log else ""
        raise SystemExit(f"steadfast: {fn.name} failed: {type(exc).__name__}: {exc}{where}") from None
    finally:
        if log:
            log.close()
    _print(result)
    if fn.name == "poller" and isinstance(result, dict) and not result.get("cycles"):
        print(f"steadfast: no poll ran: another poll cycle held the lease for {POLL_LEASE_WAIT_S:.0f} s",
              file=sys.stderr)
        return 1
    return 0


POLL_LEASE_WAIT_S = 15.0


def synthetic_request(api: HttpApi) -> dict[str, Any]:
    """A payload-2.0 request for one of the function's own routes: `GET /v1/health` where it serves it, else
    its first route with made-up ids (`/v1/ingest/src_synthetic`), so that the function answers as it would
    for that route rather than being handed a path it does not serve."""
    import re

    route = next((r for r in api.routes if (r.method, r.path) == ("GET", "/v1/health")), api.routes[0])
    params = {name: f"{_ID_PREFIX.get(route.path, 'x')}_synthetic" for name in re.findall(r"\{(\w+)\}", route.path)}
    path = re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], route.path)
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": f"{route.method} {route.path}", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json"} if route.method == "POST" else {},
        "requestContext": {"http": {"method": route.method, "path": path}, "stage": "$default",
                           "requestId": "local", "domainName": "127.0.0.1"},
        "isBase64Encoded": False}
    if params:
        event["pathParameters"] = params
    if route.method == "POST":
        event["body"] = "{}"
    return event


# The id prefix of a route's resource, for a synthetic request's made-up id.
_ID_PREFIX = {"/v1/ingest/{id}": "src"}


def _invoke(fn: Function, handler: Callable[[dict[str, Any], Any], Any], event: dict[str, Any] | None) -> Any:
    """The function's result for `event`; without one, a queue consumer (the worker) takes one batch from its
    queue as its event-source mapping would, and when nothing waits there, a synthetic message naming no job
    (the worker acknowledges it as stale), so that the function still runs once."""
    from local.lambda_context import LocalContext

    context = LocalContext(fn.name, fn.timeout_s, fn.memory_mb)
    if event is not None:
        return handler(event, context)
    from local.sources import invoke_once, lane_sources, sqs_event
    from shared.topology import QueueSource, queue

    assert isinstance(fn.trigger, QueueSource)
    lanes = lane_sources(queue(fn.trigger.queue), os.environ)
    result = invoke_once(fn, handler, lanes)
    if result is None:
        print(f"steadfast: no message waits in the {fn.trigger.queue} queues: invoking {fn.name} with a "
              "synthetic one that names no job", file=sys.__stderr__)
        synthetic = {"MessageId": "synthetic", "ReceiptHandle": "synthetic", "MD5OfBody": "",
                     "Body": json.dumps({"job_id": "job_synthetic", "tenant": "synthetic"}),
                     "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))}}
        result = handler(sqs_event([synthetic], "arn:aws:sqs:us-east-1:000000000000:synthetic"), context)
    return result


@contextlib.contextmanager
def _into(log: TextIO | None) -> Iterator[None]:
    if log is None:
        yield
        return
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        yield


def _invoke_log(name: str, verbose: bool) -> TextIO | None:
    """Where `invoke` sends the function's logs: the terminal with --verbose, else `.steadfast/logs/`."""
    if verbose:
        return None
    from local.stack import home

    logs = home() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return (logs / f"invoke-{name}.log").open("a")


def cmd_jobs_submit(args: argparse.Namespace) -> int:
    spec = job_spec(args)
    if args.depends_on:
        spec["depends_on"] = args.depends_on
    if args.ordering_key:
        spec["ordering_key"] = args.ordering_key
    if args.priority:
        spec["priority"] = args.priority
    job = connect().submit(spec, args.idempotency_key)
    print(job["id"] if args.quiet else _job_line(job))
    return 0


def cmd_jobs_get(args: argparse.Namespace) -> int:
    client = connect()
    job = client.get(args.id)
    job["attempt_history"] = client.attempts(args.id)
    _print(job)
    return 0


def cmd_jobs_list(args: argparse.Namespace) -> int:
    page = connect().list(args.status, args.limit, args.cursor)
    for job in page["items"]:
        print(_job_line(job))
    if page.get("next_cursor"):
        print(f"(more: --cursor {page['next_cursor']})")
    return 0


def _show(job: dict[str, Any], client: Client, seen: int, out: WatchOutput) -> int:
    attempts = client.attempts(job["id"]) if job["attempts"] > seen else []
    for a in attempts[seen:]:
        delay = f", next in {a['next_delay_s']:.1f}s" if a.get("next_delay_s") is not None else ""
        out.line(f"  attempt {a['n']} → {a['outcome']} ({a.get('status_code') or a.get('error')}, "
                 f"{a['duration_ms']} ms{delay})", a["outcome"])
    out.line(f"{time.strftime('%H:%M:%S')} {job['status']}", job["status"])
    if job["status"] in TERMINAL and job.get("result"):
        r = job["result"]
        out.line(f"  result: HTTP {r['status_code']} in {r['duration_ms']} ms: {r['body'][:200]}")
    out.waiting(job)
    return max(seen, len(attempts))


def _waiting_for(job: dict[str, Any]) -> str:
    """What a job that has not ended waits for, in words (the live line of `jobs watch`)."""
    status, due = job["status"], job.get("next_attempt_at")
    if status == "waiting":
        return "waiting for the jobs it depends on"
    if status == "running":
        return f"attempt {job['attempts'] + 1} in flight"
    if due:
        from datetime import datetime

        left = (datetime.fromisoformat(due.replace("Z", "+00:00")) - datetime.now().astimezone()).total_seconds()
        if left > 0.5:
            return f"{status}: next attempt in {left:.0f} s"
    return f"{status}: waiting for a worker"


class WatchOutput:
    """Plain lines (piped, or NO_COLOR-style consumers): exactly what was printed before."""

    def line(self, text: str, kind: str | None = None) -> None:
        print(text, flush=True)

    def waiting(self, job: dict[str, Any]) -> None:
        return None

    def close(self) -> None:
        return None


class LiveWatchOutput(WatchOutput):
    """In a terminal: the same lines, coloured by status, under a spinner line that says what the job waits for
    (rich's status: its own thread animates it while the stream is quiet)."""

    COLOURS = {"completed": "green", "success": "green", "failed": "red", "dead": "red", "permanent": "red",
               "cancelled": "bright_black", "retrying": "yellow", "retryable": "yellow", "running": "cyan"}

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(highlight=False, soft_wrap=True)
        self.status = self.console.status("connecting to the job stream…", spinner="dots")
        self.status.start()
        self.started = time.monotonic()
        self.job: dict[str, Any] | None = None

    def line(self, text: str, kind: str | None = None) -> None:
        from rich.text import Text

        self.console.print(Text(text, style=self.COLOURS.get(kind or "", "")))

    def waiting(self, job: dict[str, Any]) -> None:
        if job["status"] in TERMINAL:
            self.status.stop()
        else:
            self.status.update(f"{_waiting_for(job)} · watching for {time.monotonic() - self.started:.0f} s")

    def close(self) -> None:
        self.status.stop()


def cmd_jobs_watch(args: argparse.Namespace) -> int:
    import httpx

    client = connect()
    out = LiveWatchOutput() if sys.stdout.isatty() and os.environ.get("TERM") != "dumb" else WatchOutput()
    seen, job = 0, None
    try:
        try:
            for job in client.watch(args.id):
                seen = _show(job, client, seen, out)
                if job["status"] in TERMINAL:
                    return 0 if job["status"] == "completed" else 2
        except (httpx.HTTPError, httpx.InvalidURL):
            out.line("(stream app unreachable; polling)")
        last = job["status"] if job else None
        while True:
            job = client.get(args.id)
            if job["status"] != last or job["attempts"] > seen:
                seen, last = _show(job, client, seen, out), job["status"]
            else:
                out.waiting(job)
            if job["status"] in TERMINAL:
                return 0 if job["status"] == "completed" else 2
            time.sleep(0.5)
    finally:
        out.close()


def cmd_jobs_cancel(args: argparse.Namespace) -> int:
    print(_job_line(connect().cancel(args.id)))
    return 0


def cmd_jobs_retry(args: argparse.Namespace) -> int:
    print(_job_line(connect().retry(args.id)))
    return 0


def cmd_dlq_list(args: argparse.Namespace) -> int:
    page = connect().list("dead", args.limit)
    for job in page["items"]:
        print(f"{_job_line(job)}  last_error={job.get('last_error')}")
    if not page["items"]:
        print("the dead-letter queue is empty")
    return 0


def cmd_dlq_redrive(args: argparse.Namespace) -> int:
    n = connect().redrive(args.window, args.limit)
    print(f"redriven: {n} (spread over {args.window}s)")
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("steadfast")
    except PackageNotFoundError:
        return "unknown"


class _VersionAction(argparse.Action):
    """`--version`, read from the package metadata only when asked (importlib.metadata costs ≈0.2 s)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"{parser.prog} {_version()}")
        parser.exit()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="steadfast", description="Reliable HTTP jobs and live inverter telemetry.")
    p.add_argument("--version", action=_VersionAction, help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("dev", help="run the whole stack locally").set_defaults(fn=cmd_dev)
    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys_command", required=True)
    kc = keys.add_parser("create", help="create an API key for a tenant on the local stack")
    kc.add_argument("--tenant", required=True, help="the tenant the key belongs to")
    kc.set_defaults(fn=cmd_keys_create)
    ks = keys.add_parser("signing-secret", help="give a tenant a new Standard Webhooks signing secret (whsec_…)")
    ks.add_argument("--tenant", required=True, help="the tenant whose outbound calls are signed")
    ks.set_defaults(fn=cmd_keys_signing_secret)
    inv = sub.add_parser("invoke", help="invoke a function once, locally")
    inv.add_argument("function", help="the function to run: submit, worker, poller, sweeper, scheduler, …")
    inv.add_argument("--event", help="a JSON file with the event (default: a synthetic one)")
    inv.add_argument("--verbose", "-v", action="store_true",
                     help="show the function's JSON logs here (default: in .steadfast/logs/invoke-FUNCTION.log)")
    inv.set_defaults(fn=cmd_invoke)

    jobs = sub.add_parser("jobs", help="HTTP jobs").add_subparsers(dest="jobs_command", required=True)
    s = jobs.add_parser("submit", help="submit an HTTP request as a job")
    s.add_argument("url", help="the URL the job calls")
    s.add_argument("--method", "-X", default="POST", help="HTTP method (default POST)")
    s.add_argument("--data", "-d", help="request body (or @file)")
    s.add_argument("--header", "-H", action="append", help="K:V, repeatable")
    s.add_argument("--max-attempts", type=int, help="attempts before the job is dead (default 5)")
    s.add_argument("--delay", type=float, help="seconds before the first attempt")
    s.add_argument("--idempotency-key", help="the same key and body again returns the same job")
    s.add_argument("--depends-on", action="append", metavar="ID", help="a job that must complete first, repeatable")
    s.add_argument("--ordering-key", metavar="K",
                   help="run after this tenant's earlier jobs with the same key ended")
    s.add_argument("--priority", choices=["high", "normal", "low"],
                   help="which waiting job goes first under contention (default normal; aging promotes)")
    s.add_argument("--quiet", "-q", action="store_true", help="print only the job id")
    s.set_defaults(fn=cmd_jobs_submit)
    for name, fn, what in (("get", cmd_jobs_get, "show a job and its attempts"),
                           ("watch", cmd_jobs_watch, "follow a job live until it ends (SSE)"),
                           ("cancel", cmd_jobs_cancel, "cancel a job that has not ended"),
                           ("retry", cmd_jobs_retry, "start a failed or dead job again")):
        c = jobs.add_parser(name, help=what)
        c.add_argument("id", help="the job id (job_…)")
        c.set_defaults(fn=fn)
    ls = jobs.add_parser("list", help="list this tenant's jobs, newest first")
    ls.add_argument("--status", choices=["waiting", "pending", "running", "retrying", "completed", "failed", "dead",
                                         "cancelled"], help="only jobs in this status")
    ls.add_argument("--limit", type=int, default=50, help="jobs per page (default 50)")
    ls.add_argument("--cursor", help="the next page: the cursor the previous page printed")
    ls.set_defaults(fn=cmd_jobs_list)

    cli_schedules.add_parser(sub)
    cli_workflows.add_parser(sub)

    dlq = sub.add_parser("dlq", help="dead letters").add_subparsers(dest="dlq_command", required=True)
    dl = dlq.add_parser("list", help="list dead jobs")
    dl.add_argument("--limit", type=int, default=50, help="jobs per page (default 50)")
    dl.set_defaults(fn=cmd_dlq_list)
    dr = dlq.add_parser("redrive", help="send dead jobs back, spread over a window")
    dr.add_argument("--window", type=int, default=60, help="spread the redrive over this many seconds")
    dr.add_argument("--limit", type=int, default=1000, help="at most this many jobs (default 1000)")
    dr.set_defaults(fn=cmd_dlq_redrive)
    cli_sources.add_parsers(sub)
    _name_the_commands(p)
    return p


def _name_the_commands(p: argparse.ArgumentParser) -> None:
    """A missing command is named by the commands there are (`{submit,get,…}`), not by the parser's own
    dest ("the following arguments are required: jobs_command")."""
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            action.metavar = "{" + ",".join(action.choices) + "}"
            for child in action.choices.values():
                _name_the_commands(child)


def _event_file(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise SystemExit(f"steadfast: cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SystemExit(f"steadfast: {path} is not JSON: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except ApiError as exc:
        print(f"steadfast: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # a file named on the command line, a port, a process
        print(f"steadfast: {exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", file=sys.stderr)
        return 1
    except ValueError as exc:  # JSON or a value that does not parse
        print(f"steadfast: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        # A user never sees a traceback; STEADFAST_DEBUG=1 shows it for a bug report.
        if os.environ.get("STEADFAST_DEBUG"):
            raise
        print(f"steadfast: unexpected error ({type(exc).__name__}: {exc}); rerun with STEADFAST_DEBUG=1 "
              "for the traceback", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
