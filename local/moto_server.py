"""The local cloud's AWS: moto's server, with DynamoDB made to behave as DynamoDB does under concurrency.

    python -m local.moto_server -H 127.0.0.1 -p 4566     # the arguments of `python -m moto.server`

Eight fixes, all about moto's speed or DynamoDB's semantics rather than about Steadfast:

- **Requests are serialised.** moto's server is threaded and its tables are plain dicts: a query or a
  transaction iterating a table while another thread inserts into it fails with "dictionary changed size
  during iteration", which the SDK sees as a 500. One lock around each DynamoDB request makes every
  operation atomic, as DynamoDB's own single-item operations are (moto is bound by one interpreter's GIL
  anyway, so the lock costs little throughput).
- **A transaction saves and restores only its own items.** moto backs up every table a transaction names
  with a deep copy, once per item, before applying it, and restores the whole tables when it fails: a cost
  that grows with the table (a 3-item ingest transaction against a jobs table of a few thousand items took
  hundreds of milliseconds), and a failed transaction would undo writes other requests made meanwhile. Here
  the items a transaction names are copied before it runs and put back, one by one, if it fails: the same
  all-or-nothing outcome, in time proportional to the transaction.
- **A SendMessage does not count the queue.** moto reads one attribute of the queue
  (`ContentBasedDeduplication`) by computing all of them, among them the approximate message counts, a walk
  over every message in the queue: a send cost 5 ms more per hundred messages waiting (profiled: 109 calls of
  `Message.visible` per send on a queue of 109). During a send, the queue's attributes are that one attribute,
  computed as moto computes it; GetQueueAttributes still counts. A ReceiveMessage did the same for every
  message it considered (the retention check reads one attribute through get_queue_attributes): a receive of
  10 from a queue of 500 took 237 ms of CPU, now 4.3 ms (in-process); that one attribute is read directly.
  Every receive (and every wake of a long poll, one per send) also lists the queue's visible messages by
  reading the clock twice per message (`Message.visible`, `Message.delayed`: two datetimes built per read):
  13.3 ms of server CPU per receive of 10 from a queue of 900 (2026-12-03, over HTTP); the clock is read once
  per listing here, the same comparisons with it.
- **Reads are answered as moto answered them before its generic serializer.** moto 5.2 writes every response
  through a botocore-model-driven serializer that walks each attribute of each item (py-spy: a Query of 2,500
  poller-sized items spent 30 of its 36 s there, in-process). For the data-plane reads (`READS`) the result is
  already DynamoDB's wire form apart from moto's attribute objects, so it is written with moto's own
  `dynamo_json_dump`; tests/integration/test_local_moto.py checks that both give the same answer for every
  attribute type. Every query and scan also sorts the whole table (`Table.all_items`, DynamoType comparisons
  recomputing both values each time): it sorts by the keys' values instead, in the same order. A query lists
  only what its own first filter keeps (a table query its partition, an index query the items whose index key
  equals the condition's) before that sort, not the whole table: the sweeper's `by_due` query every 2 s sorted
  the whole jobs table while holding the lock every other DynamoDB request waits on. A query of a KEYS_ONLY
  index deep-copied every whole item it returned, then projected the copies to their keys; the keys are copied
  instead (100 job-sized items from the jobs table's `by_due`: 120 -> 22-30 ms of CPU, in-process, 2026-12-03).
  Every answer is first converted by moto's `dynamo_to_dict`, which re-imports DynamoType on each recursive
  call; `_to_dict` does the same conversion (a BatchGetItem answer of 100 job items: 15.3 -> 4.5 ms of CPU).
- **Writes are parsed and measured without moto's generic machinery** (`local.moto_writes`): the write
  operations' bodies go through converters compiled once from the shape model instead of moto's per-request
  model walk, and an item's 400 KB check sums its attribute sizes once instead of once per attribute; moto's own
  code answers anything the converters do not handle. tests/integration/test_local_moto_writes.py compares
  both paths.
- **A request does not list moto's package directory.** moto's server finds the service of every request by
  `os.listdir` and a `stat` per entry of its own package (181 per request, ≈ 3 ms); the list is read once.
- **Connections are kept alive** (`KeepAliveHandler`). Werkzeug's development server answers every request
  with `Connection: close`, so each SDK call opened a new TCP connection and the server started a new thread
  for it (the accepting thread waits for that thread to start, a GIL hand-off behind whatever request holds
  it), then waited up to 10 ms for more request bytes before closing. Here a request with a `Content-Length`
  (every SDK call) is answered on the same connection, status line, headers and body in one write with
  `TCP_NODELAY`, its body read to the end so that the next request starts where it should; anything else
  (a chunked body, `Expect: 100-continue`) is answered by Werkzeug's own code, which closes the connection.

Measured in one process (2026-12-02, moto's WSGI app called 100 times in a row): a SendMessage on a queue of
~100 messages took 15.3 ms before the last two fixes and 5.7 ms after.
"""

