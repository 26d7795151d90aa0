"""service.middleware: the body limits stop reading early (size) and stop waiting (time)."""

import asyncio

from starlette.types import Message, Receive, Scope, Send

from service.middleware import BodyLimitMiddleware

CHUNK = b"x" * 1000


async def read_whole_body(scope: Scope, receive: Receive, send: Send) -> None:
    """An inner app that reads everything, then answers 200."""
    while (await receive()).get("more_body", False):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def call(middleware: BodyLimitMiddleware, headers: list[tuple[bytes, bytes]], chunks: int) -> tuple[int, int]:
    """(status sent, chunks the client had to deliver) for a body of ``chunks`` x 1000 bytes."""
    delivered = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal delivered
        delivered += 1
        return {"type": "http.request", "body": CHUNK, "more_body": delivered < chunks}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    asyncio.run(middleware(scope, receive, send))
    return sent[0]["status"], delivered


def test_body_limit_stops_reading_a_chunked_body_past_the_limit() -> None:
    middleware = BodyLimitMiddleware(read_whole_body, max_bytes=5_000, timeout_s=60)
    status, delivered = call(middleware, headers=[], chunks=1_000)
    assert status == 413
    assert delivered == 6  # the chunk that crossed 5000 bytes, not the 1 MB the client had


def test_body_limit_refuses_a_declared_length_without_reading() -> None:
    middleware = BodyLimitMiddleware(read_whole_body, max_bytes=5_000, timeout_s=60)
    status, delivered = call(middleware, headers=[(b"content-length", b"1000000")], chunks=1_000)
    assert (status, delivered) == (413, 0)


def test_body_limit_lets_small_bodies_through() -> None:
    middleware = BodyLimitMiddleware(read_whole_body, max_bytes=5_000, timeout_s=60)
    assert call(middleware, headers=[(b"content-length", b"3000")], chunks=3) == (200, 3)


def test_body_limit_answers_408_when_the_body_stops_arriving() -> None:
    """A client that sent one chunk and then nothing: the deadline ends the wait for the rest."""
    middleware = BodyLimitMiddleware(read_whole_body, max_bytes=5_000, timeout_s=0.05)
    sent: list[Message] = []
    chunks = 0

    async def receive() -> Message:
        nonlocal chunks
        chunks += 1
        if chunks > 1:
            await asyncio.Event().wait()  # never set: the rest of the body never comes
        return {"type": "http.request", "body": CHUNK, "more_body": True}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    asyncio.run(asyncio.wait_for(middleware(scope, receive, send), timeout=10))
    assert sent[0]["status"] == 408
    assert chunks == 2
