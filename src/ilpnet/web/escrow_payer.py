"""Cross-ledger payments from the send form, through an escrow connector's public API.

The source account escrows to the connector, which escrows on the destination ledger
under the same condition (`ilpnet.app.escrow_sender`). The destination is an invoice URL,
or an account the dashboard holds the secret of: the dashboard runs that account's
`EscrowReceiver`, so it fulfils escrows whose condition derives from its receive key.
Same-ledger payments stay plain transfers (`OnLedgerPayer`).
"""

from __future__ import annotations

from collections import deque

import aiohttp

from ilpnet.app.escrow_sender import PaymentError as EscrowPaymentError
from ilpnet.app.escrow_sender import PaymentFailed, pay_from_ledger, quote_payment
from ilpnet.clock import Clock
from ilpnet.crypto.receive_keys import receive_key_from_secret
from ilpnet.web.ledger_pool import LedgerPool
from ilpnet.web.network_view import ConnectorView, LedgerView, NetworkView
from ilpnet.web.payer import (
    OnLedgerPayer,
    Payment,
    PaymentError,
    PaymentRequest,
    account_node,
    ledger_node,
)
from ilpnet.web.wallet import Wallet

DEPOSIT_PER_ROLLBACK = 5
"""A first payment from an account pays the connector a deposit worth this many roll-backs."""


def is_invoice_url(destination: str) -> bool:
    return destination.startswith(("http://", "https://"))


class EscrowPayer:
    """Pays on one ledger by transfer, and across ledgers through an escrow connector."""

    def __init__(
        self, network: NetworkView, pool: LedgerPool, clock: Clock, wallet: Wallet
    ) -> None:
        self.network = network
        self.pool = pool
        self.clock = clock
        self.wallet = wallet
        self.on_ledger = OnLedgerPayer(network.ledgers, pool, clock)

    def connector_for(self, source: str, destination: str) -> ConnectorView:
        """Where the sender escrows: a connector on both ledgers, else one on the source
        ledger with a path of peers to the destination (it quotes the whole path)."""
        serving = [v for v in self.network.connectors.values() if v.public_url]
        for view in serving:
            if {source, destination} <= set(view.ledgers):
                return view
        for view in serving:
            if source in view.ledgers and self.path(view.name, destination):
                return view
        raise PaymentError(
            f"no escrow connector in this network reaches {destination} from {source}"
        )

    def path(self, start: str, ledger: str) -> list[str]:
        """The connectors from `start` to the nearest one on `ledger` (peer hops), or []."""
        connectors = self.network.connectors
        came_from: dict[str, str | None] = {start: None}
        queue = deque([start])
        while queue:
            name = queue.popleft()
            if ledger in connectors[name].ledgers:
                path: list[str] = []
                step: str | None = name
                while step is not None:
                    path.append(step)
                    step = came_from[step]
                return path[::-1]
            for peer in connectors[name].peers:
                if peer in connectors and peer not in came_from:
                    came_from[peer] = name
                    queue.append(peer)
        return []

    def _ledger(self, key: str) -> LedgerView:
        ledger = self.network.ledgers.get(key)
        if ledger is None:
            raise PaymentError(f"unknown ledger {key!r}")
        return ledger

    async def pay(self, request: PaymentRequest) -> Payment:
        src = request.source
        same_ledger = request.destination_ledger == src.ledger
        if request.to_pointer:
            raise PaymentError(
                "payment pointers are paid over STREAM (`ilpnet send`); here pay an account "
                "the dashboard knows, or a receiver's invoice URL"
            )
        if same_ledger and not is_invoice_url(request.destination):
            return await self.on_ledger.pay(request)
        source = self._ledger(src.ledger)
        target = self._ledger(request.destination_ledger)
        connector = self.connector_for(source.key, target.key)
        receive_key: bytes | None = None
        if is_invoice_url(request.destination):
            to, shown = request.destination, request.destination
        else:
            known = {(c.ledger, c.account) for c in self.wallet.accounts()}
            if (target.key, request.destination) not in known:
                raise PaymentError(
                    f"{request.destination} on {target.name} is not an account the dashboard "
                    "knows: fund it with the faucet first, or pay its invoice URL"
                )
            creds = self.wallet.credentials(target.key, request.destination)
            to, shown = f"{target.name}.{request.destination}", request.destination
            receive_key = receive_key_from_secret(creds.secret)
        started = self.clock.now()
        path = (
            account_node(source.key, src.account),
            ledger_node(source.key),
            *(f"connector:{name}" for name in self.path(connector.name, target.key)),
            ledger_node(target.key),
            account_node(target.key, shown),
        )
        sent = delivered = fee = 0
        state, error = "fulfilled", ""
        try:
            deposit = await self._deposit(connector, source, to, request.amount)
            receipt = await pay_from_ledger(
                source.url,
                src.account,
                src.secret,
                connector.public_url,
                to,
                request.amount,
                receive_key=receive_key,
                deposit=deposit,
                clock=self.clock,
            )
            sent, delivered, fee = receipt.sent, receipt.delivered, receipt.fees
        except PaymentFailed as exc:
            state, error = "rejected", f"{exc} (deposit charged {exc.charge})"
        except EscrowPaymentError as exc:
            state, error = "rejected", str(exc)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            state, error = "rejected", f"not reachable: {exc or type(exc).__name__}"
        return Payment(
            id=request.id,
            kind="ilp",
            source_ledger=source.key,
            source_account=src.account,
            destination_ledger=target.key,
            destination=shown,
            amount=sent or request.amount,
            delivered=delivered,
            state=state,
            started_at=started,
            finished_at=self.clock.now(),
            path=path,
            fee=fee,
            error=error,
        )

    async def _deposit(
        self, connector: ConnectorView, source: LedgerView, to: str, amount: int
    ) -> int:
        """What to deposit if the account has none yet: a few roll-backs' worth."""
        if is_invoice_url(to):
            return max(amount // 10, 1)
        quote = await quote_payment(connector.public_url, source.name, to, amount, deliver=False)
        return max(quote.rollback_charge * DEPOSIT_PER_ROLLBACK, 1)
