"""Connector tests run each scenario with every store backend (Redis is a real server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.connector.line import StoreFactory, store_factory


@pytest.fixture(params=["memory", "sqlite", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    kind = request.param
    redis_url = request.getfixturevalue("redis_url") if kind == "redis" else None
    return store_factory(kind, tmp_path, redis_url)
