"""The local moto's DynamoDB write path, made cheap without changing one answer (used by `local.moto_server`).

Profiled in one process (2026-12-02: the 440 BatchWriteItem of a 1,000-inverter `bench.poll` replayed against
moto's WSGI app, 24.4 ms each, ≈ 1 ms per item), two costs dominate, neither of them DynamoDB's semantics:

- **Item sizes, quadratically.** moto checks the 400 KB item limit in `LimitedSizeDict.__setitem__`, which sums
  the size of every attribute already set before adding the next one: an item of n attributes costs n²/2 size
  computations, and `DynamoType.size` re-wraps every nested value in a new `DynamoType` to measure it (half of
  the request's time). Here an item is measured once, attribute by attribute, with a running total: the same
  sizes (the same formula, type by type), the same limit, and `ItemSizeTooLarge` raised at the same attribute.
- **The request parser.** moto 5.2 parses every request by walking the botocore shape model per value (each
  AttributeValue tests all ten of its members; a fresh service model per request keeps nothing cached): a
  fifth of the time. For the write operations (`WRITES`) the shape model is compiled once into plain converter
  functions that do what moto's `JSONParser` does, member by member: unknown and null members dropped, members
  in the model's order, B and BS values decoded by moto's own `default_blob_parser` (base64), numbers left as
  strings, nothing else converted. Whatever the converters do not handle exactly (a body that is not a JSON
  object, a value of an unexpected JSON type, a shape type they do not know, any exception) is parsed by moto's
  generic parser instead, so that an invalid request fails exactly as it did.
- **DynamoType construction** read a one-key dict's key and value by building two lists (`list(d)[0]`), for
  every attribute and every nested value: the same two reads, without the lists. Its `cast_value` (every
  comparison, hash and sort key of a query) answers strings, binaries and booleans first.

- **The answer** of a write that succeeded went through moto 5.2's generic model-driven serializer, as reads did
  before `local.moto_server` wrote them with moto's own `dynamo_json_dump` (py-spy, bench.ingest 2026-12-03: 7 %
  of the DynamoDB process, the worker's UpdateItem answers); written the same way here. Errors still go through
  moto's serializer.

`STEADFAST_MOTO_GENERIC_WRITES=1` keeps moto's own parser, size code and serializer;
tests/integration/test_local_moto_writes.py runs both side by side and compares stored items, answers and errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from moto.core.model import ServiceModel, Shape
from moto.core.parse import PROTOCOL_PARSERS, JSONParser, default_blob_parser, default_timestamp_parser
from moto.core.request import Request, determine_request_protocol
from moto.core.responses import ActionResult
from moto.core.utils import get_service_model
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.utilities import bytesize, dynamo_json_dump
from moto.dynamodb.responses import DynamoHandler

GENERIC_ENV = "STEADFAST_MOTO_GENERIC_WRITES"  # "1": moto's own request parser and item sizes (the tests compare)
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
ITEM_LIMIT = 405_000  # moto's own figure, between the documented 400 KB and the 409-410 KB AWS accepts
SETS = frozenset({"SS", "NS", "BS"})
Convert = Callable[[Any], Any]


class NotFast(Exception):
    """The request holds something that only moto's generic parser answers for exactly."""


# -- item sizes ------------------------------------------------------------------------------------

def _scalar_size(type_: str, value: Any) -> int:
    if type_ == "N":
        return len(str(value))
    if isinstance(value, bool):
        return 1
    return bytesize(value)


def size(self: DynamoType) -> int:
    """`DynamoType.size`, branch for branch, without wrapping each nested value in a new DynamoType."""
    type_, value = self.type, self.value
    if type_ == "N":
        return len(str(value))
    if type_ in SETS:
        return sum(_scalar_size(type_[0], v) for v in value)
    if type_ == "L":
        return sum(v.size() for v in value)
    if type_ == "M":
        return sum(bytesize(k) + (v if type(v) is DynamoType else DynamoType(v)).size() for k, v in value.items())
    return _scalar_size(type_, value)


