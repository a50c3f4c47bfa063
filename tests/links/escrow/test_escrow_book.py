"""The escrow book: records survive a restart, final states never move, cursors only grow."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ilpnet.links.escrow_book import (
    EscrowBook,
    IncomingEscrow,
    IncomingState,
    OutgoingEscrow,
    OutgoingState,
)

WHEN = datetime(2030, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)


def test_records_survive_a_restart_and_final_states_do_not_move(tmp_path: Path) -> None:
    book = EscrowBook(tmp_path / "escrows.sqlite3")
    incoming = IncomingEscrow("e1", "xrp", "alice", 5, b"c" * 32, WHEN, "test.usd.bob")
    assert book.add_incoming(incoming)
    assert not book.add_incoming(incoming)
    out = book.add_outgoing(
        OutgoingEscrow("out:xrp:e1", "usd", "bob", 3, b"c" * 32, WHEN, b"memo", "xrp:e1")
    )
    assert out.state is OutgoingState.INTENT
    # a second intent under the same key keeps the first one's parameters
    assert (
        book.add_outgoing(OutgoingEscrow("out:xrp:e1", "usd", "bob", 99, b"c" * 32, WHEN, b"other"))
        == out
    )
    assert book.update_outgoing("out:xrp:e1", OutgoingState.PENDING, escrow_id="o1", fee=2)
    assert book.update_outgoing("out:xrp:e1", OutgoingState.FULFILLED, preimage=b"p" * 32)
    assert not book.update_outgoing("out:xrp:e1", OutgoingState.EXPIRED)
    assert book.update_incoming("xrp", "e1", IncomingState.FORWARDED, out_key="out:xrp:e1")
    assert book.update_incoming("xrp", "e1", IncomingState.FULFILLED, preimage=b"p" * 32)
    assert not book.update_incoming("xrp", "e1", IncomingState.EXPIRED)
    book.set_cursor("xrp", 7)
    book.set_cursor("xrp", 5)
    book.close()

    again = EscrowBook(tmp_path / "escrows.sqlite3")
    assert again.cursor("xrp") == 7
    assert again.cursor("usd") == 0
    stored = again.incoming("xrp", "e1")
    assert stored is not None
    assert (stored.state, stored.preimage, stored.out_key) == (
        IncomingState.FULFILLED,
        b"p" * 32,
        "out:xrp:e1",
    )
    assert stored.expires_at == WHEN
    found = again.outgoing_by_escrow("usd", "o1")
    assert found is not None
    assert (found.state, found.amount, found.fee, found.memo) == (
        OutgoingState.FULFILLED,
        3,
        2,
        b"memo",
    )
    assert again.open_incoming("xrp") == []
    assert again.open_outgoing("usd") == []
