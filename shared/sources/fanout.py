"""What an event becomes: one delivery job per destination whose `event_types` match, each a POST of the
original body, byte for byte, with its content type and the provider's event headers. The worker adds the
tenant's Standard Webhooks signature when the tenant has a secret (shared.jobs.delivery)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from shared.jobs.models import JobSpec, Method, RequestSpec
from shared.sources.records import Delivery, EventRecord, SourceRecord, delivery_job_id
from shared.sources.verify import EVENT_HEADERS, Scheme

# Steadfast's own description of the event, beside the provider's headers.
SOURCE_ID_HEADER = "steadfast-source-id"
EVENT_ID_HEADER = "steadfast-event-id"
EVENT_TYPE_HEADER = "steadfast-event-type"


def forwarded_headers(scheme: Scheme, headers: Mapping[str, str]) -> dict[str, str]:
    """The request headers kept with the event: its content type and the provider's event headers."""
    keep = ("content-type", *EVENT_HEADERS[scheme])
    return {name: headers[name] for name in keep if headers.get(name)}


def plan(source: SourceRecord, event_id: str, event_type: str | None,
         job_id: Callable[[str, int], str] = delivery_job_id) -> list[Delivery]:
    """The deliveries of a new event, fixed at the moment it is stored."""
    return [Delivery(job_id=job_id(event_id, i), url=d.url, retry=d.retry)
            for i, d in enumerate(source.destinations) if d.accepts(event_type)]


def job_spec(event: EventRecord, delivery: Delivery, delay_s: float | None = None) -> JobSpec:
    headers = {**event.headers, SOURCE_ID_HEADER: event.source_id, EVENT_ID_HEADER: event.id}
    if event.event_type:
        headers[EVENT_TYPE_HEADER] = event.event_type
    labels = {"source_id": event.source_id, "event_id": event.id}
    if event.event_type:
        labels["event_type"] = event.event_type[:256]
    return JobSpec(request=RequestSpec(url=delivery.url, method=Method.POST, headers=headers,
                                       body=event.body.decode()),
                   retry=delivery.retry, labels=labels, delay_s=delay_s or None)
