"""The dashboard's picture: payments listed once, ILP legs folded into their payment."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from ilpnet.web.live_state import LiveState
from ilpnet.web.network_view import NetworkView
from ilpnet.web.payer import Payment

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NETWORK = NetworkView.from_json(
    {
        "ledgers": {
            "xrp": {"name": "test.xrp", "asset": "XRP", "scale": 6, "url": "http://x"},
            "usd": {"name": "test.usd", "asset": "USD", "scale": 2, "url": "http://u"},
        }
    }
)
ILP = Payment(
    id="p1",
    kind="ilp",
    source_ledger="xrp",
    source_account="alice",
    destination_ledger="usd",
    destination="bob",
    amount=5_000_000,
    delivered=690,
    state="fulfilled",
    started_at=T0,
    finished_at=T0 + timedelta(milliseconds=200),
)
FIRST_LEG = replace(
    ILP,
    id="e-src",
    kind="escrow",
    origin="ledger",
    destination_ledger="xrp",
    destination="conn",
    delivered=5_000_000,
)
LAST_LEG = replace(
    ILP,
    id="e-dst",
    kind="escrow",
    origin="ledger",
    source_ledger="usd",
    source_account="conn",
    amount=690,
)


def listed(state: LiveState) -> list[str]:
    return [p["id"] for p in state.snapshot()["payments"]]


def test_legs_seen_before_the_payment_are_folded_into_it() -> None:
    state = LiveState(NETWORK)
    sub = state.subscribe()
    state.add_payment(LAST_LEG)
    state.add_payment(FIRST_LEG)
    assert listed(state) == ["e-src", "e-dst"]
    state.add_payment(ILP)
    assert listed(state) == ["p1"]
    assert state.snapshot()["counts"] == {"fulfilled": 1, "rejected": 0}
    kinds = []
    while not sub.queue.empty():
        delta = sub.queue.get_nowait()
        assert delta is not None
        kinds.append(delta["type"])
    assert kinds == ["payment", "payment", "payments", "payment"]


def test_legs_seen_after_the_payment_are_not_listed() -> None:
    state = LiveState(NETWORK)
    state.add_payment(ILP)
    state.add_payment(FIRST_LEG)
    state.add_payment(LAST_LEG)
    assert listed(state) == ["p1"]


def test_other_escrows_and_old_ones_stay_listed() -> None:
    state = LiveState(NETWORK)
    state.add_payment(ILP)
    other = replace(LAST_LEG, id="e-other", amount=691)
    later = replace(FIRST_LEG, id="e-later", finished_at=T0 + timedelta(hours=1))
    state.add_payment(other)
    state.add_payment(later)
    assert listed(state) == ["e-later", "e-other", "p1"]
    assert state.snapshot()["counts"]["fulfilled"] == 3


def test_a_payment_seen_twice_is_listed_once_and_the_dashboards_record_wins() -> None:
    state = LiveState(NETWORK)
    mine = replace(ILP, kind="on-ledger", destination_ledger="xrp")
    seen = replace(mine, origin="ledger", path=())
    state.add_payment(seen)
    state.add_payment(mine)
    state.add_payment(seen)
    assert listed(state) == ["p1"]
    assert state.snapshot()["payments"][0]["origin"] == "dashboard"
    assert state.snapshot()["counts"] == {"fulfilled": 1, "rejected": 0}
