from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf import timestamp_pb2

from colonnade.runtime.responses import ByIdentity, timestamp


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 26, 12, 0, 1, 999_999, tzinfo=UTC),
        datetime(2026, 11, 26, 14, 0, 1, 5, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 11, 26, 12, 0, 1, 123_456),  # naive: UTC
        datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),  # before the epoch
        datetime(1, 1, 1, tzinfo=UTC),
    ],
)
def test_timestamp_is_what_from_datetime_gives(value: datetime) -> None:
    expected = timestamp_pb2.Timestamp()
    expected.FromDatetime(value)
    assert timestamp(value) == expected


def test_by_identity_converts_each_object_once_and_forgets_the_oldest() -> None:
    calls: list[list[int]] = []

    def convert(value: list[int]) -> str:
        calls.append(value)
        return str(value)

    memo = ByIdentity(convert, size=2)
    a, b, c = [1], [2], [3]
    assert memo(a) == memo(a) == "[1]"
    assert len(calls) == 1
    assert memo([1]) == "[1]" and len(calls) == 2  # equal is not the same object
    memo(b)
    memo(c)  # a and the other [1] went: two entries at most
    memo(a)
    assert calls[-1] is a and len(calls) == 5


def test_by_identity_when_memoises_only_shared_values() -> None:
    calls: list[list[int]] = []

    def convert(value: list[int]) -> str:
        calls.append(value)
        return str(value)

    assert ByIdentity.when(False, convert) is convert  # new objects every time: no memo
    memo = ByIdentity.when(True, convert)
    a = [1]
    assert memo(a) == memo(a) == "[1]" and calls == [a]


def test_by_identity_forgets_in_order_past_many_evictions() -> None:
    memo: ByIdentity[list[int], object] = ByIdentity(lambda value: object(), size=3)
    kept = [[i] for i in range(1000)]
    results = [memo(value) for value in kept]  # 997 evictions, oldest first
    assert [memo(value) for value in kept[-3:]] == results[-3:]
    assert memo(kept[-4]) is not results[-4]
