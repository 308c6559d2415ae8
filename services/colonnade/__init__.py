"""Colonnade: Python gRPC microservices on AWS."""
