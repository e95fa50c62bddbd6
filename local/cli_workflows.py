"""`steadfast workflows …` (SPEC §1): submit a workflow file and read a workflow back with its graph."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from local.cli_common import connect


def _read(path: str) -> dict[str, Any]:
    try:
        body = json.loads(Path(path).read_text())
    except OSError as exc:
        raise SystemExit(f"steadfast: cannot read {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise SystemExit(f"steadfast: {path} is not JSON: {exc.msg} (line {exc.lineno})") from exc
    if isinstance(body, list):
        body = {"jobs": body}  # a bare list of jobs is a workflow without labels
    if not isinstance(body, dict):
        raise SystemExit(f"steadfast: {path} must hold a JSON object {{\"jobs\": [...]}}")
    return body


def _show(wf: dict[str, Any]) -> None:
    print(f"{wf['id']}  {wf['status']}  {len(wf['jobs'])} jobs")
    ref_of = {j["job"]["id"]: j["ref"] for j in wf["jobs"]}
    for item in wf["jobs"]:
        job = item["job"]
        after = ", ".join(ref_of.get(p, p) for p in job.get("depends_on", []))
        note = f"  ({job['last_error']})" if job.get("last_error") else ""
        print(f"  {item['ref']:<16} {job['status']:<10} {job['id']}" + (f"  after {after}" if after else "") + note)


def cmd_submit(args: argparse.Namespace) -> int:
    wf = connect().submit_workflow(_read(args.file))
    if args.quiet:
        print(wf["id"])
    else:
        _show(wf)
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    wf = connect().workflow(args.id)
    if args.json:
        print(json.dumps(wf, indent=2))
    else:
        _show(wf)
    return 0


def add_parser(sub: Any) -> None:
    wf = sub.add_parser("workflows", help="graphs of jobs").add_subparsers(dest="workflows_command", required=True)
    s = wf.add_parser("submit", help='submit a workflow file: {"jobs": [{"ref": "a", "request": {...}, '
                                      '"depends_on": ["b"]}, ...], "labels": {...}}')
    s.add_argument("file")
    s.add_argument("--quiet", "-q", action="store_true", help="print only the workflow id")
    s.set_defaults(fn=cmd_submit)
    g = wf.add_parser("get", help="a workflow's status and its jobs")
    g.add_argument("id")
    g.add_argument("--json", action="store_true", help="the whole workflow as JSON")
    g.set_defaults(fn=cmd_get)
