"""What every CLI module shares, importing nothing heavy: `steadfast --help` costs argparse only, and a
command pays for httpx and pydantic (≈1 s together on this machine) only when it calls the API."""

from __future__ import annotations

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