def dynamo_type_init(self: DynamoType, type_as_dict: Any) -> None:
    """`DynamoType.__init__` without building two lists per value to read a one-key dict's key and value
    (anything but a plain dict or DynamoType goes through moto's own code, errors included)."""
    kind = type(type_as_dict)
    if kind is dict and type_as_dict:
        type_ = next(iter(type_as_dict))
        self.type, value = type_, type_as_dict[type_]
    elif kind is DynamoType:
        self.type, value = type_as_dict.type, type_as_dict.value
    else:
        _DYNAMO_TYPE_INIT(self, type_as_dict)
        return
    if self.type == "L":
        value = [DynamoType(v) for v in value]
    elif self.type == "M":
        value = {k: DynamoType(v) for k, v in value.items()}
    self.value = value


_DYNAMO_TYPE_INIT = DynamoType.__init__
_CAST_VALUE = DynamoType.cast_value.fget  # type: ignore[attr-defined]
_AS_IS = frozenset({"S", "B", "BOOL"})


def cast_value(self: DynamoType) -> Any:
    """`DynamoType.cast_value`: strings, binaries and booleans are their own value (moto reaches that answer
    after five type tests, on every comparison, hash and sort key); other types are cast by moto."""
    return self.value if self.type in _AS_IS else _CAST_VALUE(self)


