"""Non-HTTP triggers: the SQS event source of queue consumers and the EventBridge schedules."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.queues import QueuePair
from shared.topology import Function, QueueSource, Schedule, queue


class Triggers(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        functions: tuple[Function, ...],
        deployed: dict[str, lambda_.Function],
        queues: dict[str, QueuePair],
    ) -> None:
        super().__init__(scope, id)
        for fn in functions:
            if isinstance(fn.trigger, QueueSource):
                self._build_queue_sources(deployed[fn.name], fn.trigger, queues[fn.trigger.queue])
            elif isinstance(fn.trigger, Schedule):
                self._build_schedule(fn.name, deployed[fn.name], fn.trigger)

    @staticmethod
    def _build_queue_sources(function: lambda_.Function, trigger: QueueSource, pair: QueuePair) -> None:
        """One event-source mapping per lane, each capped at its weighted share of the fleet."""
        lanes = queue(trigger.queue).lanes
        caps = trigger.lane_concurrency(lanes) if lanes else {}
        for priority, lane_queue in (pair.lanes or {"": pair.queue}).items():
            Triggers._build_queue_source(function, trigger, lane_queue, caps.get(priority, trigger.max_concurrency))

    @staticmethod
    def _build_queue_source(function: lambda_.Function, trigger: QueueSource, lane: sqs.IQueue,
                            max_concurrency: int) -> None:
        function.add_event_source(
            sources.SqsEventSource(
                lane,
                batch_size=trigger.batch_size,
                max_batching_window=(
                    Duration.seconds(trigger.max_batching_window_s) if trigger.max_batching_window_s else None
                ),
                # A retry is one failed item, not a failed batch: the rest of the batch is deleted.
                report_batch_item_failures=True,
                # Caps the concurrent worker invocations, and so the load on targets and DynamoDB.
                max_concurrency=max_concurrency,
            )
        )

    def _build_schedule(self, name: str, function: lambda_.Function, trigger: Schedule) -> None:
        if trigger.rate_s < 60 or trigger.rate_s % 60:
            raise ValueError(f"{name}: EventBridge rates are whole minutes, got {trigger.rate_s}s")
        events.Rule(
            self,
            f"{name.capitalize()}Schedule",
            description=f"Steadfast {name} every {trigger.rate_s}s",
            schedule=events.Schedule.rate(Duration.minutes(trigger.rate_s // 60)),
            targets=[
                targets.LambdaFunction(
                    function,
                    # The next tick comes a minute later anyway; a retried stale tick only piles up.
                    retry_attempts=0,
                    max_event_age=Duration.seconds(trigger.rate_s),
                )
            ],
        )