from __future__ import annotations

import base64
import copy
import logging
import os
import socket
import sys
import threading
import traceback
from decimal import Decimal
from typing import Any

from moto import backends as moto_backends
from moto.core.responses import ActionResult
from moto.core.utils import camelcase_to_underscores, unix_time, unix_time_millis
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb import responses as dynamodb_responses
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models import table as table_models
from moto.dynamodb.models import utilities as dynamo_utilities
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import dynamo_json_dump
from moto.dynamodb.responses import DynamoHandler
from moto.moto_server.werkzeug_app import MotoRequestHandler
from moto.sqs.models import Message, Queue, SQSBackend
from werkzeug.exceptions import InternalServerError
from werkzeug.wsgi import LimitedStream

from local import gc_policy, moto_expressions, moto_writes

_LOCK = threading.RLock()
GENERIC_ENV = "STEADFAST_MOTO_GENERIC_READS"  # "1": moto's own serializer for reads too (the tests compare)
_Saved = tuple[Table, DynamoType, DynamoType | None, Item | None]


class _TablesAsTheyAre:
    """Stands in for the `copy` module inside moto's DynamoDB backend, whose only deep copies are the
    transaction's whole-table backup (made a no-op: its items are saved instead) and one item's copy in
    update_item (still a deep copy)."""

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _saved_items(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> list[_Saved]:
    saved: list[_Saved] = []
    for entry in transact_items:
        op_type, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName", ""))
        key = op.get("Item") if op_type == "Put" else op.get("Key")
        if table is None or not isinstance(key, dict) or table.hash_key_attr not in key:
            continue  # moto refuses it before writing anything
        range_attr = table.range_key_attr
        if range_attr is not None and range_attr not in key:
            continue
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[range_attr]) if range_attr is not None else None
        saved.append((table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))))
    return saved


def _restore(saved: list[_Saved]) -> None:
    for table, hash_value, range_value, item in reversed(saved):
        if item is None:
            table.delete_item(hash_value, range_value)
        elif range_value is not None:
            table.items[hash_value][range_value] = item
        else:
            table.items[hash_value] = item  # type: ignore[assignment]


_SENDING = threading.local()
READS = frozenset({"Query", "Scan", "GetItem", "BatchGetItem", "TransactGetItems"})
JSON_10 = "application/x-amz-json-1.0"


_QUERY = threading.local()  # the query running in this thread: (table, its partition or the index's conditions)


