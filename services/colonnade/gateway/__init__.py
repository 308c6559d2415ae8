"""Colonnade's REST gateway: REST/JSON in front of gRPC services, driven by descriptor sets.

It reads every `google.api.http` rule from FileDescriptorSets at start-up (no generated
per-service code), routes HTTP requests to methods, transcodes JSON to protobuf and back with
converters compiled per message type, and calls the gRPC backends over pooled channels.
See README.md in this folder for the behaviour and where it follows grpc-gateway or Envoy.
"""
