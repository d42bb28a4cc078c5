"""S3 on loopback for tests: a moto server (real HTTP), plus throttling injected on the wire."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from botocore.awsrequest import AWSResponse
from moto.server import ThreadedMotoServer

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def moto_server() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


class Throttle:
    """Answer the next `times` ListObjectsV2 requests with 503 SlowDown, as S3 does."""

    def __init__(self, times: int) -> None:
        self.remaining = times
        self.sent = 0

    def __call__(self, request: object, **kwargs: object) -> AWSResponse | None:
        if self.remaining <= 0:
            return None
        self.remaining -= 1
        self.sent += 1
        return _Raw503(getattr(request, "url", "")).response()

    def attach(self, client: object) -> None:
        client.meta.events.register("before-send.s3.ListObjectsV2", self)  # type: ignore[attr-defined]


class _Raw503:
    def __init__(self, url: str) -> None:
        self.url = url

    def response(self) -> AWSResponse:
        raw = _Body(SLOW_DOWN)
        return AWSResponse(self.url, 503, {"Content-Type": "application/xml"}, raw)


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **kwargs: object) -> Iterator[bytes]:
        yield self.data