def _all_items(table: Table) -> list[Item]:
    """`Table.all_items`, in the same order: sorted by the keys' values (str, Decimal, bytes) instead of by
    DynamoType comparisons, which recompute both values for every comparison. The same order as long as
    every item's keys have one type, as the table's schema makes them; otherwise moto sorts.

    Inside a query (`_query`) only the items the query's own first filter keeps are listed, in the same order:
    a table query's partition, an index query's items whose index key attributes equal the condition's."""
    scope = getattr(_QUERY, "scope", None)
    if scope is not None and scope[0] is not table:
        scope = None
    items: list[Item] = []
    if scope is not None and isinstance(scope[1], DynamoType):
        partition = table.items.get(scope[1])  # keyed by DynamoType: the items whose hash key equals it
        if partition is not None:
            items.extend(partition.values() if table.range_key_attr else [partition])  # type: ignore[list-item]
    else:
        for hash_set in table.items.values():
            if table.range_key_attr:
                items.extend(hash_set.values())
            else:
                items.append(hash_set)  # type: ignore[arg-type]
        if scope is not None:
            items = [i for i in items if _matches(i, scope[1])]
    if len({(i.hash_key.type, i.range_key.type if i.range_key else None) for i in items}) > 1:
        listed, kept = _MOTO_ALL_ITEMS(table), {id(i) for i in items}
        return listed if scope is None else [i for i in listed if id(i) in kept]
    if table.range_key_attr:
        return sorted(items, key=lambda i: (i.hash_key.cast_value, i.range_key.cast_value)
                      if i.range_key else (i.hash_key.cast_value,))
    return sorted(items, key=lambda i: i.hash_key.cast_value)


def _matches(item: Item, conditions: list[tuple[str, DynamoType]]) -> bool:
    """moto's own test of an index query's hash key conditions, item by item (Table.query)."""
    for name, expected in conditions:
        value = item.attrs.get(name)
        if not value or value != expected:
            return False
    return True


def _query(self: Table, hash_key: DynamoType | None, *args: Any, **kwargs: Any) -> Any:
    """`Table.query`, listing only what its first filter can keep (see `_all_items`): moto lists and sorts the
    whole table for every query, the sweeper's `by_due` query of a jobs table of a few thousand items held
    the DynamoDB lock ~0.3 s. The results of a KEYS_ONLY index are copied as their keys (`_QueryCopies`)."""
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    keys_only = None
    if index_name:
        scope: Any = kwargs.get("hash_key_conditions") or None
        index = next((i for i in self.all_indexes() if i.name == index_name), None)
        if index is not None and (index.projection or {}).get("ProjectionType") == "KEYS_ONLY":
            keys_only = [*index.table_key_attrs, *(k["AttributeName"] for k in index.schema)]
    else:
        scope = hash_key if isinstance(hash_key, DynamoType) else None
    if scope is None:
        return _MOTO_QUERY(self, hash_key, *args, **kwargs)
    _QUERY.scope, _QUERY.keys_only = (self, scope), keys_only
    try:
        return _MOTO_QUERY(self, hash_key, *args, **kwargs)
    finally:
        _QUERY.scope = _QUERY.keys_only = None


def _keys_copy(item: Item, keys: list[str]) -> Item:
    """What `index.project(copy.deepcopy(item))` gives for a KEYS_ONLY index, without copying and converting
    every attribute of the item first: its string-typed key attributes (anything else: moto's own way)."""
    attrs = {name: item.attrs[name] for name in keys if name in item.attrs}
    if any(type(v) is not DynamoType or v.type != "S" for v in attrs.values()):
        return copy.deepcopy(item)
    return Item(item.hash_key, item.range_key, {name: {"S": v.value} for name, v in attrs.items()})


