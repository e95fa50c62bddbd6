"""Server-Sent Events framing (WHATWG HTML §9.2), done once per message rather than once per client."""

from __future__ import annotations

RETRY_MS = 3000


def encode_event(event: str, data: str, event_id: str | None = None) -> bytes:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    # A newline inside data would end the field; each line of it gets its own `data:` field instead.
    lines.extend(f"data: {line}" for line in data.splitlines() or [""])
    return ("\n".join(lines) + "\n\n").encode()


def retry(ms: int = RETRY_MS) -> bytes:
    return f"retry: {ms}\n\n".encode()


def comment(text: str) -> bytes:
    return "".join(f": {line}\n" for line in text.splitlines() or [""]).encode() + b"\n"


HEARTBEAT = comment("keep-alive")
