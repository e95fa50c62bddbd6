"""Inverter routes (SPEC §3). Filled in by the telemetry work."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

router = APIGatewayHttpRouter()
