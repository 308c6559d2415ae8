"""Fixtures of the own client's protocol tests: channels closed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from colonnade.gateway.grpcwire import Channel
from tests.gateway.h2server import MakeChannel


@pytest.fixture
async def channels() -> AsyncIterator[MakeChannel]:
    made: list[Channel] = []

    def make(target: str, **options: Any) -> Channel:
        channel = Channel(target, **options)
        made.append(channel)
        return channel

    yield make
    for channel in made:
        await channel.close()
