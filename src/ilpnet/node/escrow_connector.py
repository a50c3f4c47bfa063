"""Run an escrow connector as a process: ledgers, state directory and public API from flags.

    python -m ilpnet.node.escrow_connector --address test.conn --account conn \
        --secret s3cret-conn --state ./conn-state --port 7800 \
        --ledger xrp=http://127.0.0.1:7001 --ledger usd=http://127.0.0.1:7003

Prints ``ready <public API URL>`` once the links are up, recovery is done and the workers
follow their ledgers; stops cleanly on SIGTERM/SIGINT. Killed (SIGKILL) and started again
with the same state directory, it finishes every payment the killed process left open.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import aiohttp
import structlog
from aiohttp import web

from ilpnet.clock import SystemClock
from ilpnet.connector.escrow_ledgers import LedgerAccountConfig
from ilpnet.connector.escrow_service import EscrowConnector, EscrowConnectorConfig
from ilpnet.connector.offledger import OffLedgerSettings
from ilpnet.connector.public_api import add_public_routes
from ilpnet.ledger.errors import LedgerError
from ilpnet.links.ledger_escrow import FAULT_POINTS

log = structlog.get_logger(__name__)


def _ledger(raw: str) -> tuple[str, str]:
    ident, sep, url = raw.partition("=")
    if not sep or not ident or not url.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"--ledger must be ID=http://host:port, got {raw!r}")
    return ident, url


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ilpnet-escrow-connector", description=__doc__)
    p.add_argument("--address", required=True, help="the connector's ILP address")
    p.add_argument("--account", required=True, help="its account name on every ledger")
    p.add_argument("--secret", required=True, help="that account's secret")
    p.add_argument("--ledger", action="append", type=_ledger, required=True)
    p.add_argument("--state", type=Path, required=True, help="directory for its SQLite state")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="public API port (0: any free one)")
    p.add_argument("--spread", default="0", help="kept on every exchange, e.g. 0.002")
    p.add_argument("--window-ms", type=int, default=5000, help="min message window")
    p.add_argument("--max-hold-ms", type=int, default=60000)
    p.add_argument("--margin-ms", type=int, default=1000, help="outgoing escrow margin")
    p.add_argument(
        "--offledger-ledger",
        default=None,
        help="offer off-ledger accounts in this ledger's asset (a --ledger ID)",
    )
    p.add_argument("--offledger-signup", type=int, default=1000, help="test money per sign-up")
    p.add_argument("--offledger-signups-per-minute", type=int, default=5)
    p.add_argument(
        "--crash-at",
        choices=FAULT_POINTS,
        default=None,
        help="crash tests only: SIGKILL this process the first time it reaches that point",
    )
    return p.parse_args(argv)


def config_from(args: argparse.Namespace) -> EscrowConnectorConfig:
    ids = [ident for ident, _ in args.ledger]
    if args.offledger_ledger is not None and args.offledger_ledger not in ids:
        raise SystemExit(f"--offledger-ledger must be one of the --ledger ids {ids}")
    return EscrowConnectorConfig(
        address=args.address,
        ledgers=tuple(
            LedgerAccountConfig(id=ident, url=url, account=args.account, secret=args.secret)
            for ident, url in args.ledger
        ),
        state_dir=args.state,
        spread=Fraction(args.spread),
        min_message_window=timedelta(milliseconds=args.window_ms),
        max_hold_time=timedelta(milliseconds=args.max_hold_ms),
        ledger_margin=timedelta(milliseconds=args.margin_ms),
        fault=_crash_at(args.crash_at) if args.crash_at else None,
        offledger=OffLedgerSettings(
            ledger=args.offledger_ledger,
            signup_amount=args.offledger_signup,
            signups_per_window=args.offledger_signups_per_minute,
        )
        if args.offledger_ledger
        else None,
    )


def _crash_at(point: str) -> Callable[[str], None]:
    def fault(reached: str) -> None:
        if reached == point:
            log.warning("escrow_connector.crash_injected", point=point)
            os.kill(os.getpid(), signal.SIGKILL)

    return fault


async def serve(args: argparse.Namespace) -> None:
    service = EscrowConnector(config_from(args), SystemClock())
    try:
        await service.start()
    except LedgerError as exc:
        await service.close()
        raise SystemExit(f"Error: a ledger refused the connector: {exc.message}") from None
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        await service.close()
        raise SystemExit(f"Error: a ledger is not reachable: {exc}") from None
    app = web.Application()
    add_public_routes(app, service.ledgers)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    await site.start()
    port = runner.addresses[0][1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"ready http://{args.host}:{port}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await service.close()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
