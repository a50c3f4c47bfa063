"""Every store test runs against all three backends (Redis is a real server)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ilpnet.connector.store import Store, open_store


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    kind = request.param
    if kind == "memory":
        url = "memory://"
    elif kind == "sqlite":
        url = f"sqlite:///{tmp_path}/store.db"
    else:
        base = request.getfixturevalue("redis_url")
        url = f"{base}?prefix=t{uuid.uuid4().hex}"
    opened = await open_store(url)
    yield opened
    await opened.close()