class _QueryCopies:
    """Stands in for the `copy` module inside moto's table model: a query's deep copy of its results, made
    before the index projects them (Table.query), copies only the keys when the index keeps only its keys
    (moto then projects those, to the same keys); every other copy is the `copy` module's."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        keys = getattr(_QUERY, "keys_only", None)
        if keys is not None and type(value) is list:
            return [_keys_copy(item, keys) if isinstance(item, Item) else copy.deepcopy(item) for item in value]
        return copy.deepcopy(value, memo)


_MOTO_ALL_ITEMS = Table.all_items
_MOTO_QUERY = Table.query


def _install_reads() -> None:
    if os.environ.get(GENERIC_ENV) == "1":
        return
    generic = DynamoHandler.serialized
    Table.all_items = _all_items  # type: ignore[method-assign,assignment]
    Table.query = _query  # type: ignore[method-assign]
    setattr(table_models, "copy", _QueryCopies)  # noqa: B010 (moto imports `copy` as a module global)

    def serialized(self: DynamoHandler, action_result: ActionResult) -> Any:
        result = action_result.result
        if isinstance(result, dict) and self._get_action() in READS:
            headers = {**self.response_headers, "Content-Type": JSON_10}
            return 200, headers, dynamo_json_dump(result)
        return generic(self, action_result)

    DynamoHandler.serialized = serialized  # type: ignore[method-assign,assignment]


def _send_attributes(queue: Queue) -> dict[str, Any]:
    """The one queue attribute moto's send path reads, as `Queue.attributes` would give it."""
    if not queue.fifo_queue:
        return {}
    value = getattr(queue, camelcase_to_underscores("ContentBasedDeduplication"))
    return {"ContentBasedDeduplication": str(value).lower() if isinstance(value, bool) else value}


def _retained(backend: SQSBackend, queue_name: str, message: Message) -> bool:
    """`SQSBackend.is_message_valid_based_on_retention_period`, which reads the retention period through
    get_queue_attributes: every attribute of the queue computed three times, the approximate counts walking
    every message, for each message a receive considers (py-spy, bench.ingest: a quarter of the SQS process).
    Here the one attribute is read as `Queue.attributes` gives it (an int; moto's own code if it is unset)."""
    retention = getattr(backend.get_queue(queue_name), camelcase_to_underscores("MessageRetentionPeriod"))
    if not isinstance(retention, int) or isinstance(retention, bool):
        return _MOTO_RETAINED(backend, queue_name, message)
    return retention + message.sent_timestamp / 1000 > unix_time()  # type: ignore[operator]


_MOTO_RETAINED = SQSBackend.is_message_valid_based_on_retention_period


def _listed(queue: Queue) -> list[Message]:
    """`Queue.messages` (visible and not delayed: `Message.visible`, `Message.delayed`) at one clock reading."""
    now = unix_time_millis()
    return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]


def _install_sqs() -> None:
    all_attributes = Queue.__dict__["attributes"].fget
    original_send = SQSBackend.send_message
    SQSBackend.is_message_valid_based_on_retention_period = _retained  # type: ignore[method-assign,assignment]
    Queue.messages = property(_listed)  # type: ignore[assignment,method-assign]

    def attributes(self: Queue) -> dict[str, Any]:
        return _send_attributes(self) if getattr(_SENDING, "active", False) else all_attributes(self)

    def send_message(self: SQSBackend, *args: Any, **kwargs: Any) -> Any:
        _SENDING.active = True
        try:
            return original_send(self, *args, **kwargs)
        finally:
            _SENDING.active = False

    Queue.attributes = property(attributes)  # type: ignore[assignment,method-assign]
    SQSBackend.send_message = send_message  # type: ignore[method-assign]


def _install_module_list() -> None:
    modules = tuple(moto_backends.list_of_moto_modules())
    moto_backends.list_of_moto_modules = lambda: iter(modules)


_NO_BODY = frozenset({204, 304})
_LOG = logging.getLogger("werkzeug")


