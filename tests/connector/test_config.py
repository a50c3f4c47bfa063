"""The TOML config: a full example loads; each mistake names its key."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import pytest

from ilpnet.clock import ManualClock
from ilpnet.connector.accounts import Relation
from ilpnet.connector.config import ConfigError, connector_from_config, load_config, parse_config
from ilpnet.connector.store import open_store
from ilpnet.links.memory import memory_link_pair
from ilpnet.wire.packet import Fulfill, Prepare, Reject
from tests.connector.line import CONDITION, FULFILLMENT

EXAMPLE = """
address = "test.bob"
store = "memory://"
spread = "0.002"

[expiry]
min_message_window_ms = 500
max_hold_time_ms = 10000

[liquidity]
USD = "1000"
EUR = 900.5

[fixed_rates]
"EUR/JPY" = "160"

[accounts.alice]
relation = "child"
asset_code = "USD"
asset_scale = 2
maximum = 100000
minimum = -50000
max_packet_amount = 10000
settle_threshold = -40000
settle_to = 0
packet_rate = { refill_per_second = 100, capacity = 200 }
link = { kind = "btp-server", token = "s3cret" }

[accounts.carol]
relation = "peer"
asset_code = "EUR"
asset_scale = 6

[[routes]]
prefix = "test.carol"
account = "carol"

[admin]
port = 0
token = "admin-secret"
"""


def test_full_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "bob.toml"
    path.write_text(EXAMPLE)
    config = load_config(path)
    alice = config.accounts["alice"]
    assert (alice.id, alice.relation, alice.maximum, alice.minimum) == (
        "alice",
        Relation.CHILD,
        100000,
        -50000,
    )
    assert alice.link == {"kind": "btp-server", "token": "s3cret"}
    assert config.spread == Fraction(1, 500)
    assert config.liquidity == {"USD": Fraction(1000), "EUR": Fraction(1801, 2)}
    assert config.fixed_rate_pairs() == {("EUR", "JPY"): Fraction(160)}
    assert config.expiry.window().min_message_window.total_seconds() == 0.5
    assert config.admin is not None
    assert config.admin.token == "admin-secret"


BASE = 'address = "test.a"\n'
ALICE = '[accounts.alice]\nrelation = "peer"\nasset_code = "USD"\nasset_scale = 2\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BASE + ALICE + "maximum = 1\nminimum = 5\n", "accounts.alice.maximum: must be >= minimum"),
        (BASE + ALICE + "maximun = 1\n", "accounts.alice.maximun: Extra inputs are not permitted"),
        (BASE + ALICE + "settle_threshold = 5\nsettle_to = 5\n", "accounts.alice.settle_to:"),
        (BASE + ALICE + "ilp_address_segment = 'x'\n", "accounts.alice.ilp_address_segment:"),
        (BASE + ALICE.replace("2", "256"), "accounts.alice.asset_scale:"),
        (BASE + ALICE.replace('"peer"', '"friend"'), "accounts.alice.relation:"),
        (BASE + ALICE + "maximum = 9223372036854775808\n", "accounts.alice.maximum:"),
        (BASE + 'store = "postgres://x"\n', "store: unknown store URL scheme"),
        (BASE + 'store = "sqlite://host/x"\n', "store: sqlite store URL must be"),
        ('address = "nope"\n', "address: not a valid ILP address"),
        ("", "address: Field required"),
        (BASE + 'spread = "abc"\n', "spread: expected a number"),
        (BASE + "spread = 1\n", "spread: must be >= 0 and < 1"),
        (BASE + '[fixed_rates]\n"USDEUR" = 1\n', "fixed_rates.USDEUR: key must look like"),
        (BASE + '[fixed_rates]\n"USD/EUR" = 0\n', "fixed_rates.USD/EUR: must be > 0"),
        (BASE + '[[routes]]\nprefix = "test.x"\naccount = "zed"\n', "routes.0.account: unknown"),
        (
            BASE + ALICE + '[[routes]]\nprefix = "bad prefix"\naccount = "alice"\n',
            "routes.0.prefix",
        ),
        (BASE + "[expiry]\nmax_hold_time_ms = 10\n", "expiry.max_hold_time_ms: must be >="),
        (BASE + '[admin]\ntoken = "short"\n', "admin.token:"),
        ("address = [", "not valid TOML"),
    ],
)
def test_mistakes_name_their_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.toml")
    assert str(err.value).startswith("c.toml: ")
    assert message in str(err.value)


def test_two_parents_refused() -> None:
    text = (
        BASE
        + ALICE.replace("peer", "parent")
        + ALICE.replace("alice", "bob").replace("peer", "parent")
    )
    with pytest.raises(ConfigError, match="at most one parent"):
        parse_config(text)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")


async def test_connector_from_config_forwards() -> None:
    config = parse_config(EXAMPLE)
    clock = ManualClock()
    store = await open_store(config.store)
    alice_end, bob_alice = memory_link_pair("bob", "alice", clock)
    bob_carol, carol_end = memory_link_pair("carol", "bob", clock)
    bob = connector_from_config(config, store, clock, links=[bob_alice, bob_carol])
    await bob.start()

    async def carol(p: Prepare) -> Fulfill | Reject:
        return Fulfill(FULFILLMENT)

    carol_end.set_handler(carol)
    prepare = Prepare(1000, clock.now() + timedelta(seconds=5), CONDITION, "test.carol.x")
    assert await alice_end.send(prepare) == Fulfill(FULFILLMENT)
    # USD 1000 / EUR 900.5 pool, spread 0.002: 900.5*9.98/1009.98 EUR = 8.898186 EUR
    assert (await store.get_balance("carol")).balance == -8_898_186
    too_big = Prepare(10_001, clock.now() + timedelta(seconds=5), CONDITION, "test.carol.x")
    answer = await alice_end.send(too_big)
    assert isinstance(answer, Reject)
    assert answer.code == "F08"
    await bob.close()
