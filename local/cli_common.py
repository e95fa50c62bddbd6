"""What every CLI module shares, importing nothing heavy: `steadfast --help` costs argparse only, and a
command pays for httpx and pydantic (≈1 s together on this machine) only when it calls the API."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.client import Client


class ApiError(Exception):
    """A problem+json answer, readable."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        detail = problem.get("detail") or problem.get("message") or ""
        # Status 0: no HTTP answer at all (the stack is not running, a timeout).
        head = f"{status} {problem.get('title', 'error')}" if status else str(problem.get("title", "error"))
        lines = [f"{head}: {detail}".rstrip(": ")]
        lines += [f"  {e.get('pointer') or e.get('parameter') or '(the body)'}: {e.get('detail', '')}"
                  for e in problem.get("errors", [])]
        super().__init__("\n".join(lines))


def connect() -> Client:
    """A client of the API the environment names (imported here, on first use)."""
    from local.client import Client

    return Client()


def job_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The job options that `jobs submit` and `schedules create` share, as a job spec. An option given is
    sent as given, also 0 (`--max-attempts 0` is the API's to refuse, not the CLI's to drop for the default)."""
    headers = {}
    for h in args.header or []:
        name, sep, value = h.partition(":")
        if not sep:
            raise SystemExit(f"steadfast: --header takes K:V, got {h!r}")
        headers[name.strip()] = value.strip()
    request: dict[str, Any] = {"url": args.url, "method": args.method.upper(), "headers": headers}
    if args.data is not None:
        request["body"] = Path(args.data[1:]).read_text() if args.data.startswith("@") else args.data
    if getattr(args, "timeout", None) is not None:
        request["timeout_s"] = args.timeout
    spec: dict[str, Any] = {"request": request}
    if args.max_attempts is not None:
        spec["retry"] = {"max_attempts": args.max_attempts}
    if args.delay is not None:
        spec["delay_s"] = args.delay
    return spec
