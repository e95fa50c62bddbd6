"""`steadfast schedules …` (SPEC §1): create, list, get, pause, resume, trigger and delete cron schedules."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from local.cli_common import connect, job_spec


def _line(s: dict[str, Any]) -> str:
    state = "paused" if s["paused"] else (f"next {s['next_runs'][0]}" if s["next_runs"] else "no future runs")
    name = f"  {s['name']}" if s.get("name") else ""
    return f"{s['id']}  {s['cron']!r} {s['timezone']}  {state}  → {s['job']['request']['url']}{name}"


def cmd_create(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"cron": args.cron, "timezone": args.tz, "job": job_spec(args), "overlap": args.overlap}
    if args.name:
        body["name"] = args.name
    if args.paused:
        body["paused"] = True
    s = connect().create_schedule(body)
    print(s["id"] if args.quiet else _line(s))
    if not args.quiet and s["next_runs"]:
        print("  next runs: " + ", ".join(s["next_runs"]))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    page = connect().schedules(args.limit, args.cursor)
    for s in page["items"]:
        print(_line(s))
    if not page["items"]:
        print("no schedules")
    if page.get("next_cursor"):
        print(f"(more: --cursor {page['next_cursor']})")
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    print(json.dumps(connect().schedule(args.id), indent=2))
    return 0


def _patch(changes: dict[str, Any]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        print(_line(connect().patch_schedule(args.id, changes)))
        return 0
    return run


def cmd_trigger(args: argparse.Namespace) -> int:
    job = connect().trigger_schedule(args.id)
    print(f"{job['id']}  {job['status']}  (an extra run of {args.id})")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    connect().delete_schedule(args.id)
    print(f"deleted {args.id}")
    return 0


def add_parser(sub: Any) -> None:
    sch = sub.add_parser("schedules", help="cron schedules").add_subparsers(dest="schedules_command", required=True)
    c = sch.add_parser("create", help="create a schedule: CRON (five fields, quoted) and the URL to call")
    c.add_argument("cron", help="e.g. '*/5 * * * *' (minute hour day-of-month month day-of-week)")
    c.add_argument("url")
    c.add_argument("--tz", default="UTC", help="IANA time zone the cron is read in (default UTC)")
    c.add_argument("--name")
    c.add_argument("--overlap", choices=["allow", "skip"], default="allow",
                   help="skip: no run while the previous one has not finished")
    c.add_argument("--paused", action="store_true", help="create it paused")
    c.add_argument("--method", "-X", default="POST")
    c.add_argument("--data", "-d", help="request body (or @file)")
    c.add_argument("--header", "-H", action="append", help="K:V, repeatable")
    c.add_argument("--timeout", type=float, help="seconds the call may take (up to 900)")
    c.add_argument("--max-attempts", type=int)
    c.add_argument("--delay", type=float, help="seconds after each fire time before the call")
    c.add_argument("--quiet", "-q", action="store_true", help="print only the schedule id")
    c.set_defaults(fn=cmd_create)
    ls = sch.add_parser("list")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--cursor")
    ls.set_defaults(fn=cmd_list)
    for name, fn in (("get", cmd_get), ("pause", _patch({"paused": True})), ("resume", _patch({"paused": False})),
                     ("trigger", cmd_trigger), ("delete", cmd_delete)):
        p = sch.add_parser(name)
        p.add_argument("id")
        p.set_defaults(fn=fn)
