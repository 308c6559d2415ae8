"""An in-process Python implementation of the conformance service for the HTTP tests."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from google.protobuf import any_pb2, empty_pb2
from google.rpc import error_details_pb2, status_pb2


def make_servicer(pb: Any, pb_grpc: Any) -> Any:
    """Builds the servicer class against the compiled conformance modules."""

    class Servicer(pb_grpc.ConformanceServiceServicer):  # type: ignore[misc]
        def __init__(self) -> None:
            self.last: Any = None
            self.last_metadata: dict[str, Any] = {}

        def _seen(self, request: Any, context: Any) -> None:
            self.last = request
            self.last_metadata = dict(context.invocation_metadata())

        async def GetThing(self, request: Any, context: Any) -> Any:
            self._seen(request, context)
            if request.id == "missing":
                await context.abort(grpc.StatusCode.NOT_FOUND, f"thing {request.id} not found")
            return pb.Thing(id=request.id, name=f"things/{request.id}", size=2**40)

        async def GetNested(self, request: Any, context: Any) -> Any:
            self._seen(request, context)
            return pb.Thing(name=request.thing.name, id=request.view)

        async def Deep(self, request: Any, context: Any) -> Any:
            self._seen(request, context)
            return pb.Thing(name=request.path, inner=request.options)

        async def Wild(self, request: Any, context: Any) -> Any:
            self._seen(request, context)
            return pb.Thing(id=request.id)

        async def CreateThing(self, request: Any, context: Any) -> Any:
            self._seen(request, context)
            return request

        async def UpdateThing(self, request: Any, context: Any) -> Any:
            self._seen(request, context)
            out = pb.Thing()
            out.CopyFrom(request.thing)
            out.tags.extend(request.update_mask.paths)
            return out

        async def Echo(self, request: Any, context: Any) -> Any:
            self._seen(request, context)
            return request

        async def ListThings(self, request: Any, context: Any) -> Any:
            self._seen(request, context)
            n = request.page_size or 2
            return pb.ListThingsResponse(
                things=[pb.Thing(id=str(i), tags=list(request.tags)) for i in range(n)],
                next_page_token="next",
            )

        async def Head(self, request: Any, context: Any) -> Any:
            self._seen(request, context)
            return empty_pb2.Empty()

        async def DeleteThing(self, request: Any, context: Any) -> Any:
            self._seen(request, context)
            return empty_pb2.Empty()

        async def StreamThings(self, request: Any, context: Any) -> Any:
            self._seen(request, context)
            for i in range(request.count):
                yield pb.Thing(id=str(i))
                await asyncio.sleep(0)
            if request.fail_code:
                await context.abort(_code(request.fail_code), "stream broke")

        async def Upload(self, request: Any, context: Any) -> Any:
            self._seen(request, context)
            from google.api import httpbody_pb2

            return httpbody_pb2.HttpBody(
                content_type="text/plain; charset=utf-8",
                data=f"{request.name}:{request.data.content_type}:".encode() + request.data.data,
            )

        async def Download(self, request: Any, context: Any) -> Any:
            self._seen(request, context)
            from google.api import httpbody_pb2

            for part in (b"hello ", b"world"):
                yield httpbody_pb2.HttpBody(content_type="text/plain", data=part)
                if request.id == "broken":  # fails after the first part
                    await context.abort(grpc.StatusCode.DATA_LOSS, "download broke")

        async def Inspect(self, request: Any, context: Any) -> Any:
            self._seen(request, context)
            if request.sleep.ToNanoseconds():
                await asyncio.sleep(request.sleep.ToNanoseconds() / 1e9)
            if request.headers:
                await context.send_initial_metadata(tuple(request.headers.items()))
            if request.trailers:
                context.set_trailing_metadata(tuple(request.trailers.items()))
            md = {
                k: (v if isinstance(v, str) else v.hex()) for k, v in context.invocation_metadata()
            }
            remaining = context.time_remaining()
            return pb.InspectResponse(metadata=md, time_remaining=remaining or 0.0)

        async def Fail(self, request: Any, context: Any) -> Any:
            self._seen(request, context)
            detail = any_pb2.Any()
            detail.Pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field="code", description="asked to fail"
                        )
                    ]
                )
            )
            info = any_pb2.Any()
            info.Pack(error_details_pb2.ErrorInfo(reason="ASKED", domain="conformance.test"))
            status = status_pb2.Status(
                code=request.code, message=f"failing with {request.code}", details=[detail, info]
            )
            await context.abort(
                _code(request.code),
                status.message,
                trailing_metadata=(
                    *request.trailers.items(),
                    ("grpc-status-details-bin", status.SerializeToString()),
                ),
            )

        async def Collect(self, request_iterator: Any, context: Any) -> Any:
            self.last_metadata = dict(context.invocation_metadata())
            out = pb.CollectResponse()
            async for request in request_iterator:
                if request.fail_code:
                    await context.abort(_code(request.fail_code), f"failed at message {out.count}")
                out.count += 1
                out.total += request.size
                out.first = out.first or request.id
                out.last = request.id
            return out

        async def Chat(self, request_iterator: Any, context: Any) -> Any:
            self.last_metadata = dict(context.invocation_metadata())
            yield pb.ChatMessage(text="hello")  # before any request message arrives
            async for request in request_iterator:
                if request.fail_code:
                    await context.abort(_code(request.fail_code), f"chat broke at {request.text!r}")
                yield pb.ChatMessage(text=f"echo: {request.text}")
            yield pb.ChatMessage(text="bye")

        async def GetMany(self, request: Any, context: Any) -> Any:
            self._seen(request, context)
            return request

        async def CustomVerb(self, request: Any, context: Any) -> Any:
            self._seen(request, context)
            return pb.Thing(id=request.id, name="custom:custom")

        async def PatchDynamic(self, request: Any, context: Any) -> Any:
            self._seen(request, context)
            return request

        async def Search(self, request: Any, context: Any) -> Any:
            return await self.ListThings(request, context)

    return Servicer()


def _code(n: int) -> grpc.StatusCode:
    for c in grpc.StatusCode:
        if c.value[0] == n:
            return c
    raise ValueError(n)