class KeepAliveHandler(MotoRequestHandler):
    """moto's request handler on persistent HTTP/1.1 connections (Werkzeug's closes every one)."""

    def setup(self) -> None:
        super().setup()
        # The answer is one write, but the client's next request should not wait on an ACK either.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def run_wsgi(self) -> None:
        length = self.headers.get("Content-Length")
        if (self.headers.get("Transfer-Encoding") or self.headers.get("Expect")
                or (length is not None and not length.isdigit())):
            super().run_wsgi()  # Werkzeug's own handling; it closes the connection
            return
        self.environ = environ = self.make_environ()
        body_in = LimitedStream(self.rfile, int(length or 0))  # type: ignore[arg-type]
        environ["wsgi.input"] = body_in
        try:
            status, headers, body = self._call(environ)
        except Exception:  # as Werkzeug answers an application's exception: 500, logged, connection closed
            self.server.log("error", f"Error on request:\n{traceback.format_exc()}")
            status, headers, body = self._call(environ, InternalServerError())
            self.close_connection = True
        code = int(status.split(None, 1)[0])
        if self.command == "HEAD" or code in _NO_BODY or code < 200:
            body = b""
        elif not any(k.lower() == "content-length" for k, _ in headers):
            headers.append(("Content-Length", str(len(body))))
        body_in.exhaust()  # whatever the application left unread of this request's body
        if self.close_connection:
            headers.append(("Connection", "close"))
        head = "".join([f"{self.protocol_version} {status}\r\n", *(f"{k}: {v}\r\n" for k, v in headers), "\r\n"])
        self.wfile.write(head.encode("latin-1") + body)
        if _LOG.isEnabledFor(logging.INFO):
            self.log_request(code, len(body))

    def _call(self, environ: dict[str, Any], app: Any = None) -> tuple[str, list[tuple[str, str]], bytes]:
        started: list[Any] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, list(headers)]
            return chunks.append

        result = (app or self.server.app)(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return started[0], started[1], b"".join(chunks)


_PLAIN = frozenset({str, int, float, bool, type(None), Decimal, bytes})


def _to_dict(obj: Any) -> Any:
    """`moto.dynamodb.models.utilities.dynamo_to_dict`, branch for branch, which converts every answer before it
    is serialized: moto's re-imports DynamoType on every (recursive) call and tests each value's type four ways;
    here plain values return at once and DynamoTypes, dicts and lists are told by their exact type (a subclass,
    a datetime, anything else goes through moto's own function)."""
    kind = type(obj)
    if kind in _PLAIN:
        return obj
    if kind is DynamoType:
        type_, value = obj.type, obj.value
        if type_ == "B":
            return {"B": value if isinstance(value, bytes) else base64.b64decode(value)}
        if type_ == "BS":
            return {"BS": [v if isinstance(v, bytes) else base64.b64decode(v) for v in value]}
        return {type_: _to_dict(value)}
    if kind is dict:
        return {k: _to_dict(v) for k, v in obj.items()}
    if kind is list:
        return [_to_dict(v) for v in obj]
    if kind is Item:
        return _to_dict(obj.to_json())
    return dynamo_utilities.dynamo_to_dict(obj)


def install() -> None:
    _install_sqs()
    _install_reads()
    _install_module_list()
    if os.environ.get(moto_writes.GENERIC_ENV) != "1":
        moto_writes.install()
        moto_expressions.install()
        if os.environ.get(GENERIC_ENV) != "1":  # each of the tests' generic servers keeps moto's own
            setattr(dynamodb_responses, "dynamo_to_dict", _to_dict)  # noqa: B010 (DynamoResult's module global)
    original_call = DynamoHandler.call_action
    original_transact = DynamoDBBackend.transact_write_items

    def call_action(self: DynamoHandler) -> Any:
        with _LOCK:
            return original_call(self)

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        with _LOCK:
            saved = _saved_items(self, transact_items) if len(transact_items) <= 100 else []
            try:
                original_transact(self, transact_items)
            except BaseException:
                _restore(saved)
                raise

    setattr(dynamodb_models, "copy", _TablesAsTheyAre)  # noqa: B010 (moto imports `copy` as a module global)
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    install()
    # One log line per request cost a tenth of the server's time (py-spy: the handler's lock and write);
    # errors and tracebacks are still logged. STEADFAST_MOTO_REQUEST_LOG=1 brings the request lines back.
    if os.environ.get("STEADFAST_MOTO_REQUEST_LOG") != "1":
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from moto import server as moto_server

    setattr(moto_server, "MotoRequestHandler", KeepAliveHandler)  # noqa: B010 (the handler its run_simple gets)
    gc_policy.freeze_survivors()
    moto_server.main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
