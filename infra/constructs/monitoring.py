"""Alarms and the dashboard: what must wake someone, and what to look at when it does.

Alarms: a dead-letter queue that is not empty, a jobs queue whose oldest message grows old (the
worker stalls), errors of every function (poller: several in a row), throttles of the queue
consumers. They notify one SNS topic; `-c alarmEmail=ops@example.com` subscribes an address.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra import constants as c
from infra.constructs.queues import QueuePair
from infra.nag import acknowledge
from shared.topology import Function, QueueSource, Schedule

ONE_MINUTE = Duration.minutes(1)
FIVE_MINUTES = Duration.minutes(5)


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        functions: tuple[Function, ...],
        deployed: dict[str, lambda_.Function],
        queues: dict[str, QueuePair],
        stage: str,
        alarm_email: str | None,
    ) -> None:
        super().__init__(scope, id)
        self.topic = self._build_topic(alarm_email)
        self.alarms: list[cloudwatch.Alarm] = []
        for name, pair in queues.items():
            self._build_queue_alarms(name, pair)
        for fn in functions:
            self._build_function_alarms(fn, deployed[fn.name])
        self.dashboard = self._build_dashboard(stage, functions, deployed, queues)

    def _build_topic(self, alarm_email: str | None) -> sns.Topic:
        topic = sns.Topic(self, "Alarms", display_name="Steadfast alarms", enforce_ssl=True)
        if alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        acknowledge(
            topic,
            "AwsSolutions-SNS2",
            "CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed SNS key, "
            "and a customer key costs $1/month at rest for alarm texts that hold no secrets.",
        )
        return topic

    def _alarm(self, construct_id: str, metric: cloudwatch.IMetric, threshold: float, description: str) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            # No datapoint means no traffic (SQS and Lambda publish nothing when idle): healthy.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        self.alarms.append(alarm)

    def _build_queue_alarms(self, name: str, pair: QueuePair) -> None:
        prefix = name.capitalize()
        self._alarm(
            f"{prefix}DlqNotEmpty",
            pair.dlq.metric_approximate_number_of_messages_visible(period=ONE_MINUTE, statistic="Maximum"),
            1,
            f"Messages in the {name} dead-letter queue: inspect, then `steadfast dlq redrive`.",
        )
        # One per priority lane: a starved lane shows even while the others drain.
        for lane, queue in (pair.lanes or {"normal": pair.queue}).items():
            self._alarm(
                f"{prefix}OldestMessage" if queue is pair.queue else f"{prefix}{lane.capitalize()}OldestMessage",
                queue.metric_approximate_age_of_oldest_message(period=FIVE_MINUTES, statistic="Maximum"),
                c.OLDEST_MESSAGE_ALARM_S,
                f"The oldest message in the {name} queue ({lane} lane) is older than {c.OLDEST_MESSAGE_ALARM_S}s: "
                "the worker is stalled, throttled or failing.",
            )

    def _build_function_alarms(self, fn: Function, function: lambda_.Function) -> None:
        prefix = fn.name.capitalize()
        threshold = c.POLLER_ERRORS_ALARM_THRESHOLD if isinstance(fn.trigger, Schedule) else 1
        self._alarm(
            f"{prefix}Errors",
            function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
            threshold,
            f"{fn.name} failed {threshold}+ invocations in 5 minutes.",
        )
        if isinstance(fn.trigger, QueueSource):
            self._alarm(
                f"{prefix}Throttles",
                function.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
                1,
                f"{fn.name} was throttled: account concurrency is exhausted or too low.",
            )

    def _build_dashboard(
        self,
        stage: str,
        functions: tuple[Function, ...],
        deployed: dict[str, lambda_.Function],
        queues: dict[str, QueuePair],
    ) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"steadfast-{stage}")
        dashboard.add_widgets(cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms), width=24))
        for name, pair in queues.items():
            dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title=f"{name} queue: depth",
                    left=[
                        pair.queue.metric_approximate_number_of_messages_visible(period=ONE_MINUTE),
                        pair.queue.metric_approximate_number_of_messages_not_visible(period=ONE_MINUTE),
                        pair.dlq.metric_approximate_number_of_messages_visible(period=ONE_MINUTE, label="DLQ"),
                    ],
                    width=12,
                ),
                cloudwatch.GraphWidget(
                    title=f"{name} queue: age of oldest message (s)",
                    left=[q.metric_approximate_age_of_oldest_message(period=ONE_MINUTE, label=lane)
                          for lane, q in (pair.lanes or {"normal": pair.queue}).items()],
                    width=12,
                ),
            )
        for fn in functions:
            function = deployed[fn.name]
            dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title=f"{fn.name}: invocations, errors, throttles",
                    left=[
                        function.metric_invocations(period=ONE_MINUTE),
                        function.metric_errors(period=ONE_MINUTE),
                        function.metric_throttles(period=ONE_MINUTE),
                    ],
                    width=12,
                ),
                cloudwatch.GraphWidget(
                    title=f"{fn.name}: duration p50 / p99 (ms)",
                    left=[
                        function.metric_duration(period=ONE_MINUTE, statistic="p50"),
                        function.metric_duration(period=ONE_MINUTE, statistic="p99"),
                    ],
                    width=12,
                ),
            )
        return dashboard