def item_init(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
    """`Item.__init__` with its size check made linear: moto re-sums the attributes already set before each new
    one and refuses the first attribute that takes the sum past the limit; a running total does the same."""
    self.hash_key = hash_key
    self.range_key = range_key
    self.attrs = LimitedSizeDict()
    total = 0
    for key, value in attrs.items():
        converted = DynamoType(value)
        total += bytesize(key) + converted.size()
        if total > ITEM_LIMIT:
            raise ItemSizeTooLarge
        dict.__setitem__(self.attrs, key, converted)


# -- request parsing -------------------------------------------------------------------------------

def _scalar(shape: Shape) -> Convert | None:
    kind = shape.type_name
    if kind == "blob":
        return default_blob_parser
    if kind == "timestamp":
        return default_timestamp_parser
    if kind in ("float", "double"):
        return float
    if kind in ("integer", "long", "byte", "short"):
        return int
    if hasattr(JSONParser, f"_parse_{kind}"):
        raise NotFast(f"shape type {kind} has a parser of its own")  # a moto upgrade: use the generic parser
    return None  # moto's _default_handle: the JSON value as it is


def _identity(value: Any) -> Any:
    return value


class _Structure:
    """A structure's converter; its members are filled in after it is cached, for recursive shapes."""

    def __init__(self) -> None:
        self.members: list[tuple[str, str, Convert]] = []
        self.by_json: dict[str, tuple[str, Convert]] = {}
        self.as_is: set[str] = set()  # members whose JSON value is kept as it is, under the same name

    def fill(self, shape: Any, compile_: Callable[[Shape], Convert]) -> None:
        for name, member_shape in shape.members.items():
            json_name, convert = member_shape.serialization.get("name", name), compile_(member_shape)
            self.members.append((name, json_name, convert))
            self.by_json[json_name] = (name, convert)
            if convert is _identity and json_name == name:
                self.as_is.add(name)

    def __call__(self, value: Any) -> Any:
        if type(value) is not dict:
            raise NotFast("a structure that is not a JSON object")
        if len(value) == 1:  # an AttributeValue, mostly: one member to look up, not all ten
            name = next(iter(value))
            raw = value[name]
            if name in self.as_is:  # {"S": "..."}: what the parser would build is the value itself
                return value if raw is not None else {}
            found = self.by_json.get(name)
            return {} if found is None or raw is None else {found[0]: found[1](raw)}
        out: dict[str, Any] = {}
        for member, json_name, convert in self.members:
            raw = value.get(json_name)
            if raw is not None:
                out[member] = convert(raw)
        return out


def compile_shape(shape: Any, cache: dict[str, Convert]) -> Convert:
    """A function converting a JSON value of `shape` as moto's JSONParser would (shapes are compiled once each,
    recursive ones through the cache)."""
    if shape.name in cache:
        return cache[shape.name]
    kind = shape.type_name

    def compile_(s: Shape) -> Convert:
        return compile_shape(s, cache)

    if kind == "structure" and not shape.is_document_type:
        structure = cache[shape.name] = _Structure()
        structure.fill(shape, compile_)
        return structure
    convert: Convert
    if kind == "structure":
        convert = _identity
    elif kind == "list":
        member = compile_(shape.member)

        def convert_list(value: Any) -> Any:
            if type(value) is not list:
                raise NotFast("a list that is not a JSON array")
            return [member(v) for v in value]
        convert = convert_list
    elif kind == "map":
        key, item = compile_(shape.key), compile_(shape.value)

        def convert_map(value: Any) -> Any:
            if type(value) is not dict:
                raise NotFast("a map that is not a JSON object")
            return {key(k): item(v) for k, v in value.items()}
        convert = convert_map
    else:
        convert = _scalar(shape) or _identity
    cache[shape.name] = convert
    return convert


class WriteParser:
    """Parses the body of a DynamoDB write request as moto's generic parser does, or raises NotFast."""

    def __init__(self) -> None:
        self.model: ServiceModel = get_service_model("dynamodb")
        self.cache: dict[str, Convert] = {}
        self.operations: dict[str, Convert | None] = {}

    def operation(self, action: str) -> Convert | None:
        if action not in self.operations:
            try:
                shape = self.model.operation_model(action).input_shape
                self.operations[action] = compile_shape(shape, self.cache) if shape is not None else None
            except NotFast:
                self.operations[action] = None
        return self.operations[action]

    def parse(self, action: str, content_type: str | None, body: bytes | str) -> dict[str, Any]:
        convert = self.operation(action) if action in WRITES else None
        if convert is None or PROTOCOL_PARSERS.get(_protocol(self.model, content_type)) is not JSONParser:
            raise NotFast(action)
        try:
            parsed = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
            if type(parsed) is not dict:
                raise NotFast("not a JSON object")
            return convert(parsed)  # type: ignore[no-any-return]
        except NotFast:
            raise
        except Exception as exc:  # moto's parser meets the same value and fails (or answers) its own way
            raise NotFast(type(exc).__name__) from exc


def _protocol(model: ServiceModel, content_type: str | None) -> str:
    try:
        return determine_request_protocol(model, content_type)
    except NotImplementedError:
        return ""


def install() -> None:
    parser = WriteParser()
    generic = DynamoHandler.parse_parameters

    def parse_parameters(self: Any, request: Request) -> None:
        try:
            self.params = parser.parse(self._get_action(), request.content_type, request.data)
        except NotFast:
            generic(self, request)

    DynamoHandler.parse_parameters = parse_parameters  # type: ignore[method-assign]
    serialize = DynamoHandler.serialized

    def serialized(self: DynamoHandler, action_result: ActionResult) -> Any:
        result = action_result.result
        if isinstance(result, dict) and self._get_action() in WRITES:
            headers = {**self.response_headers, "Content-Type": "application/x-amz-json-1.0"}
            return 200, headers, dynamo_json_dump(result)
        return serialize(self, action_result)

    DynamoHandler.serialized = serialized  # type: ignore[method-assign,assignment]
    DynamoType.__init__ = dynamo_type_init  # type: ignore[method-assign]
    DynamoType.size = size  # type: ignore[method-assign]
    DynamoType.cast_value = property(cast_value)  # type: ignore[method-assign,assignment]
    Item.__init__ = item_init  # type: ignore[method-assign]
