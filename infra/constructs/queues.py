"""SQS queues, built from `topology.QUEUES`, each with its dead-letter queue and its priority lanes (one
queue per extra lane, same settings, redriving to the same DLQ).

The visibility timeout is the worker's lease: it must outlast the consuming function's timeout by
AWS's recommended factor of six, or a slow batch is handed out again while it still runs.
`check_visibility` refuses to synthesize a topology that breaks this.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constants import VISIBILITY_TO_TIMEOUT_FACTOR
from infra.nag import acknowledge
from shared.topology import Function, Queue, QueueSource

# SQS keeps a message's original enqueue time when it moves to a standard DLQ, so the DLQ holds
# messages for the maximum (14 days) to never expire one sooner than its source queue would.
DLQ_RETENTION = Duration.days(14)


@dataclass(frozen=True)
class QueuePair:
    queue: sqs.Queue
    dlq: sqs.Queue
    # Every lane's queue by priority, the queue itself included (empty: a queue without lanes).
    lanes: dict[str, sqs.Queue] = field(default_factory=dict)

    @property
    def consumed(self) -> list[sqs.Queue]:
        """The queues a consumer receives from: each lane, or the queue itself."""
        return list(self.lanes.values()) or [self.queue]


def check_visibility(queues: Iterable[Queue], functions: Iterable[Function]) -> None:
    by_name = {q.name: q for q in queues}
    for fn in functions:
        if not isinstance(fn.trigger, QueueSource):
            continue
        spec = by_name[fn.trigger.queue]
        needed = VISIBILITY_TO_TIMEOUT_FACTOR * fn.timeout_s
        if spec.visibility_timeout_s < needed:
            raise ValueError(
                f"queue {spec.name!r}: visibility timeout {spec.visibility_timeout_s}s is under "
                f"{VISIBILITY_TO_TIMEOUT_FACTOR} x {fn.name}'s timeout ({needed}s)"
            )


class Queues(Construct):
    def __init__(self, scope: Construct, id: str, *, queues: tuple[Queue, ...], removal: RemovalPolicy) -> None:
        super().__init__(scope, id)
        self.queues: dict[str, QueuePair] = {spec.name: self._build_pair(spec, removal) for spec in queues}

    def _build_pair(self, spec: Queue, removal: RemovalPolicy) -> QueuePair:
        name = spec.name.capitalize()
        dlq = sqs.Queue(
            self,
            f"{name}Dlq",
            retention_period=DLQ_RETENTION,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            removal_policy=removal,
        )
        acknowledge(dlq, "AwsSolutions-SQS3", "This queue is the dead-letter queue of the jobs queue.")
        def build(id_: str) -> sqs.Queue:
            return sqs.Queue(
                self,
                id_,
                visibility_timeout=Duration.seconds(spec.visibility_timeout_s),
                retention_period=Duration.seconds(spec.retention_s),
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=spec.max_receive_count),
                removal_policy=removal,
            )

        queue = build(name)
        lanes = {lane.priority: queue if lane.env_var == spec.env_var else build(f"{name}{lane.priority.capitalize()}")
                 for lane in spec.lanes}
        return QueuePair(queue=queue, dlq=dlq, lanes=lanes)
