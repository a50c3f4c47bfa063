"""One HTTP session shared by every `LedgerClient` the dashboard opens."""

from __future__ import annotations

import aiohttp

from ilpnet.ledger.client import LedgerClient
from ilpnet.web.wallet import Credentials


class LedgerPool:
    """Clients for ledgers by URL, open or as an account, over one connection pool."""

    def __init__(self, timeout: float = 10.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    def open_client(self, url: str) -> LedgerClient:
        return LedgerClient(url, session=self.session)

    def client(self, url: str, creds: Credentials) -> LedgerClient:
        return LedgerClient(url, creds.account, creds.secret, session=self.session)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
