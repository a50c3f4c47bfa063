"""Wire benchmark: ilpnet's codecs side by side with the JavaScript reference.

Measures packets per second for ILP Prepare decode/encode, Fulfill and Reject
decode/encode, and STREAM packet encrypt+encode / decrypt+decode, in this process, then
runs `benchmarks/js/wire_bench.js` under node on the same packets (ilp-packet 3.1.3 and
ilp-protocol-stream 2.7.1, installed from npm into `.npm-reference/`). Both sides build
their packets from one description (`PACKETS`) and the script checks the bytes match.

    python benchmarks/wire.py [--json] [--seconds S] [--repetitions N] [--no-js]

Method (both sides): calibrate a loop count until one loop takes at least 20 ms, size
each repetition to S/N seconds, run N repetitions and keep the fastest (best of N).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import shutil
import subprocess
import sys
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.table import Table

from ilpnet.crypto.stream_keys import StreamCrypto
from ilpnet.wire.packet import Fulfill, Prepare, Reject
from ilpnet.wire.stream import StreamData, StreamMoney, StreamPacket

ROOT = Path(__file__).resolve().parent.parent

JS_SCRIPT = ROOT / "benchmarks" / "js" / "wire_bench.js"
NPM_PACKAGES = ("ilp-packet@3.1.3", "ilp-protocol-stream@2.7.1")
JS_TIMEOUT_S = 120

DEFAULT_SECONDS = 1.0
DEFAULT_REPETITIONS = 5
MIN_LOOP_S = 0.02

_DATA = bytes(i * 7 % 256 for i in range(200))
_ADDRESS = "g.ilpnet.bench.receiver.012345678"  # 33 characters
_CONDITION = bytes.fromhex("74e1136dc71c9e5f283bec83461cbf1261c4014f72d48f8dd65453a0b84e7de1")

PACKETS: dict[str, dict[str, Any]] = {
    "prepare": {
        "amount": "1234567890123",
        "expiresAt": "2030-06-15T12:34:56.789Z",
        "executionCondition": _CONDITION.hex(),
        "destination": _ADDRESS,
        "data": _DATA.hex(),
    },
    "fulfill": {
        "fulfillment": bytes(range(32)).hex(),
        "data": _DATA.hex(),
    },
    "reject": {
        "code": "F99",
        "triggeredBy": _ADDRESS,
        "message": "benchmark rejection",
        "data": _DATA.hex(),
    },
    "forward": {  # what a connector rewrites: amount - 1, expiry - 1 s
        "amount": "1234567890122",
        "expiresAt": "2030-06-15T12:34:55.789Z",
    },
    "stream": {
        "sharedSecret": bytes(range(100, 132)).hex(),
        "sequence": "1",
        "ilpPacketType": 12,
        "prepareAmount": "1000",
        "frames": [
            {"name": "StreamMoney", "streamId": "1", "shares": "1"},
            {"name": "StreamData", "streamId": "1", "offset": "0", "data": _DATA[:64].hex()},
        ],
    },
}
"""The benchmark packets in the vectors' field conventions; the JS side gets the same."""

OPERATIONS: dict[str, str] = {
    "prepare_decode": "Prepare decode",
    "prepare_decode_all_fields": "Prepare decode + read all fields",
    "prepare_encode": "Prepare encode",
    "prepare_build_encode": "Prepare build + encode",
    "prepare_forward_encode": "Prepare new amount+expiry, encode",
    "fulfill_decode": "Fulfill decode",
    "fulfill_encode": "Fulfill encode",
    "reject_decode": "Reject decode",
    "reject_encode": "Reject encode",
    "stream_encrypt_encode": "STREAM packet encode + encrypt",
    "stream_decrypt_decode": "STREAM packet decrypt + decode",
}

TARGETS: dict[str, float] = {"prepare_decode": 1.5, "prepare_encode": 1.5}
"""Minimum ilpnet/JS ratios the issue asks for."""


@dataclass(frozen=True, slots=True)
class Built:
    """The Python objects of `PACKETS`, and their encodings."""

    prepare: Prepare
    fulfill: Fulfill
    reject: Reject
    stream: StreamPacket
    crypto: StreamCrypto

    def encoded(self) -> dict[str, bytes]:
        return {
            "prepare": self.prepare.encode(),
            "fulfill": self.fulfill.encode(),
            "reject": self.reject.encode(),
            "stream_plaintext": self.stream.encode(),
        }


def build_packets() -> Built:
    p, f, r, s = PACKETS["prepare"], PACKETS["fulfill"], PACKETS["reject"], PACKETS["stream"]
    money, data = s["frames"]
    return Built(
        prepare=Prepare(
            int(p["amount"]),
            datetime.fromisoformat(p["expiresAt"]),
            bytes.fromhex(p["executionCondition"]),
            p["destination"],
            bytes.fromhex(p["data"]),
        ),
        fulfill=Fulfill(bytes.fromhex(f["fulfillment"]), bytes.fromhex(f["data"])),
        reject=Reject(r["code"], r["triggeredBy"], r["message"], bytes.fromhex(r["data"])),
        stream=StreamPacket(
            s["ilpPacketType"],
            int(s["sequence"]),
            int(s["prepareAmount"]),
            (
                StreamMoney(int(money["streamId"]), int(money["shares"])),
                StreamData(int(data["streamId"]), int(data["offset"]), bytes.fromhex(data["data"])),
            ),
        ),
        crypto=StreamCrypto(bytes.fromhex(s["sharedSecret"])),
    )


