"""The Steadfast stack: the diagram of DESIGN.md, one construct per box, built from the topology."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from constructs import Construct

from infra import constants as c
from infra.constructs.cache import Cache
from infra.constructs.data import Data
from infra.constructs.functions import Dependencies, Functions
from infra.constructs.http_apis import HttpApis
from infra.constructs.monitoring import Monitoring
from infra.constructs.network import Network
from infra.constructs.queues import Queues, check_visibility
from infra.constructs.secrets import Secrets
from infra.constructs.streaming import Streaming
from infra.constructs.triggers import Triggers
from shared import topology
from shared.topology import Function, Queue, Table


@dataclass(frozen=True)
class StackSettings:
    stage: str = c.DEFAULT_STAGE
    # False: the assets hold only our sources (tests, quick structural synths); never deploy that.
    with_dependencies: bool = True
    nat_gateways: int = 1
    alarm_email: str | None = None
    lwa_layer_version: int = c.LWA_LAYER_VERSION

    @property
    def production(self) -> bool:
        return self.stage in c.PRODUCTION_STAGES


def functions_for_stage(functions: tuple[Function, ...], production: bool) -> tuple[Function, ...]:
    """Production stages leave out what exists only to demo or test (the sandbox vendor API)."""
    return tuple(fn for fn in functions if fn.production or not production)


class SteadfastStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: StackSettings,
        functions: tuple[Function, ...] = topology.FUNCTIONS,
        tables: tuple[Table, ...] = topology.TABLES,
        queues: tuple[Queue, ...] = topology.QUEUES,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, id, description=f"Steadfast ({settings.stage})", **kwargs)  # type: ignore[arg-type]
        functions = functions_for_stage(functions, settings.production)
        check_visibility(queues, functions)
        removal = RemovalPolicy.RETAIN if settings.production else RemovalPolicy.DESTROY

        network: Network | None = None
        cache: Cache | None = None
        if any(fn.needs_redis for fn in functions):
            network = Network(self, c.ID_NETWORK, nat_gateways=settings.nat_gateways, removal=removal)
            cache = Cache(
                self,
                c.ID_CACHE,
                name=f"steadfast-{settings.stage}",
                vpc=network.vpc,
                security_group=network.cache_security_group,
                removal=removal,
            )
        data = Data(self, c.ID_DATA, tables=tables, production=settings.production, removal=removal)
        messaging = Queues(self, c.ID_QUEUES, queues=queues, removal=removal)
        secrets = Secrets(self, c.ID_SECRETS, stage=settings.stage, removal=removal)

        self.functions = Functions(
            self,
            c.ID_FUNCTIONS,
            functions=functions,
            deps=Dependencies(
                tables=data.tables,
                queues=messaging.queues,
                secret=secrets.secret,
                data_key=secrets.data_key,
                redis_url=cache.redis_url if cache else None,
                vpc=network.vpc if network else None,
                security_group=network.function_security_group if network else None,
            ),
            stage=settings.stage,
            with_dependencies=settings.with_dependencies,
            lwa_layer_version=settings.lwa_layer_version,
            removal=removal,
        )
        deployed = self.functions.functions
        Triggers(self, "Triggers", functions=functions, deployed=deployed, queues=messaging.queues)
        http = HttpApis(
            self,
            c.ID_HTTP_APIS,
            functions=functions,
            deployed=deployed,
            stage=settings.stage,
            removal=removal,
        )
        streaming = Streaming(
            self,
            c.ID_STREAMING,
            functions=functions,
            deployed=deployed,
            stage=settings.stage,
            removal=removal,
        )
        self._wire_api_urls(functions, http.urls)
        # Kept for tests and for whoever extends the stack.
        self.network, self.cache, self.data, self.messaging = network, cache, data, messaging
        self.secrets, self.http_apis, self.streaming = secrets, http, streaming
        monitoring = Monitoring(
            self,
            c.ID_MONITORING,
            functions=functions,
            deployed=deployed,
            queues=messaging.queues,
            stage=settings.stage,
            alarm_email=settings.alarm_email,
        )

        for name, url in {**http.urls, **streaming.urls}.items():
            CfnOutput(self, f"{name.capitalize()}{c.OUTPUT_URL_SUFFIX}", value=url)
        if cache:
            CfnOutput(self, c.OUTPUT_REDIS_ENDPOINT, value=cache.redis_url)
        CfnOutput(self, c.OUTPUT_SECRET_ARN, value=secrets.secret.secret_arn)
        CfnOutput(self, c.OUTPUT_DATA_KEY_ARN, value=secrets.data_key.key_arn)
        CfnOutput(self, c.OUTPUT_DASHBOARD, value=monitoring.dashboard.dashboard_name)
        CfnOutput(self, c.OUTPUT_ALARM_TOPIC, value=monitoring.topic.topic_arn)
        self.monitoring = monitoring

    def _wire_api_urls(self, functions: tuple[Function, ...], urls: dict[str, str]) -> None:
        # An HTTP API's URL refers to the API alone, not to its routes or function, so handing it to
        # every other function creates no dependency cycle (the poller finds the sandbox this way).
        for fn in functions:
            for name, url in urls.items():
                if name != fn.name:
                    self.functions.functions[fn.name].add_environment(c.env_url(name), url)
