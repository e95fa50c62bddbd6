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
        lines = [f"{status} {problem.get('title', 'error')}: {detail}".rstrip(": ")]
        lines += [f"  {e.get('pointer', '')}: {e.get('detail', '')}" for e in problem.get("errors", [])]
        super().__init__("\n".join(lines))


def connect() -> Client:
    """A client of the API the environment names (imported here, on first use)."""
    from local.client import Client

    return Client()