Runner = Callable[[int], float]
"""Runs an operation `n` times and returns the seconds it took."""


def ops_per_second(run: Runner, seconds: float, reps: int) -> float:
    """Operations per second: calibrated loops, best of `reps` repetitions."""
    n = 1
    elapsed = run(n)
    while elapsed < MIN_LOOP_S:
        n *= 2
        elapsed = run(n)
    per_rep = max(1, round(n * seconds / reps / elapsed))
    best = min(run(per_rep) / per_rep for _ in range(reps))
    return 1 / best


def statement(stmt: str, env: dict[str, Any]) -> Runner:
    """`stmt` in a timeit loop (garbage collection off while timing, as timeit does)."""
    return timeit.Timer(stmt, globals=env).timeit


class _Encodable(Protocol):
    def encode(self) -> bytes: ...


FRESH_CHUNK = 50_000
"""Packets built at a time for `encode_fresh`, to bound memory."""


def encode_fresh(make: Callable[[], _Encodable]) -> Runner:
    """Time `encode()` on packets that have never been encoded.

    ilpnet packets are immutable and cache their bytes, so encoding one object again
    costs nothing; this builds fresh packets untimed and times only their first encode.
    """

    def run(n: int) -> float:
        elapsed = 0.0
        while n > 0:
            packets = [make() for _ in range(min(n, FRESH_CHUNK))]
            n -= len(packets)
            gc.disable()
            try:
                start = time.perf_counter()
                for packet in packets:
                    packet.encode()
                elapsed += time.perf_counter() - start
            finally:
                gc.enable()
        return elapsed

    return run


def measure_python(built: Built, seconds: float, reps: int) -> dict[str, float]:
    raw = built.encoded()
    p, f, r = built.prepare, built.fulfill, built.reject
    env: dict[str, Any] = {
        "Prepare": Prepare,
        "Fulfill": Fulfill,
        "Reject": Reject,
        "prepare_raw": raw["prepare"],
        "fulfill_raw": raw["fulfill"],
        "reject_raw": raw["reject"],
        "p": p,
        "next_amount": int(PACKETS["forward"]["amount"]),
        "next_expiry": datetime.fromisoformat(PACKETS["forward"]["expiresAt"]),
        "crypto": built.crypto,
        "stream": built.stream,
        "sealed": built.crypto.seal(built.stream),
    }
    runners: dict[str, Runner] = {
        "prepare_decode": statement("Prepare.decode(prepare_raw)", env),
        "prepare_decode_all_fields": statement(
            "q = Prepare.decode(prepare_raw); "
            "q.amount, q.expires_at, q.execution_condition, q.destination, q.data",
            env,
        ),
        "prepare_encode": encode_fresh(
            lambda: Prepare(p.amount, p.expires_at, p.execution_condition, p.destination, p.data)
        ),
        "prepare_build_encode": statement(
            "Prepare(p.amount, p.expires_at, p.execution_condition, p.destination, p.data)"
            ".encode()",
            env,
        ),
        "prepare_forward_encode": statement(
            "p.with_changes(amount=next_amount, expires_at=next_expiry).encode()", env
        ),
        "fulfill_decode": statement("Fulfill.decode(fulfill_raw)", env),
        "fulfill_encode": encode_fresh(lambda: Fulfill(f.fulfillment, f.data)),
        "reject_decode": statement("Reject.decode(reject_raw)", env),
        "reject_encode": encode_fresh(lambda: Reject(r.code, r.triggered_by, r.message, r.data)),
        "stream_encrypt_encode": statement("crypto.seal(stream)", env),
        "stream_decrypt_decode": statement("crypto.open(sealed)", env),
    }
    assert runners.keys() == OPERATIONS.keys()
    return {name: ops_per_second(run, seconds, reps) for name, run in runners.items()}


class PacketMismatch(Exception):
    """The two sides did not build the same packets, so their figures do not compare."""


def check_same_packets(built: Built, js_encoded: dict[str, str]) -> None:
    """Both sides must measure the same bytes: equal encodings, and the STREAM packet the
    JS side sealed (random IV) opens here to the packet this side built."""
    for name, raw in built.encoded().items():
        if js_encoded[name] != raw.hex():
            raise PacketMismatch(f"{name}: ilpnet {raw.hex()} != JS {js_encoded[name]}")
    opened = built.crypto.open(bytes.fromhex(js_encoded["stream_sealed"]))
    if opened != built.stream:
        raise PacketMismatch(f"the JS-sealed STREAM packet opened as {opened}")


