"""The deployable functions. Importing any of them first makes the heavy optional packages lazy
(`shared.lazyimport`): a handler that does not touch Redis or httpx in an invocation does not pay for
importing them at its cold start, whatever its modules import at the top."""

from shared import lazyimport

lazyimport.install()
