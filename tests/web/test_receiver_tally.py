"""`ReceiverTally`: a test receiver's `/health` totals turned into payments."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ilpnet.web.network_view import LedgerView, ReceiverView
from ilpnet.web.receiver_tally import HealthError, ReceiverTally, ReceiverTotals

XRP = LedgerView("xrp", "test.xrp", "XRP", 6, "http://127.0.0.1:1")
RECEIVER = ReceiverView("xrp", "$127.0.0.1:7710", connector="alice", health_url="http://h")
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def health(received: str, code: str = "XRP", scale: int = 6, packets: int = 0) -> object:
    return {"received": received, "packets": packets, "asset": {"code": code, "scale": scale}}


def totals(received: int, code: str = "XRP", scale: int = 6) -> ReceiverTotals:
    return ReceiverTotals.from_json(health(str(received), code, scale))


def test_the_first_reading_is_a_baseline_and_each_rise_a_payment_of_the_difference() -> None:
    tally = ReceiverTally(RECEIVER, XRP)
    assert tally.observe(totals(7_000_000), NOW) is None  # received before we watched
    assert tally.observe(totals(7_000_000), NOW) is None  # nothing new
    payment = tally.observe(totals(9_500_001), NOW)
    assert payment is not None
    assert (payment.amount, payment.delivered, payment.state) == (2_500_001, 2_500_001, "fulfilled")
    assert (payment.destination_ledger, payment.destination) == ("xrp", "$127.0.0.1:7710")
    assert payment.path == ("connector:alice", "ledger:xrp")
    assert (payment.kind, payment.origin, payment.finished_at) == ("ilp", "receiver", NOW)
    again = tally.observe(totals(9_500_002), NOW)
    assert again is not None
    assert again.amount == 1
    assert again.id != payment.id


def test_a_smaller_total_is_a_restarted_receiver_not_a_payment() -> None:
    tally = ReceiverTally(RECEIVER, XRP)
    tally.observe(totals(500), NOW)
    assert tally.observe(totals(20), NOW) is None
    payment = tally.observe(totals(50), NOW)
    assert payment is not None
    assert payment.amount == 30


def test_amounts_are_shown_in_the_ledgers_units_only_when_exact() -> None:
    coarse = ReceiverTally(RECEIVER, XRP)
    coarse.observe(totals(1, scale=2), NOW)
    payment = coarse.observe(totals(3, scale=2), NOW)
    assert payment is not None
    assert payment.amount == 20_000  # 0.02 XRP at the ledger's scale 6
    for other in (totals(0, code="EUR"), totals(0, scale=9)):
        tally = ReceiverTally(RECEIVER, XRP)
        tally.observe(other, NOW)
        assert tally.observe(ReceiverTotals(5, 1, other.asset_code, other.asset_scale), NOW) is None


def test_a_receiver_without_a_connector_or_known_ledger_still_counts() -> None:
    tally = ReceiverTally(ReceiverView("xrp", "$p"), None)
    tally.observe(totals(0, code="ABC", scale=3), NOW)
    payment = tally.observe(totals(4, code="ABC", scale=3), NOW)
    assert payment is not None
    assert (payment.amount, payment.path) == (4, ("ledger:xrp",))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "expected a JSON object"),
        ({"asset": {"code": "XRP", "scale": 6}}, "health.received"),
        (health("12.5"), "health.received"),
        (health("-3"), "health.received"),
        (health("١٢"), "health.received"),  # Arabic-Indic digits are not ASCII digits
        ({"received": "1", "asset": "XRP"}, "health.asset"),
        (health("1", code=""), "health.asset.code"),
        (health("1", scale=-1), "health.asset.scale"),
        (health("1", packets=-1), "health.packets"),
    ],
)
def test_a_health_answer_without_a_usable_total_is_refused(body: object, field: str) -> None:
    with pytest.raises(HealthError, match=field):
        ReceiverTotals.from_json(body)