def run_js(seconds: float, reps: int) -> dict[str, Any]:
    """Install the npm packages if needed and run the node script, one process per
    operation (so V8's JIT state from one measurement cannot affect the next); return its
    JSON with the `ops` of every run merged.

    Raises RuntimeError saying why when node/npm are missing or the script fails.
    """
    if str(ROOT) not in sys.path:  # run as a script: make the shared npm installer importable
        sys.path.insert(0, str(ROOT))
    from tests.interop.npm_reference import PREFIX, install_npm_packages

    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH (install Node.js, or pass --no-js)")
    problem = install_npm_packages(NPM_PACKAGES)
    if problem is not None:
        raise RuntimeError(problem)
    merged: dict[str, Any] = {}
    for name in OPERATIONS:
        config = json.dumps(
            {"seconds": seconds, "repetitions": reps, "operations": [name], **PACKETS}
        )
        done = subprocess.run(
            [node, str(JS_SCRIPT), str(PREFIX / "node_modules"), config],
            capture_output=True,
            text=True,
            timeout=JS_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{JS_SCRIPT.name} failed: {done.stderr.strip()[-500:]}")
        result: dict[str, Any] = json.loads(done.stdout)
        ops = merged.setdefault("ops", {})
        merged.update(result)
        merged["ops"] = ops | result["ops"]
    return merged


def report(
    python_ops: dict[str, float],
    js: dict[str, Any] | None,
    js_error: str | None,
    seconds: float,
    repetitions: int,
) -> dict[str, Any]:
    """The whole result as one JSON-ready object."""
    js_ops: dict[str, float] = js["ops"] if js else {}
    ratios: dict[str, float | None] = {}
    operations = {}
    for name in OPERATIONS:
        theirs, ours = js_ops.get(name), python_ops[name]
        ratios[name] = round(ours / theirs, 3) if theirs else None
        operations[name] = {
            "ilpnet_ops_per_s": round(ours),
            "js_ops_per_s": None if theirs is None else round(theirs),
            "ratio": ratios[name],
        }
    targets = {}
    for name, minimum in TARGETS.items():
        ratio = ratios[name]
        targets[name] = {"min_ratio": minimum, "met": None if ratio is None else ratio >= minimum}
    return {
        "method": {
            "seconds_per_operation": seconds,
            "repetitions": repetitions,
            "statistic": "best of repetitions, calibrated loops (>= 20 ms each)",
            "packets": PACKETS,
        },
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": f"{platform.machine()} {platform.system()}",
        "js_runtime": js["runtime"] if js else None,
        "js_packages": js["packages"] if js else None,
        "js_error": js_error,
        "operations": operations,
        "targets": targets,
    }


def print_table(result: dict[str, Any], console: Console) -> None:
    table = Table(title="ilpnet wire codecs vs the JavaScript reference (operations per second)")
    table.add_column("operation")
    table.add_column("ilpnet ops/s", justify="right")
    table.add_column("JS ops/s", justify="right")
    table.add_column("ratio", justify="right")
    for name, row in result["operations"].items():
        js, ratio = row["js_ops_per_s"], row["ratio"]
        style = ""
        if name in TARGETS and ratio is not None:
            style = "green" if ratio >= TARGETS[name] else "red"
        table.add_row(
            OPERATIONS[name],
            f"{row['ilpnet_ops_per_s']:,}",
            "-" if js is None else f"{js:,}",
            "-" if ratio is None else f"[{style}]{ratio:.2f}x[/]" if style else f"{ratio:.2f}x",
        )
    console.print(table)
    js_runtime = result["js_runtime"] or "no JS run"
    console.print(f"{result['python']} vs {js_runtime}; {result['machine']}")
    if result["js_error"]:
        console.print(f"[yellow]JS reference not run: {result['js_error']}[/]")
    for name, target in result["targets"].items():
        if target["met"] is not None:
            verdict = "met" if target["met"] else "NOT met"
            console.print(f"target {OPERATIONS[name]} >= {target['min_ratio']}x: {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--seconds",
        type=float,
        default=DEFAULT_SECONDS,
        help=f"seconds per operation and side, split over the repetitions ({DEFAULT_SECONDS})",
    )
    parser.add_argument(
        "--repetitions", type=int, default=DEFAULT_REPETITIONS, help="best of how many runs"
    )
    parser.add_argument("--no-js", action="store_true", help="skip the JavaScript reference")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.repetitions < 1:
        parser.error("--seconds must be > 0 and --repetitions >= 1")

    built = build_packets()
    python_ops = measure_python(built, args.seconds, args.repetitions)
    js: dict[str, Any] | None = None
    js_error: str | None = "skipped (--no-js)" if args.no_js else None
    if not args.no_js:
        try:
            js = run_js(args.seconds, args.repetitions)
        except (RuntimeError, OSError, subprocess.TimeoutExpired, ValueError) as exc:
            js_error = str(exc)
        else:
            try:
                check_same_packets(built, js["encoded"])
            except PacketMismatch as exc:
                print(f"error: the JS side built different packets: {exc}", file=sys.stderr)
                return 1
    result = report(python_ops, js, js_error, args.seconds, args.repetitions)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result, Console())
    return 0


if __name__ == "__main__":
    sys.exit(main())
