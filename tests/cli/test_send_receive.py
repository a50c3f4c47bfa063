"""`ilpnet receive` and `ilpnet send` as a user runs them: real subprocesses, paying across
three `ilpnet connector run` processes (USD → EUR → JPY, `tests/node/connectors.py`).

The receiver prints its pointer, the sender pays it, both print what moved; the failure
paths each end with one `Error:` line naming what was delivered so far; Ctrl-C stops a
payment and prints the partial receipt."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from fractions import Fraction

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from ilpnet.app.escrow_receiver import invoice_from_json
from ilpnet.app.spsp import WELL_KNOWN_PATH, SpspReceiver, spsp_app
from ilpnet.app.stream.connection import AssetDetails
from ilpnet.app.stream.server import StreamServer
from tests.ledger.servers import start_ledger_async
from tests.links.escrow_net import escrow_payment, open_account, secret_of
from tests.node.connectors import ConnectorProcess, line_configs, start_line
from tests.redis_server import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

LINE_WAIT_S = 30.0
"""Bound on any one expected line of output (processes start slowly on a busy machine)."""
PATH_RATE = Fraction(9, 10) * Fraction(998, 1000) * 160 / 100
"""JPY per US cent along the line: A sells USD for EUR at 0.9 less its 0.2 % spread (its
holdings are deep enough that these payments barely move the price), C pays 160 JPY/EUR."""
BIG = "1000000"  # 10 000.00 USD in packets of at most 1.00 USD: long enough to interrupt


@dataclass
class Line:
    a: ConnectorProcess
    b: ConnectorProcess
    c: ConnectorProcess


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def line(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Line]:
    directory = tmp_path_factory.mktemp("send-receive")
    stores = {n: f"sqlite:///{directory}/{n}.db" for n in "abc"}
    a, b, c = line_configs(
        directory,
        stores,
        {
            "a": {"liquidity": {"USD": "100000000", "EUR": "90000000"}},
            "a.sender": {"maximum": 10**12, "max_packet_amount": 100},
            "c.b": {"maximum": 10**15},
        },
    )
    try:
        await start_line(a, b, c)
        yield Line(a, b, c)
    finally:
        await asyncio.gather(a.stop(), b.stop(), c.stop())


@dataclass
class Cli:
    """One `python -m ilpnet.cli.main …` subprocess, its output collected line by line."""

    process: asyncio.subprocess.Process
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    readers: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def start(cls, *args: str, env: dict[str, str] | None = None) -> Cli:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ilpnet.cli.main",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", **(env or {})},
        )
        cli = cls(process)
        assert process.stdout is not None
        assert process.stderr is not None
        cli.readers = [
            asyncio.ensure_future(cli._read(process.stdout, cli.out)),
            asyncio.ensure_future(cli._read(process.stderr, cli.err)),
        ]
        return cli

    async def _read(self, stream: asyncio.StreamReader, into: list[str]) -> None:
        async for raw in stream:
            into.append(raw.decode().rstrip("\n"))
            self.changed.set()
        self.changed.set()

    async def wait_line(self, pattern: str, limit: float = LINE_WAIT_S) -> re.Match[str]:
        """The first stdout line matching `pattern` (waiting for it, bounded)."""

        async def found() -> re.Match[str]:
            while True:
                self.changed.clear()
                for text in self.out:
                    match = re.search(pattern, text)
                    if match:
                        return match
                if self.process.returncode is not None and all(r.done() for r in self.readers):
                    raise AssertionError(f"exited without {pattern!r}:\n{self.text()}")
                await self.changed.wait()

        try:
            return await asyncio.wait_for(found(), limit)
        except TimeoutError:
            raise AssertionError(f"no {pattern!r} in {limit} s:\n{self.text()}") from None

    async def finish(self, limit: float = 60) -> int:
        code = await asyncio.wait_for(self.process.wait(), limit)
        await asyncio.wait_for(asyncio.gather(*self.readers), 5)
        return code

    async def interrupt(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
        return await self.finish(15)

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        for reader in self.readers:
            reader.cancel()

    def text(self) -> str:
        return "stdout:\n" + "\n".join(self.out) + "\nstderr:\n" + "\n".join(self.err)

    def row(self, name: str) -> str:
        """A row of a printed table (`delivered   1437 JPY` → `1437 JPY`)."""
        for text in self.out:
            match = re.match(rf"\s*{name}\s{{2,}}(.+?)\s*$", text)
            if match:
                return match.group(1)
        raise AssertionError(f"no {name!r} row:\n{self.text()}")


@pytest_asyncio.fixture(loop_scope="module")
async def receiver(line: Line) -> AsyncIterator[Cli]:
    cli = await Cli.start(
        "receive", "--connector", line.c.btp_url, "--token", "receiver-secret", "--name", "shop"
    )
    try:
        yield cli
    finally:
        if cli.process.returncode is None:
            assert await cli.interrupt() == 0, cli.text()
        for reader in cli.readers:
            reader.cancel()


async def pointer_of(receiver: Cli) -> str:
    return (await receiver.wait_line(r"^payment pointer: (\$\S+)$")).group(1)


async def health(receiver: Cli) -> dict[str, object]:
    url = (await receiver.wait_line(r"^health: (\S+)$")).group(1)
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        found: dict[str, object] = await response.json()
        return found


def send(line: Line, pointer: str, amount: str, *more: str) -> list[str]:
    return [
        "send",
        pointer,
        amount,
        "--connector",
        line.a.btp_url,
        "--token",
        "sender-secret",
        "--insecure-http",
        *more,
    ]


def amount_of(text: str, code: str) -> int:
    """`12.34 USD` → 1234 (the printed digits are the smallest units)."""
    match = re.fullmatch(rf"(\d+)(?:\.(\d+))? {code}", text.strip())
    assert match, f"{text!r} is not an amount of {code}"
    return int(match.group(1) + (match.group(2) or ""))


def one_error_line(cli: Cli) -> str:
    errors = [text for text in cli.err if text.strip()]
    assert len(errors) == 1, cli.text()
    assert errors[0].startswith("Error: "), cli.text()
    assert "Traceback" not in cli.text()
    return errors[0]


def so_far(error: str) -> tuple[int, int]:
    match = re.search(r"sent (\d+\.\d\d) USD, delivered (\d+) JPY so far", error)
    assert match, error
    return amount_of(f"{match.group(1)} USD", "USD"), int(match.group(2))


async def done_total(receiver: Cli, at_least: int) -> int:
    """The receiver's `done` line for a connection (its total, in JPY)."""
    match = await receiver.wait_line(r"^done\s+(\d+) JPY in (\d+) packets?")
    total = int(match.group(1))
    assert total >= at_least
    return total


