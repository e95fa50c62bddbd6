"""The dashboard's job relations and workflow view in a real browser on the whole local stack: a diamond
workflow (a → b, c → d) shows each job's parents and children, and its graph — four nodes in three layers,
four edges parent → child — whose nodes turn `completed` live (no reload) until the workflow is completed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

from local.stack import StackState
from tests.e2e.test_tenant_switch import new_tenant_key

pytestmark = [pytest.mark.browser, pytest.mark.integration]

NODE = "#wf-graph .wf-node"


def wait_for_relations(page: Page, job_id: str, parents: set[str], children: set[str]) -> None:
    """Until the job's detail row shows exactly these parents and children (the list re-renders rows as
    events arrive, so the block may be rebuilt between two reads)."""
    def side(name: str) -> str:
        return f"[...document.querySelectorAll('.relations[data-job-id=\"{job_id}\"] .{name} .rel')]" \
            ".map(e => e.dataset.relId).sort().join(',')"
    page.wait_for_function(
        f"() => document.querySelector('.relations[data-job-id=\"{job_id}\"]') !== null"
        f" && {side('parents')} === '{','.join(sorted(parents))}'"
        f" && {side('children')} === '{','.join(sorted(children))}'", timeout=30_000)


def test_a_diamond_workflow_is_drawn_and_completes_live(
        dashboard: Page, api: httpx.Client, stack: StackState) -> None:
    # Given a diamond workflow whose root takes 8 s, so the graph is open before its join can run
    slow = f"{stack.demo_target_url}/slow?ms="
    r = api.post("/v1/workflows", json={"jobs": [
        {"ref": "a", "request": {"url": f"{slow}8000"}},
        {"ref": "b", "request": {"url": f"{slow}200"}, "depends_on": ["a"]},
        {"ref": "c", "request": {"url": f"{slow}200"}, "depends_on": ["a"]},
        {"ref": "d", "request": {"url": f"{slow}200"}, "depends_on": ["b", "c"]}]})
    assert r.status_code == 202, r.text
    wf: dict[str, Any] = r.json()
    ids = {j["ref"]: j["job"]["id"] for j in wf["jobs"]}

    # When the root's row is opened (it shows up once running), its detail shows no parent and b, c as children
    row = f'tr.job[data-job-id="{ids["a"]}"]'
    dashboard.wait_for_selector(row, timeout=30_000)
    dashboard.click(row)
    wait_for_relations(dashboard, ids["a"], set(), {ids["b"], ids["c"]})

    # And its Workflow button opens the graph: four nodes, four edges parent → child, d not run yet
    dashboard.click(f'.relations[data-job-id="{ids["a"]}"] button.open-workflow')
    dashboard.wait_for_selector(f'#workflow-view[data-workflow-id="{wf["id"]}"]', timeout=10_000)
    dashboard.wait_for_function(f"() => document.querySelectorAll('{NODE}').length === 4", timeout=20_000)
    edges: list[list[str]] = dashboard.eval_on_selector_all(
        "#wf-graph .wf-edge", "els => els.map(e => [e.dataset.from, e.dataset.to])")
    assert sorted(map(tuple, edges)) == sorted(
        [(ids["a"], ids["b"]), (ids["a"], ids["c"]), (ids["b"], ids["d"]), (ids["c"], ids["d"])])
    d_node = f'{NODE}[data-job-id="{ids["d"]}"]'
    assert dashboard.get_attribute(d_node, "data-status") in ("waiting", "pending", "running")
    assert dashboard.get_attribute(d_node, "data-ref") == "d"
    # Kahn layers: a left of b and c (one column), d right of them
    xs: dict[str, float] = dashboard.evaluate(f"""() => Object.fromEntries([...document.querySelectorAll('{NODE}')]
        .map(n => [n.dataset.ref, n.getBoundingClientRect().x]))""")
    assert xs["a"] < xs["b"] == xs["c"] < xs["d"]

    # Then every node turns completed without a reload, and so does the workflow
    dashboard.wait_for_function(
        f"() => [...document.querySelectorAll('{NODE}')].every(n => n.dataset.status === 'completed')",
        timeout=90_000)
    dashboard.wait_for_selector('#workflow-view[data-status="completed"]', timeout=20_000)
    assert dashboard.text_content("#wf-status") == "completed"
    assert api.get(f"/v1/workflows/{wf['id']}").json()["status"] == "completed"

    # And a click on a node opens that job's detail: b's parent is a and its child d; d has b and c, no child
    dashboard.click(f'{NODE}[data-job-id="{ids["b"]}"]')
    wait_for_relations(dashboard, ids["b"], {ids["a"]}, {ids["d"]})
    dashboard.click(d_node)
    wait_for_relations(dashboard, ids["d"], {ids["b"], ids["c"]}, set())
    dashboard.wait_for_selector(
        f'.relations[data-job-id="{ids["d"]}"] .rel[data-rel-id="{ids["c"]}"] .status[data-status="completed"]')
    # and a chip opens its job too: d's parent c
    dashboard.click(f'.relations[data-job-id="{ids["d"]}"] .parents .rel[data-rel-id="{ids["c"]}"]')
    wait_for_relations(dashboard, ids["c"], {ids["a"]}, {ids["d"]})

    # And another tenant's key reads neither the workflow nor a job's relations (404, as for a missing one)
    base = stack.stream_url + "/v1/dashboard"
    for key, expected in ((new_tenant_key(stack), 404), (stack.dev_api_key, 200)):
        with httpx.Client(base_url=base, headers={"authorization": f"Bearer {key}"}) as client:
            assert client.get(f"/workflows/{wf['id']}").status_code == expected
            assert client.get(f"/jobs/{ids['b']}/relations").status_code == expected
