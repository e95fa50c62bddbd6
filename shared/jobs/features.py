"""What plugs into the engine: the continuations a terminal state may owe, in the order they are asked.

A feature that makes a job's ending matter to others (callbacks, dependents, the next job of an ordering
key) is one `Continuation` (`shared.jobs.continuations`) added here; the engine, the API service and the
sweeper all take this list, so none of them names a feature.
"""

from __future__ import annotations

from shared.jobs.callbacks import Callbacks
from shared.jobs.continuations import Continuation
from shared.jobs.dependents import Dependents
from shared.jobs.ordering import OrderingKeys


def default_continuations() -> list[Continuation]:
    return [Callbacks(), Dependents(), OrderingKeys()]
