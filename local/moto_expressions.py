"""moto's DynamoDB parses the same few expressions again on every request; here each is parsed once.

A Steadfast worker sends the same `UpdateExpression` and `ConditionExpression` strings thousands of times,
only the values change. moto parses each UpdateItem's update expression twice (the request handler, then
the backend) and lexes its condition expression twice, character by character with six regular expressions
per token; a claim (`JobStore.claim`) cost 6.2 ms of moto CPU, in-process, 2026-12-04. Three results depend on
the expression's text alone and are kept, by text, for the process's life:

- `UpdateExpressionParser.make(text)`: the update expression's syntax tree. Nothing changes it: the validator
  works on a deep copy of its own (`moto.dynamodb.parsing.validators.Validator.__init__`) and the handler only
  reads it (`find_clauses`).
- `ConditionExpressionParser._lex_condition_expression()`: the condition's tokens, immutable named tuples
  that the later stages read and replace but never change; each parse gets a fresh deque of them. The
  attribute names and values are applied after lexing, from the request, as before.
- `method_names_from_class(cls)`: the handler's method names, which moto lists with `inspect.getmembers` on
  every request to every service.

An expression that fails to parse raises, as before, and is not kept. tests/integration/test_local_moto_writes.py
compares the answers and the errors with moto's own code.
"""

from __future__ import annotations

import functools
from collections import deque
from typing import Any

from moto.core import responses as core_responses
from moto.core.utils import method_names_from_class
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

KEPT = 1024  # distinct expressions kept per process (Steadfast sends a few dozen)


def install() -> None:
    make = UpdateExpressionParser.make.__func__
    lex = ConditionExpressionParser._lex_condition_expression

    @functools.lru_cache(maxsize=KEPT)
    def parsed(text: str) -> Any:
        return make(UpdateExpressionParser, text)

    @functools.lru_cache(maxsize=KEPT)
    def tokens(text: str) -> tuple[Any, ...]:
        return tuple(lex(_Lexer(text)))

    def lex_once(self: ConditionExpressionParser) -> deque[Any]:
        return deque(tokens(self.condition_expression))

    UpdateExpressionParser.make = classmethod(lambda _cls, text: parsed(text))
    ConditionExpressionParser._lex_condition_expression = lex_once  # type: ignore[method-assign]
    setattr(core_responses, "method_names_from_class", functools.lru_cache(maxsize=KEPT)(method_names_from_class))  # noqa: B010


class _Lexer(ConditionExpressionParser):
    """A parser holding only the text: the lexer reads nothing else of it."""

    def __init__(self, text: str) -> None:
        self.condition_expression = text
