"""`steadfast sources …` and `steadfast events …`: inbound webhook sources and their event log (SPEC §1)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from local.cli_common import connect

SCHEMES = ("stripe", "standard-webhooks", "github", "shopify", "hmac-sha256", "none")


def _secret(value: str | None) -> str | None:
    """`-` reads the secret from stdin and `@file` from a file, so that it stays out of shell history."""
    if value == "-":
        return sys.stdin.readline().strip()
    if value and value.startswith("@"):
        return Path(value[1:]).read_text().strip()
    return value


def _source_line(s: dict[str, Any]) -> str:
    targets = ", ".join(d["url"] for d in s["destinations"])
    return f"{s['id']}  {s['name']:<16} {s['verify']['scheme']:<18} → {targets}\n    ingest: {s['ingest_url']}"


def _event_line(e: dict[str, Any]) -> str:
    dup = f"  duplicates={e['duplicates']}" if e["duplicates"] else ""
    return (f"{e['id']}  {e['received_at']}  {e.get('event_type') or '-':<28} "
            f"provider_id={e.get('provider_event_id') or '-'}  jobs={','.join(e['job_ids']) or '-'}{dup}")


def cmd_sources_create(args: argparse.Namespace) -> int:
    verify: dict[str, Any] = {"scheme": args.verify, "tolerance_s": args.tolerance}
    if (secret := _secret(args.secret)) is not None:
        verify["secret"] = secret
    if args.header:
        verify["header"] = args.header
    destinations = [{"url": url, "event_types": args.event_type or []} for url in args.to]
    spec = {"name": args.name, "verify": verify, "destinations": destinations, "dedup_window_s": args.dedup_window}
    source = connect().request("POST", "/v1/sources", json=spec)
    print(source["id"] if args.quiet else _source_line(source))
    return 0


def cmd_sources_list(args: argparse.Namespace) -> int:
    page = connect().request("GET", "/v1/sources", params=_page(args))
    for source in page["items"]:
        print(_source_line(source))
    if not page["items"]:
        print("no sources yet (steadfast sources create NAME --verify SCHEME --secret S --to URL)")
    _more(page)
    return 0


def _page(args: argparse.Namespace) -> dict[str, Any]:
    return {"limit": args.limit, **({"cursor": args.cursor} if args.cursor else {})}


def _more(page: dict[str, Any]) -> None:
    # As `jobs list` and `schedules list`: a longer list was cut at --limit without saying so.
    if page.get("next_cursor"):
        print(f"(more: --cursor {page['next_cursor']})")


def cmd_sources_get(args: argparse.Namespace) -> int:
    print(json.dumps(connect().request("GET", f"/v1/sources/{args.id}"), indent=2))
    return 0


def cmd_sources_delete(args: argparse.Namespace) -> int:
    connect().request("DELETE", f"/v1/sources/{args.id}")
    print(f"deleted {args.id}")
    return 0


def cmd_events_list(args: argparse.Namespace) -> int:
    page = connect().request("GET", f"/v1/sources/{args.source_id}/events", params=_page(args))
    for event in page["items"]:
        print(_event_line(event))
    if not page["items"]:
        print("no events yet")
    _more(page)
    return 0


def cmd_events_get(args: argparse.Namespace) -> int:
    print(json.dumps(connect().request("GET", f"/v1/sources/{args.source_id}/events/{args.event_id}"), indent=2))
    return 0


def cmd_events_replay(args: argparse.Namespace) -> int:
    out = connect().request("POST", f"/v1/sources/{args.source_id}/events/{args.event_id}/replay")
    print(" ".join(out["job_ids"]) or "no destination matches this event")
    return 0


def cmd_events_replay_range(args: argparse.Namespace) -> int:
    body = {k: v for k, v in {"since": args.since, "until": args.until, "window_s": args.window}.items()
            if v is not None}
    out = connect().request("POST", f"/v1/sources/{args.source_id}/replay", json=body)
    print(f"replayed: {out['replayed']} (spread over {args.window}s)")
    return 0


def add_parsers(sub: Any) -> None:
    sources = sub.add_parser("sources", help="inbound webhook sources").add_subparsers(
        dest="sources_command", required=True)
    c = sources.add_parser("create", help="a public ingest URL that verifies, stores and forwards a provider's events")
    c.add_argument("name")
    c.add_argument("--verify", required=True, choices=SCHEMES, help="the provider's signature scheme")
    c.add_argument("--secret", help="the provider's signing secret (or - for stdin, @file)")
    c.add_argument("--to", required=True, action="append", help="destination URL, repeatable")
    c.add_argument("--event-type", action="append", help="only these event types (suffix * allowed), repeatable")
    c.add_argument("--header", help="hmac-sha256: the header carrying the hex digest")
    c.add_argument("--tolerance", type=int, default=300, help="seconds a signed timestamp may be off")
    c.add_argument("--dedup-window", type=int, default=86_400, help="seconds a provider event id is remembered")
    c.add_argument("--quiet", "-q", action="store_true", help="print only the source id")
    c.set_defaults(fn=cmd_sources_create)
    ls = sources.add_parser("list")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--cursor", help="the next page, as the previous one printed it")
    ls.set_defaults(fn=cmd_sources_list)
    for name, fn in (("get", cmd_sources_get), ("delete", cmd_sources_delete)):
        one = sources.add_parser(name)
        one.add_argument("id")
        one.set_defaults(fn=fn)

    events = sub.add_parser("events", help="a source's event log").add_subparsers(dest="events_command",
                                                                                  required=True)
    el = events.add_parser("list")
    el.add_argument("source_id")
    el.add_argument("--limit", type=int, default=50)
    el.add_argument("--cursor", help="the next page, as the previous one printed it")
    el.set_defaults(fn=cmd_events_list)
    for name, fn in (("get", cmd_events_get), ("replay", cmd_events_replay)):
        one = events.add_parser(name)
        one.add_argument("source_id")
        one.add_argument("event_id")
        one.set_defaults(fn=fn)
    rr = events.add_parser("replay-range", help="replay every event received in a time range")
    rr.add_argument("source_id")
    rr.add_argument("--since", required=True, help="RFC 3339")
    rr.add_argument("--until", help="RFC 3339 (default: now)")
    rr.add_argument("--window", type=int, default=60, help="spread the replay over this many seconds")
    rr.set_defaults(fn=cmd_events_replay_range)
