"""Realistic JSON bodies for the cost bench: what a job's request and its target's response look like.

A padded string of one repeated letter would compress to nothing and flatter the store's compression
(`shared.jobs.record`); random bytes would never be a webhook or an API answer. These documents have the
shape of a payment provider's event and of an order API's answer: random ids (incompressible), amounts,
timestamps, e-mail addresses and words from a small vocabulary, nested objects whose keys repeat. zlib
takes them to 30–60 % of their size (`tests/unit/bench/test_payloads.py` holds the range).
"""

from __future__ import annotations

import json
import random
import string
from typing import Any

_ALNUM = string.ascii_letters + string.digits
_WORDS = ("blue", "cotton", "shirt", "large", "express", "shipping", "gift", "wrap", "organic", "coffee",
          "beans", "ceramic", "mug", "wireless", "charger", "leather", "wallet", "hiking", "boots", "socks")
_CITIES = (("Berlin", "DE", "10115"), ("Lyon", "FR", "69001"), ("Austin", "US", "78701"),
           ("Osaka", "JP", "530-0001"), ("Leeds", "GB", "LS1 1UR"))


def _id(rng: random.Random, prefix: str, n: int = 24) -> str:
    return prefix + "".join(rng.choice(_ALNUM) for _ in range(n))


def _item(rng: random.Random) -> dict[str, Any]:
    return {"id": _id(rng, "li_", 14), "object": "item", "description": " ".join(rng.sample(_WORDS, 3)),
            "price": {"id": _id(rng, "price_", 14), "currency": "eur", "unit_amount": rng.randint(199, 9999)},
            "quantity": rng.randint(1, 4)}


def _fit(doc: dict[str, Any], size: int, rng: random.Random) -> str:
    """`doc` as JSON, grown by line items until it reaches `size` bytes, then cut back to exactly `size`
    with the last item's description."""
    items: list[dict[str, Any]] = doc["data"]["object"]["lines"]["data"]
    while len(json.dumps(doc)) < size:
        items.append(_item(rng))
    while len(json.dumps(doc)) > size and len(items) > 1:
        items.pop()
    text = json.dumps(doc)
    if len(text) < size:
        filler = "".join(rng.choice(string.ascii_lowercase) for _ in range(size - len(text) - 1))
        items[-1]["description"] += " " + filler
        text = json.dumps(doc)
    return text


def event_body(i: int, size: int) -> str:
    """A payment provider's event of `size` bytes of JSON (at least ~650), the same for the same `i`."""
    rng = random.Random(i)
    city, country, postcode = rng.choice(_CITIES)
    created = 1_796_000_000 + i * 7
    doc: dict[str, Any] = {
        "id": _id(rng, "evt_"), "object": "event", "api_version": "2025-09-30", "created": created,
        "type": "invoice.paid", "livemode": False, "pending_webhooks": 1,
        "request": {"id": _id(rng, "req_", 14), "idempotency_key": _id(rng, "", 32)},
        "data": {"object": {
            "id": _id(rng, "in_"), "object": "invoice", "amount_paid": rng.randint(500, 90000), "currency": "eur",
            "customer": _id(rng, "cus_", 14), "customer_email": f"{_id(rng, '', 8).lower()}@example.com",
            "customer_address": {"city": city, "country": country, "postal_code": postcode},
            "status": "paid", "created": created - 60, "lines": {"object": "list", "data": []}}},
    }
    return _fit(doc, size, rng)


def api_answer(key: str, size: int) -> str:
    """An order API's answer of `size` bytes (JSON) to the job with this idempotency key."""
    rng = random.Random(key)
    doc: dict[str, Any] = {
        "id": _id(rng, "ord_"), "object": "order", "status": "accepted", "received_key": key,
        "data": {"object": {"lines": {"object": "list", "data": []}, "total": rng.randint(500, 90000)}},
    }
    return _fit(doc, size, rng)
