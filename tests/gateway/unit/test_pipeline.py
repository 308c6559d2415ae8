"""The request pipeline (pipeline.py): order, answering, refusing, waiting, the way back."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import orjson
import pytest

from colonnade.gateway.errors import ClientDisconnected, StatusError
from colonnade.gateway.exchange import Exchange
from colonnade.gateway.pipeline import Pipeline, Step, StepResult
from colonnade.gateway.responses import Reply, Response
from colonnade.gateway.status import Code


def exchange(headers: list[tuple[bytes, bytes]] | None = None) -> Exchange:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1/x",
        "raw_path": b"/v1/x?q=1",
        "query_string": b"q=1",
        "headers": headers or [],
    }

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.disconnect"}

    return Exchange(scope, receive)


class Recorder(Step):
    """Records its calls; answers, refuses or waits as told."""

    def __init__(self, log: list[str], name: str, answer: Any = None, wait: bool = False):
        self.log, self.name, self.answer, self.wait = log, name, answer, wait

    def request(self, ex: Exchange) -> StepResult:
        self.log.append(f"request {self.name}")
        if isinstance(self.answer, BaseException):
            raise self.answer
        if self.wait:
            return self._later()
        return self.answer  # type: ignore[no-any-return]

    async def _later(self) -> Response | None:
        await asyncio.sleep(0)
        self.log.append(f"waited {self.name}")
        return self.answer  # type: ignore[no-any-return]


class Stamp(Recorder):
    """A step with a response hook: adds a header on the way back."""

    def response(self, ex: Exchange, response: Response) -> None:
        self.log.append(f"response {self.name}")
        response.headers.append((b"x-stamp", self.name.encode()))


async def run(steps: list[Step], ex: Exchange | None = None) -> list[MutableMapping[str, Any]]:
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await Pipeline(steps).run(ex or exchange(), send)
    return sent


async def test_steps_run_in_order_until_one_answers_and_hooks_run_back() -> None:
    log: list[str] = []
    answer = Reply(200, [(b"content-type", b"text/plain")], b"hi")
    sent = await run(
        [
            Stamp(log, "a"),
            Recorder(log, "b"),
            Stamp(log, "c", answer=answer, wait=True),
            Stamp(log, "d"),  # never reached: no request, no response hook
        ]
    )
    assert log == ["request a", "request b", "request c", "waited c", "response c", "response a"]
    assert sent[0]["status"] == 200
    assert sent[0]["headers"] == [
        (b"content-type", b"text/plain"),
        (b"x-stamp", b"c"),
        (b"x-stamp", b"a"),
        (b"content-length", b"2"),
    ]
    assert sent[1]["body"] == b"hi"


async def test_a_step_that_waits_and_hands_on() -> None:
    log: list[str] = []
    await run([Recorder(log, "a", wait=True), Recorder(log, "b", answer=Reply(204, [], b""))])
    assert log == ["request a", "waited a", "request b"]


async def test_a_refusal_becomes_a_status_reply_seen_by_the_hooks() -> None:
    log: list[str] = []
    ex = exchange()
    sent = await run(
        [Stamp(log, "a"), Recorder(log, "b", answer=StatusError(Code.PERMISSION_DENIED, "no"))],
        ex,
    )
    assert log == ["request a", "request b", "response a"]
    assert sent[0]["status"] == 403
    assert (b"x-request-id", ex.request_id) in sent[0]["headers"]
    assert (b"x-stamp", b"a") in sent[0]["headers"]
    assert orjson.loads(sent[1]["body"]) == {"code": 7, "message": "no", "details": []}


async def test_a_client_that_left_gets_nothing() -> None:
    assert await run([Recorder([], "a", answer=ClientDisconnected())]) == []


async def test_a_pipeline_without_an_answer_is_a_bug() -> None:
    with pytest.raises(RuntimeError, match="no step answered"):
        await run([Recorder([], "a")])


def test_the_exchange_reads_the_request_head_once() -> None:
    ex = exchange(
        [
            (b"x-request-id", b"req-42"),
            (b"origin", b"https://app"),
            (b"te", b"trailers"),
            (b"content-type", b"application/json"),
            (b"content-length", b"12"),
            (b"grpc-timeout", b"5S"),
            (b"accept", b"text/event-stream"),
        ]
    )
    assert ex.path == "/v1/x"  # raw path, without the query
    assert (ex.request_id, ex.origin, ex.te) == (b"req-42", b"https://app", b"trailers")
    assert (ex.content_type, ex.content_length) == (b"application/json", 12)
    assert (ex.timeout_header, ex.accept) == ("5S", b"text/event-stream")
    assert ex.response_headers == [(b"x-request-id", b"req-42")]
    assert not ex.trailers_ok()  # the server offered no trailers extension


@pytest.mark.parametrize("rid", [b"", b"x" * 201, b"tab\there"])
def test_request_ids_that_cannot_travel_are_replaced(rid: bytes) -> None:
    ex = exchange([(b"x-request-id", rid)])
    assert len(ex.request_id) == 32 and ex.request_id != rid
