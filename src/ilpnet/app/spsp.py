"""SPSP (spec 08): payment pointers, the server route that hands out STREAM credentials,
and the client that resolves a pointer to them.

    PaymentPointer.parse("$wallet.example/alice").url()  -> https://wallet.example/alice
    details = await resolve("$wallet.example/alice")      -> SpspDetails(destination, secret)
    app = spsp_app({"/alice": stream_server_receiver})    -> aiohttp app serving SPSP

Plain `http` is a deliberate local deviation for the testnet: only for loopback and
`.localhost`/`.test` hosts, and only with `insecure_http=True` (which also permits a port).

    IlpError
    └── SpspError                      F02: the receiver cannot be set up via SPSP
        ├── InvalidPointerError        F00: not a payment pointer / SPSP URL
        ├── SpspLookupError            the host cannot be reached (DNS, refused, timeout)
        ├── SpspHttpError              an HTTP status other than 200 (`.status`)
        │   └── ReceiverNotFoundError  404: no such receiver
        ├── SpspContentTypeError       the answer is not application/spsp4+json
        └── SpspResponseError          bad JSON, missing fields, bad address or secret
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
import structlog
from aiohttp import web

from ilpnet.wire.address import is_valid_address
from ilpnet.wire.errors import ErrorCode, IlpError

log = structlog.get_logger(__name__)

SPSP_CONTENT_TYPE = "application/spsp4+json"
ACCEPT = "application/spsp4+json, application/spsp+json"
WELL_KNOWN_PATH = "/.well-known/pay"
SHARED_SECRET_LENGTH = 32
DEFAULT_TIMEOUT_S = 10.0

# RFC 3986 reg-name (no percent-encoding in pointers) and path-abempty, ASCII only.
_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
_PCHAR = r"[A-Za-z0-9\-._~!$&'()*+,;=:@]"
_POINTER = re.compile(rf"\$(?P<host>{_HOST})(?::(?P<port>[0-9]{{1,5}}))?(?P<path>(?:/{_PCHAR}*)*)")


class SpspError(IlpError):
    """SPSP could not produce STREAM credentials for the receiver."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.F02_UNREACHABLE) -> None:
        super().__init__(code, message)


class InvalidPointerError(SpspError):
    """Text that is not a payment pointer (or an allowed SPSP URL)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ErrorCode.F00_BAD_REQUEST)


class SpspLookupError(SpspError):
    """The SPSP host could not be reached: DNS failure, connection refused, timeout."""


class SpspHttpError(SpspError):
    """The SPSP server answered with an HTTP status other than 200."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ReceiverNotFoundError(SpspHttpError):
    """404: the server has no such receiver."""


class SpspContentTypeError(SpspError):
    """The answer's content type is not application/spsp4+json."""


class SpspResponseError(SpspError):
    """The answer is not valid SPSP JSON (syntax, missing fields, bad address or secret)."""


# ---- payment pointers ------------------------------------------------------------------


