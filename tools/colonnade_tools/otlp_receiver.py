"""What the deploy rehearsal runs in place of the ADOT collector sidecar: an OTLP/gRPC trace
receiver printing one JSON line per span it receives (``service``, ``trace_id``, ``name``).

ECS runs the collector in the task's network namespace, and the service exports its spans to
``OTLP_ENDPOINT=http://127.0.0.1:4317``. The collector's image cannot be pulled here, so the
rehearsal runs this file with the service's own image (``python3 -c``: it imports only grpcio
and opentelemetry-proto, both in the image) in the service container's network namespace:
the service's exporter, endpoint and sampling are the ones the plan gives it, only what
receives the spans differs (and the export from the collector to X-Ray is not rehearsed).
"""

from __future__ import annotations

import json
import sys
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

#: Where the ADOT collector's ECS configuration listens for OTLP/gRPC.
ADDRESS = "127.0.0.1:4317"


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "",
            )
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    line = {"service": service, "trace_id": span.trace_id.hex(), "name": span.name}
                    print(json.dumps(line), flush=True)
        return trace_service_pb2.ExportTraceServiceResponse()


def main(address: str = ADDRESS) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    add = trace_service_pb2_grpc.add_TraceServiceServicer_to_server  # generated, untyped
    add(Receiver(), server)  # type: ignore[no-untyped-call]
    if server.add_insecure_port(address) == 0:
        sys.exit(f"cannot listen on {address}")
    server.start()
    print(json.dumps({"listening": address}), flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main(*sys.argv[1:])
