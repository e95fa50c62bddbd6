"""cdk-nag acknowledgements: every rule we do not follow is named here with its reason, in code.

cdk-nag 3 runs as a CDK policy-validation plugin: an unacknowledged finding interrupts synthesis,
so `make synth` cannot produce a template that silently breaks a rule.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Accept `rule` (e.g. `AwsSolutions-IAM5[Resource::*]`) for `scope` and everything under it."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))
