"""uvicorn's HTTP/1.1 protocol with its one answer of its own made an RFC 9457 problem.

A request that h11 cannot parse never reaches the ASGI app: uvicorn answers it itself with a text/plain
"Invalid HTTP request received." That happens to well-formed requests too. h11 buffers at most
`h11_max_incomplete_event_size` (16 KiB) of an unfinished request head, so a long URL or header block that
arrives over several reads is refused, where the same bytes in one read are served. Every other error of
the stream app and the local API is problem JSON, so this one is as well: 431 for a head over the limit
and 400 for anything else h11 refuses.

Use it as `uvicorn --http shared.http_server:ProblemH11Protocol` or `uvicorn.run(..., http=ProblemH11Protocol)`.
"""

from __future__ import annotations

import json

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE  # uvicorn's default takes it from here too
from uvicorn.protocols.http.h11_impl import H11Protocol

from shared import problems


class ProblemH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        limit = self.config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
        buffered, _ = self.conn.trailing_data
        if len(buffered) > limit:
            body = problems.problem(431, "Request Header Fields Too Large",
                                    f"the request line and headers exceed {limit} bytes", slug="head-too-large")
        else:
            body = problems.problem(400, "Bad Request", "the request is not valid HTTP/1.1",
                                    slug="malformed-request")
        data = json.dumps(body).encode()
        headers = [(b"content-type", problems.PROBLEM_CONTENT_TYPE.encode()),
                   (b"content-length", str(len(data)).encode()), (b"connection", b"close")]
        for event in (h11.Response(status_code=body["status"], headers=headers), h11.Data(data=data),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()
