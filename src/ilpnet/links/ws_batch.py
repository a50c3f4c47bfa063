"""Several WebSocket binary messages in one socket write.

aiohttp writes each message with its own `transport.write`, one `send()` system call when
the socket keeps up. A BTP connection under load queues many small frames per event-loop
turn (every task answering or forwarding a packet adds one), so `BatchWriter` frames them
itself (RFC 6455 §5.2: FIN, opcode 2, masked from a client) and hands the transport one
buffer. Only plain sockets qualify (no compression, not closing); anything else keeps the
per-message path.
"""

from __future__ import annotations

import random
import struct
from typing import Any

_BINARY_FIN = 0x82
_MASK_BIT = 0x80
_LEN16 = struct.Struct("!BBH")
_LEN64 = struct.Struct("!BBQ")
_RANDOM = random.Random()
"""Masking keys (RFC 6455 §10.3 asks only that the peer cannot predict them in advance;
aiohttp also uses a `random.Random`)."""

_SMALL_HEADERS = tuple(bytes((_BINARY_FIN, n)) for n in range(126))
"""The unmasked header of a binary message of each length under 126 bytes."""

HIGH_WATER = 64 * 1024
"""Above this many unsent bytes in the transport, callers fall back to aiohttp's writer,
which waits for the peer to read (flow control)."""


class BatchWriter:
    """Writes whole binary messages to the transport under an aiohttp WebSocket."""

    __slots__ = ("_mask", "_transport", "_writer")

    def __init__(self, writer: Any, transport: Any, mask: bool) -> None:
        """`transport`: an `asyncio.Transport`, or uvloop's (the same methods, not a
        subclass)."""
        self._writer = writer
        self._transport = transport
        self._mask = mask

    @classmethod
    def of(cls, ws: object) -> BatchWriter | None:
        """A writer for `ws` (an aiohttp client or server WebSocket), None when `ws` is
        anything else or compresses (then its own `send_bytes` must be used)."""
        writer = getattr(ws, "_writer", None)
        transport = getattr(writer, "transport", None)
        if (
            writer is None
            or not all(
                callable(getattr(transport, name, None))
                for name in ("write", "is_closing", "get_write_buffer_size")
            )
            or getattr(writer, "compress", 1) != 0
            or not isinstance(getattr(writer, "use_mask", None), bool)
            or not hasattr(writer, "_closing")
        ):
            return None
        return cls(writer, transport, writer.use_mask)

    @property
    def congested(self) -> bool:
        """The peer is not keeping up: use the flow-controlled per-message path."""
        size: int = self._transport.get_write_buffer_size()
        return size > HIGH_WATER

    def write(self, payloads: list[bytes]) -> None:
        """Send each payload as one binary message, all in one transport write.
        Raises ConnectionError when the socket is closing (nothing is written)."""
        if self._writer._closing or self._transport.is_closing():
            raise ConnectionError("Cannot write to closing transport")
        parts: list[bytes] = []
        mask = self._mask
        if not mask:  # a server's frames: most payloads are short
            small = _SMALL_HEADERS
            for payload in payloads:
                n = len(payload)
                if n < 126:
                    parts.append(small[n])
                elif n < 65536:
                    parts.append(_LEN16.pack(_BINARY_FIN, 126, n))
                else:
                    parts.append(_LEN64.pack(_BINARY_FIN, 127, n))
                parts.append(payload)
            self._transport.write(b"".join(parts))
            return
        for payload in payloads:  # a client's frames: masked
            n = len(payload)
            if n < 126:
                parts.append(bytes((_BINARY_FIN, n | _MASK_BIT)))
            elif n < 65536:
                parts.append(_LEN16.pack(_BINARY_FIN, 126 | _MASK_BIT, n))
            else:
                parts.append(_LEN64.pack(_BINARY_FIN, 127 | _MASK_BIT, n))
            key = _RANDOM.getrandbits(32).to_bytes(4, "big")
            parts.append(key)
            parts.append(masked(key, payload))
        self._transport.write(b"".join(parts))


def masked(key: bytes, payload: bytes) -> bytes:
    """`payload` XOR the 4-byte `key` repeated (RFC 6455 §5.3)."""
    n = len(payload)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
