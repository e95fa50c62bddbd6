"""Worker function: SQS batch → one concurrent attempt per job, partial batch failures reported."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType, async_process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.worker import deps
from shared.config import metrics_namespace
from shared.jobs.delivery import make_client

if TYPE_CHECKING:
    import httpx

logger = Logger()
metrics = Metrics(namespace=metrics_namespace())
# A batch whose every job is waiting for a retry is normal here, not an invocation error.
processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
_client: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient] | None = None


class RetryScheduled(Exception):
    """Not an error: the message stays in the queue and comes back when the job is due."""


def client() -> httpx.AsyncClient:
    # One client per execution environment: in Lambda, Powertools keeps one event loop across warm
    # invocations, so connections are reused; elsewhere each batch gets a new loop and a new client.
    global _client
    loop = asyncio.get_running_loop()
    if _client is None or _client[0] is not loop:
        _client = (loop, make_client(deps.settings().allow_private_targets))
    return _client[1]


async def record_handler(record: SQSRecord) -> None:
    receive_count = int(record.attributes.approximate_receive_count or 1)
    disposition = await deps.worker().handle(record.body, record.receipt_handle, receive_count, client())
    if not disposition.ack:
        raise RetryScheduled(f"back in {disposition.retry_in_s:.1f}s")


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return async_process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                          context=context)