def _is_local_host(host: str) -> bool:
    """Loopback addresses and names reserved for local testing."""
    lowered = host.lower()
    if lowered == "localhost" or lowered.endswith((".localhost", ".test")):
        return True
    try:
        return ipaddress.ip_address(lowered).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class PaymentPointer:
    """`$host/path`; `port` only for local test hosts (see `parse`)."""

    host: str
    path: str = ""
    port: int | None = None

    @classmethod
    def parse(cls, text: str, *, insecure_http: bool = False) -> PaymentPointer:
        """Read a payment pointer (spec 08 §2): `$` host path, no userinfo, port, query or
        fragment. With `insecure_http`, a loopback/test host may carry a port."""
        if not text.startswith("$"):
            raise InvalidPointerError(f"{text!r} is not a payment pointer: it must start with '$'")
        if not text.isascii():
            raise InvalidPointerError(f"payment pointer {text!r} must be ASCII")
        if "@" in text.partition("/")[0]:
            raise InvalidPointerError(f"payment pointer {text!r} may not contain userinfo")
        for char, what in (("?", "a query"), ("#", "a fragment")):
            if char in text:
                raise InvalidPointerError(f"payment pointer {text!r} may not contain {what}")
        match = _POINTER.fullmatch(text)
        if match is None:
            raise InvalidPointerError(f"{text!r} is not a valid payment pointer ($host/path)")
        host, port_text, path = match["host"], match["port"], match["path"]
        port: int | None = None
        if port_text is not None:
            if not (insecure_http and _is_local_host(host)):
                raise InvalidPointerError(
                    f"payment pointer {text!r} may not contain a port "
                    "(allowed only for loopback/test hosts with insecure_http)"
                )
            port = int(port_text)
            if not 0 < port < 65536:
                raise InvalidPointerError(f"port {port} in {text!r} is out of range")
        return cls(host, path, port)

    def url(self, *, insecure_http: bool = False) -> str:
        """The SPSP endpoint: https, `/.well-known/pay` when the path is empty or `/`;
        http only for local hosts and only with `insecure_http`."""
        scheme = "https"
        if insecure_http:
            if not _is_local_host(self.host):
                raise InvalidPointerError(
                    f"plain http is allowed only for loopback or test hosts, not {self.host}"
                )
            scheme = "http"
        path = WELL_KNOWN_PATH if self.path in ("", "/") else self.path
        netloc = self.host if self.port is None else f"{self.host}:{self.port}"
        return f"{scheme}://{netloc}{path}"

    def __str__(self) -> str:
        netloc = self.host if self.port is None else f"{self.host}:{self.port}"
        return f"${netloc}{self.path}"


def endpoint_url(target: str, *, insecure_http: bool = False) -> str:
    """The SPSP URL of a payment pointer or of a raw `https://` (or, with
    `insecure_http`, local `http://`) URL."""
    if target.startswith("$"):
        return PaymentPointer.parse(target, insecure_http=insecure_http).url(
            insecure_http=insecure_http
        )
    parts = urlsplit(target)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidPointerError(
            f"{target!r} is neither a payment pointer ($host/path) nor an https:// SPSP URL"
        )
    if parts.scheme == "http" and not (insecure_http and _is_local_host(parts.hostname)):
        raise InvalidPointerError(
            f"plain http SPSP URL {target!r} is allowed only for loopback or test hosts "
            "with insecure_http"
        )
    if parts.username or parts.password or parts.fragment:
        raise InvalidPointerError(f"SPSP URL {target!r} may not contain userinfo or a fragment")
    return target


# ---- client -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpspDetails:
    """What an SPSP query returns: where and with which secret to open STREAM."""

    destination_account: str
    shared_secret: bytes
    receipts_enabled: bool = False
    url: str = ""


def decode_shared_secret(text: str) -> bytes:
    """Standard or url-safe base64, padding optional; must give 32 bytes (spec 08 §4)."""
    normal = text.replace("-", "+").replace("_", "/")
    normal += "=" * (-len(normal) % 4)
    try:
        secret = base64.b64decode(normal, validate=True)
    except (binascii.Error, ValueError):
        raise SpspResponseError(f"shared_secret {text!r} is not base64") from None
    if len(secret) != SHARED_SECRET_LENGTH:
        raise SpspResponseError(
            f"shared_secret is {len(secret)} bytes, SPSP requires {SHARED_SECRET_LENGTH}"
        )
    return secret