# ---- paying ---------------------------------------------------------------------------


async def test_send_pays_the_receivers_pointer_across_assets(line: Line, receiver: Cli) -> None:
    pointer = await pointer_of(receiver)
    assert re.fullmatch(r"\$127\.0\.0\.1:\d+", pointer)
    assert (await receiver.wait_line(r"^ILP address: (\S+)$")).group(1) == "test.c.receiver"

    sender = await Cli.start(*send(line, pointer, "2000"))  # 20.00 USD

    assert await sender.finish() == 0, sender.text()
    quoted = re.search(r"1 USD = ([\d.]+) JPY", sender.row("rate"))
    assert quoted
    assert abs(Fraction(quoted.group(1)) / 100 - PATH_RATE) < PATH_RATE / 100
    assert sender.row("status") == "complete"
    assert sender.row("sent") == "20.00 USD"
    delivered = amount_of(sender.row("delivered"), "JPY")
    # every packet (at most 1.00 USD) arrives at the path's rate, rounded down per hop
    assert 2000 * PATH_RATE * Fraction(99, 100) <= delivered <= 2000 * PATH_RATE
    packets = int(sender.row("packets").split()[0])
    assert packets >= 20
    assert await done_total(receiver, delivered) == delivered
    state = await health(receiver)
    assert state["pointer"] == pointer
    assert state["asset"] == {"code": "JPY", "scale": 0}
    assert state["received"] == str(delivered)
    assert not sender.err, sender.text()
    print(sender.text())
    print(receiver.text())


