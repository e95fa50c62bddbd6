"""The deployable functions, one package each: `app.py` the handler, `deps.py` its composition root.

A handler's import is its cold start, so it imports what every invocation needs and no more: a heavy
package that an invocation may not touch (redis-py, httpx, the vendor adapters) is imported by the
factory or the call that uses it. tests/unit/test_cold_imports.py holds each function to it."""