def parse_spsp_response(body: bytes, url: str = "") -> SpspDetails:
    """Read an SPSP JSON body; unknown fields are ignored."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SpspResponseError(f"SPSP answer from {url} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise SpspResponseError(f"SPSP answer from {url} is not a JSON object")
    destination = document.get("destination_account")
    secret = document.get("shared_secret")
    if not isinstance(destination, str) or not isinstance(secret, str):
        raise SpspResponseError(
            f"SPSP answer from {url} lacks destination_account or shared_secret strings"
        )
    if not is_valid_address(destination):
        raise SpspResponseError(f"destination_account {destination!r} is not an ILP address")
    receipts = document.get("receipts_enabled") is True
    return SpspDetails(destination, decode_shared_secret(secret), receipts, url)


async def resolve(
    target: str,
    *,
    insecure_http: bool = False,
    session: aiohttp.ClientSession | None = None,
    time_limit: float = DEFAULT_TIMEOUT_S,
) -> SpspDetails:
    """Query the SPSP endpoint of a payment pointer (or SPSP URL) for STREAM credentials.

    Every failure is an `SpspError` subclass with a one-line message.
    """
    url = endpoint_url(target, insecure_http=insecure_http)
    own_session = session is None
    client = session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=time_limit))
    try:
        try:
            async with client.get(url, headers={"Accept": ACCEPT}) as response:
                body = await response.read()
                status = response.status
                content_type = response.content_type
                final_url = str(response.url)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, socket.gaierror):
                raise SpspLookupError(
                    f"cannot resolve the host of {url} (DNS): {exc.os_error.strerror}"
                ) from None
            raise SpspLookupError(f"cannot connect to {url}: {exc.os_error.strerror}") from None
        except TimeoutError:
            raise SpspLookupError(f"no answer from {url} within {time_limit:g} s") from None
        except aiohttp.ClientError as exc:
            raise SpspLookupError(f"SPSP request to {url} failed: {exc}") from None
    finally:
        if own_session:
            await client.close()
    if status == 404:
        raise ReceiverNotFoundError(f"no such receiver at {url} (404{_error_detail(body)})", status)
    if status != 200:
        raise SpspHttpError(
            f"SPSP server at {url} answered HTTP {status}{_error_detail(body)}", status
        )
    if content_type not in (SPSP_CONTENT_TYPE, "application/spsp+json"):
        raise SpspContentTypeError(
            f"SPSP answer from {url} has content type {content_type or 'none'!r}, "
            f"expected {SPSP_CONTENT_TYPE}"
        )
    details = parse_spsp_response(body, final_url)
    if final_url != url:
        log.info("spsp.redirected", original=url, final=final_url)
    return details


def _error_detail(body: bytes) -> str:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    if isinstance(document, dict) and isinstance(document.get("message"), str):
        return f": {document['message']}"
    return ""


# ---- server -----------------------------------------------------------------------------


class CredentialSource(Protocol):
    """Anything that makes fresh STREAM credentials (a `StreamServer` does)."""

    def generate_credentials(self, connection_tag: str | None = None) -> Any: ...


@dataclass(frozen=True, slots=True)
class SpspReceiver:
    """One payment pointer served: which STREAM server, and the tag its connections get."""

    source: CredentialSource
    connection_tag: str | None = None


def _cors(headers: Mapping[str, str] | None = None) -> dict[str, str]:
    out = {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Headers": "web-monetization-id",
        "Access-Control-Allow-Methods": "GET, OPTIONS",
    }
    if headers:
        out.update(headers)
    return out


def _accepts_spsp(accept: str) -> bool:
    if not accept:
        return True
    types = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return bool(types & {SPSP_CONTENT_TYPE, "application/spsp+json", "application/json", "*/*"})


def _json(
    status: int, document: Mapping[str, object], extra: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(document).encode(),
        content_type=SPSP_CONTENT_TYPE,
        headers=_cors(extra),
    )


def spsp_app(
    receivers: Mapping[str, SpspReceiver] | Callable[[str], SpspReceiver | None],
) -> web.Application:
    """An aiohttp app answering SPSP queries. `receivers` maps a path (`/alice`, or
    `/.well-known/pay` for the bare host) to a receiver, or is a function doing so."""
    lookup: Callable[[str], SpspReceiver | None] = (
        receivers.get if isinstance(receivers, Mapping) else receivers
    )

    async def query(request: web.Request) -> web.Response:
        path = request.path if request.path not in ("", "/") else WELL_KNOWN_PATH
        receiver = lookup(path)
        if receiver is None:
            return _json(404, {"id": "InvalidReceiverError", "message": "Invalid receiver ID"})
        if not _accepts_spsp(request.headers.get("Accept", "")):
            return _json(
                406,
                {"id": "NotAcceptableError", "message": f"Accept {SPSP_CONTENT_TYPE}"},
            )
        creds = receiver.source.generate_credentials(receiver.connection_tag)
        log.info("spsp.query", path=path, destination=creds.destination_account)
        return _json(
            200,
            {
                "destination_account": creds.destination_account,
                "shared_secret": base64.b64encode(creds.shared_secret).decode("ascii"),
            },
            {"Cache-Control": "max-age=60"},
        )

    async def options(request: web.Request) -> web.Response:
        return web.Response(status=204, headers=_cors())

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", query)
    app.router.add_route("OPTIONS", "/{tail:.*}", options)
    return app