async def test_fixed_delivery_in_asset_units_to_a_named_pointer_with_env_settings(
    line: Line, receiver: Cli
) -> None:
    shop = (await receiver.wait_line(r"^payment pointer: (\$\S+/shop)$")).group(1)

    sender = await Cli.start(
        "send",
        shop,
        "500",
        "--asset-amount",
        "--fixed-delivery",
        "--insecure-http",
        env={"ILPNET_CONNECTOR": line.a.btp_url, "ILPNET_TOKEN": "sender-secret"},
    )

    assert await sender.finish() == 0, sender.text()
    delivered = amount_of(sender.row("delivered"), "JPY")
    assert delivered >= 500
    sent = amount_of(sender.row("sent"), "USD")
    assert sent * PATH_RATE * Fraction(99, 100) <= delivered <= sent * PATH_RATE
    done = await receiver.wait_line(
        r"^done\s+(\d+) JPY in \d+ packets? on connection \S+ to /shop$"
    )
    assert int(done.group(1)) == delivered


async def test_receive_count_stops_after_that_many_payments(line: Line) -> None:
    receiver = await Cli.start(
        "receive", "--connector", line.c.btp_url, "--token", "receiver-secret", "--count", "1"
    )
    try:
        sender = await Cli.start(*send(line, await pointer_of(receiver), "300"))
        assert await sender.finish() == 0, sender.text()
        delivered = amount_of(sender.row("delivered"), "JPY")

        assert await receiver.finish(15) == 0, receiver.text()
        assert receiver.out[-1] == f"stopped; received {delivered} JPY in 3 packets"
    finally:
        receiver.kill()


# ---- failures: one line, what was delivered ---------------------------------------------


@pytest.mark.parametrize(
    ("pointer", "says"),
    [
        ("alice@example.com", "is neither a payment pointer"),
        ("$wallet.example:8080/alice", "port"),  # a port only for local hosts
        ("$", "is not a valid payment pointer"),
    ],
)
async def test_a_bad_pointer_is_one_line_and_nothing_is_sent(pointer: str, says: str) -> None:
    sender = await Cli.start("send", pointer, "100", "--connector", "ws://127.0.0.1:9")

    assert await sender.finish() == 1
    error = one_error_line(sender)
    assert says in error
    assert error.endswith("nothing was sent")


async def test_a_bad_amount_is_a_usage_error() -> None:
    sender = await Cli.start("send", "$127.0.0.1:9", "1.5", "--connector", "ws://127.0.0.1:9")

    assert await sender.finish() == 2
    assert "--asset-amount" in "\n".join(sender.err)
    assert "Traceback" not in sender.text()


async def test_a_pointer_nobody_answers_is_one_line(line: Line) -> None:
    sender = await Cli.start(*send(line, f"$127.0.0.1:{free_port()}", "100"))

    assert await sender.finish() == 1
    error = one_error_line(sender)
    assert "cannot connect to http://127.0.0.1:" in error
    assert error.endswith("nothing was sent")


