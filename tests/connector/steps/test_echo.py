"""Echo (spec 03 §8): a ping to C comes back to the pinger through the whole line."""

from __future__ import annotations

from datetime import timedelta

from ilpnet.wire.oer import encode_var_octets
from ilpnet.wire.packet import Fulfill, Prepare, Reject
from tests.connector.line import CONDITION, FULFILLMENT, StoreFactory, line

ECHO = b"ECHOECHOECHOECHO"


async def test_ping_to_c_comes_back_to_the_sender(make_store: StoreFactory) -> None:
    async with line(make_store) as net:
        returned: list[Prepare] = []

        async def sender_receives(p: Prepare) -> Fulfill | Reject:
            returned.append(p)
            return Fulfill(FULFILLMENT)

        net.sender.set_handler(sender_receives)
        ping = Prepare(
            0,
            net.clock.now() + timedelta(seconds=20),
            CONDITION,
            "test.c",
            ECHO + b"\x00" + encode_var_octets(b"test.a.sender"),
        )
        assert await net.sender.send(ping) == Fulfill(FULFILLMENT)
        (back,) = returned
        assert (back.destination, back.data) == ("test.a.sender", ECHO + b"\x01")
        assert back.execution_condition == CONDITION


async def test_bad_echo_data_is_f01(make_store: StoreFactory) -> None:
    async with line(make_store) as net:
        expires = net.clock.now() + timedelta(seconds=20)
        for data in (ECHO, ECHO + b"\x01", ECHO + b"\x00\x05ab"):
            answer = await net.sender.send(Prepare(0, expires, CONDITION, "test.c", data))
            assert isinstance(answer, Reject)
            assert (answer.code, answer.triggered_by) == ("F01", "test.c")
        plain = await net.sender.send(Prepare(0, expires, CONDITION, "test.c", b"hello"))
        assert isinstance(plain, Reject)
        assert (plain.code, plain.triggered_by) == ("F02", "test.c")
