from __future__ import annotations

import pytest

from ilpnet.connector.errors import AmountTooLargeError
from ilpnet.connector.steps.max_packet_amount import max_packet_amount
from ilpnet.wire.packet import AmountTooLargeData
from tests.connector.steps.forwards import forward, fulfilled, settings


async def test_f08_carries_received_and_maximum() -> None:
    rest = fulfilled()
    with pytest.raises(AmountTooLargeError) as err:
        await max_packet_amount()(forward(1001, account=settings(max_packet_amount=1000)), rest)
    assert err.value.code.value == "F08"
    assert AmountTooLargeData.decode(err.value.data) == AmountTooLargeData(1001, 1000)
    assert "received=1001 maximum=1000" in err.value.message
    assert rest.seen == []


async def test_at_maximum_and_unlimited_pass() -> None:
    rest = fulfilled()
    await max_packet_amount()(forward(1000, account=settings(max_packet_amount=1000)), rest)
    await max_packet_amount()(forward(2**64 - 1), rest)
    assert len(rest.seen) == 2