async def test_no_connector_or_a_wrong_token_is_one_line(line: Line) -> None:
    nobody = f"ws://127.0.0.1:{free_port()}"
    absent = await Cli.start("send", "$127.0.0.1:9", "100", "--connector", nobody,
                             "--insecure-http", "--connect-timeout", "1")  # fmt: skip
    wrong = send(line, "$127.0.0.1:9", "100")
    wrong[wrong.index("sender-secret")] = "guess"
    refused = await Cli.start(*wrong)
    refused_receiver = await Cli.start("receive", "--connector", line.c.btp_url, "--token", "guess")

    assert await absent.finish() == 1
    error = one_error_line(absent)
    assert error.startswith(f"Error: cannot reach connector {nobody}: ")
    assert error.endswith("nothing was sent")
    assert await refused.finish() == 1
    assert one_error_line(refused).endswith(
        "refused the token (F00 NotAcceptedError: invalid auth_token); nothing was sent"
    )
    assert await refused_receiver.finish() == 1
    assert "refused the token" in one_error_line(refused_receiver)


async def test_receive_without_a_connector_is_one_line_or_stops_on_ctrl_c() -> None:
    nobody = f"ws://127.0.0.1:{free_port()}"
    gives_up = await Cli.start("receive", "--connector", nobody, "--connect-timeout", "1")

    assert await gives_up.finish() == 1
    error = one_error_line(gives_up)
    assert error == f"Error: cannot connect: BTP: could not connect to {nobody}/ in time"

    async with hanging_server() as (port, reached):  # accepts, never answers the handshake
        waiting = await Cli.start("receive", "--connector", f"ws://127.0.0.1:{port}")
        await asyncio.wait_for(reached, LINE_WAIT_S)
        assert await waiting.interrupt() == 0, waiting.text()
    assert waiting.out == ["stopped before the connector accepted us"]


@contextlib.asynccontextmanager
async def hanging_server() -> AsyncIterator[tuple[int, asyncio.Future[None]]]:
    """A TCP port that accepts and never answers; the future is done at the first client."""
    reached: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    release = asyncio.Event()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not reached.done():
            reached.set_result(None)
        await release.wait()
        writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], reached
    finally:
        release.set()
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def unroutable_receiver() -> AsyncIterator[str]:
    """A real SPSP server handing out credentials for an address no connector routes."""
    server = StreamServer(address="test.nowhere.bob", asset=AssetDetails("XRP", 6))
    runner = web.AppRunner(spsp_app({WELL_KNOWN_PATH: SpspReceiver(server)}))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"$127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_no_route_is_one_line_with_nothing_delivered(line: Line) -> None:
    async with unroutable_receiver() as pointer:
        sender = await Cli.start(*send(line, pointer, "100"))
        assert await sender.finish() == 1

    error = one_error_line(sender)
    assert "F02" in error, error
    assert re.search(r"sent 0\.00 USD, delivered 0\b.* so far$", error), error


async def test_a_rate_below_min_rate_stops_before_money_moves(line: Line, receiver: Cli) -> None:
    pointer = await pointer_of(receiver)

    sender = await Cli.start(*send(line, pointer, "1000", "--min-rate", "2"))

    assert await sender.finish() == 1
    error = one_error_line(sender)
    assert "rate" in error
    assert so_far(error) == (0, 0)
    assert (await health(receiver))["received"] == "0"


async def test_more_decimals_than_the_asset_has_is_one_line(line: Line, receiver: Cli) -> None:
    sender = await Cli.start(*send(line, await pointer_of(receiver), "1.005", "--asset-amount"))

    assert await sender.finish() == 1
    error = one_error_line(sender)
    assert error == "Error: 1.005 USD has more decimals than the asset's scale 2; nothing was sent"


async def received_some(receiver: Cli) -> int:
    return int((await receiver.wait_line(r"^received \d+ JPY \(total (\d+) JPY")).group(1))


async def test_ctrl_c_stops_the_payment_and_prints_the_partial_receipt(
    line: Line, receiver: Cli
) -> None:
    pointer = await pointer_of(receiver)
    sender = await Cli.start(*send(line, pointer, BIG))
    await received_some(receiver)

    assert await sender.interrupt() == 130, sender.text()

    assert sender.row("status") == "stopped (partial)"
    sent = amount_of(sender.row("sent"), "USD")
    delivered = amount_of(sender.row("delivered"), "JPY")
    assert 0 < sent < int(BIG)
    assert sent * PATH_RATE * Fraction(99, 100) <= delivered <= sent * PATH_RATE
    stopped = [t for t in sender.err if t.startswith("stopped by Ctrl-C")]
    assert len(stopped) == 1, sender.text()
    assert so_far(stopped[0]) == (sent, delivered)
    assert await done_total(receiver, delivered) == delivered  # the sender closed cleanly


