"""CloudWatch EMF from a metrics registry: deltas per interval, histograms, the schema."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from colonnade.runtime.emf import CLOUDWATCH_METRICS, EmfEmitter
from colonnade.runtime.metrics import Metrics
from tests.emfcheck import emf_problems


def by_dims(docs: list[dict[str, Any]]) -> dict[tuple[str, ...], dict[str, Any]]:
    return {tuple(d.get(k, "") for k in ("Service", "Method", "Route")): d for d in docs}


def test_counts_are_deltas_and_errors_are_server_side_codes() -> None:
    m = Metrics("catalog", process=False)
    emf = EmfEmitter(m)
    for code in ("OK", "OK", "NOT_FOUND", "INTERNAL", "UNAVAILABLE"):
        m.rpc_finished("GetProduct", code, 0.003)
    m.rpc_finished("ListProducts", "OK", 0.02)
    docs = by_dims(emf.documents(timestamp_ms=1_000))
    get = docs[("catalog", "GetProduct", "")]
    assert get["rpc_server_requests"] == 5
    assert get["rpc_server_errors"] == 2  # NOT_FOUND is the caller's, not the service's
    assert get["_aws"]["Timestamp"] == 1_000
    assert get["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Service", "Method"], ["Service"]]
    assert docs[("catalog", "ListProducts", "")]["rpc_server_errors"] == 0

    m.rpc_finished("GetProduct", "OK", 0.003)
    again = by_dims(emf.documents(timestamp_ms=2_000))
    assert again[("catalog", "GetProduct", "")]["rpc_server_requests"] == 1
    assert again[("catalog", "ListProducts", "")]["rpc_server_requests"] == 0
    assert "rpc_server_duration_seconds" not in again[("catalog", "ListProducts", "")]


def test_histograms_become_values_and_counts_of_the_interval() -> None:
    m = Metrics("gateway", process=False)
    emf = EmfEmitter(m)
    for seconds in (0.0007, 0.0008, 0.003, 0.04, 60.0):
        m.http_request("/v1/products", "GET", "200", seconds)
    m.http_request("/v1/products", "GET", "503", 0.2)
    doc = by_dims(emf.documents())[("gateway", "", "GET /v1/products")]
    assert doc["http_requests"] == 6 and doc["http_errors"] == 1
    hist = doc["http_request_duration_seconds"]
    # buckets (0.0005, 0.001], (0.0025, 0.005], (0.025, 0.05], (0.1, 0.25], (30, +Inf)
    assert hist["Counts"] == [2, 1, 1, 1, 1]
    assert hist["Values"] == pytest.approx([0.00075, 0.00375, 0.0375, 0.175, 30.0])
    assert hist["Count"] == 6 and hist["Min"] == 0.0005 and hist["Max"] == 30.0
    assert emf_problems(doc) == []

    m.http_request("/v1/products", "GET", "200", 0.003)
    later = by_dims(emf.documents())[("gateway", "", "GET /v1/products")]
    assert later["http_request_duration_seconds"]["Counts"] == [1]


def test_every_document_is_valid_emf_and_names_are_catalogued() -> None:
    m = Metrics("catalog")
    emf = EmfEmitter(m, namespace="Colonnade")
    m.rpc_finished("GetProduct", "OK", 0.001)
    m.client_call("catalog:50051", "ReserveStock", "DEADLINE_EXCEEDED", 0.5)
    m.db_query("fetchrow", 0.0004, failed=False)
    m.db_acquired(0.01, exhausted=True)
    m.cache_lookup(hit=True)
    m.cache_lookup(hit=False)
    m.cache_command("get", 0.0002, failed=True)
    lines: list[str] = []
    writer = EmfEmitter(m, write=lines.append)
    assert writer.flush() == len(lines) > 0
    docs = [orjson.loads(line) for line in lines] + emf.documents()
    names = set()
    for doc in docs:
        assert emf_problems(doc) == [], doc
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "Colonnade"
            for metric in directive["Metrics"]:
                assert metric["Unit"] == CLOUDWATCH_METRICS[metric["Name"]][0]
                names.add(metric["Name"])
    assert {"rpc_client_errors", "db_pool_exhausted", "cache_errors", "cache_hits"} <= names


def test_the_schema_check_rejects_broken_documents() -> None:
    good = {
        "_aws": {
            "Timestamp": 1,
            "CloudWatchMetrics": [
                {"Namespace": "N", "Dimensions": [["Service"]], "Metrics": [{"Name": "x"}]}
            ],
        },
        "Service": "s",
        "x": 1,
    }
    assert emf_problems(good) == []
    assert emf_problems({**good, "Service": 3})
    assert emf_problems({k: v for k, v in good.items() if k != "x"})
    assert emf_problems(
        {**good, "x": {"Values": [1], "Counts": [2], "Min": 1, "Max": 1, "Sum": 2, "Count": 3}}
    )
    bad_unit = orjson.loads(orjson.dumps(good))
    bad_unit["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = "Parsecs"
    assert emf_problems(bad_unit)