async def test_receiver_gone_mid_payment_is_one_line_with_what_arrived(
    line: Line, receiver: Cli
) -> None:
    pointer = await pointer_of(receiver)
    sender = await Cli.start(*send(line, pointer, BIG, "--idle-timeout", "2"))
    shown = await received_some(receiver)

    receiver.kill()

    assert await sender.finish() == 1, sender.text()
    sent, delivered = so_far(one_error_line(sender))
    assert delivered >= shown > 0
    assert sent * PATH_RATE * Fraction(99, 100) <= delivered <= sent * PATH_RATE


async def test_connector_gone_mid_payment_is_one_line_with_what_arrived(
    line: Line, receiver: Cli
) -> None:
    pointer = await pointer_of(receiver)
    sender = await Cli.start(*send(line, pointer, BIG, "--idle-timeout", "2"))
    await received_some(receiver)

    line.a.kill()
    try:
        assert await sender.finish() == 1, sender.text()
        sent, delivered = so_far(one_error_line(sender))
        assert delivered > 0
        # the sender counts only what it saw fulfilled: never more than arrived
        assert delivered <= int(str((await health(receiver))["received"]))
        assert sent * PATH_RATE * Fraction(99, 100) <= delivered <= sent * PATH_RATE
    finally:
        await line.a.wait_exit()
        await line.a.start()
        await line.a.wait_healthy(links=("b",))


# ---- on a ledger: escrows -------------------------------------------------------------


async def test_receive_on_a_ledger_fulfils_an_escrow_paid_to_its_invoice(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    ledger = await start_ledger_async(tmp_path_factory.mktemp("ledger"), name="test.usd", scale=2)
    receiver: Cli | None = None
    try:
        alice = await open_account(ledger.url, "alice", faucet=10_000)
        receiver = await Cli.start(
            "receive", "--ledger", ledger.url, "--account", "bob", "--port", "0",
            env={"ILPNET_SECRET": secret_of("bob")},
        )  # fmt: skip
        assert (await receiver.wait_line(r"^receiving at (\S+)$")).group(1) == "test.usd.bob"
        invoice_url = (await receiver.wait_line(r"^invoices at (\S+)$")).group(1)
        async with aiohttp.ClientSession() as http, http.get(invoice_url) as response:
            invoice = invoice_from_json(await response.json())

        escrow = await escrow_payment(
            alice, "bob", 1234, invoice.destination, invoice.condition, data=invoice.data
        )

        got = await receiver.wait_line(r"^received (\d+) from (\S+) \(escrow (\S+)\)$")
        assert got.groups() == ("1234", "alice", escrow.id)
        assert await receiver.interrupt() == 0, receiver.text()
        assert receiver.out[-1] == "stopped; received 1234 in 1 escrows"
        await alice.close()
    finally:
        if receiver is not None:
            receiver.kill()
        ledger.stop()


async def test_ctrl_c_before_the_quote_quits_at_once_with_nothing_sent(line: Line) -> None:
    """While SPSP hangs (a server that accepts and never answers), Ctrl-C ends the command."""
    async with hanging_server() as (port, reached):
        sender = await Cli.start(*send(line, f"$127.0.0.1:{port}", "100"))
        await asyncio.wait_for(reached, LINE_WAIT_S)

        assert await sender.interrupt() == 130, sender.text()
    assert one_error_line(sender) == "Error: interrupted: nothing was sent"
    assert not [text for text in sender.out if "receipt" in text]
