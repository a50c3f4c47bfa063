"""`benchmarks/wire.py` runs and prints its JSON report (a smoke run, nothing is timed)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.spec_vectors import REPO_ROOT

SCRIPT = REPO_ROOT / "benchmarks" / "wire.py"

OPERATIONS = {
    "prepare_decode",
    "prepare_decode_all_fields",
    "prepare_encode",
    "prepare_build_encode",
    "prepare_forward_encode",
    "fulfill_decode",
    "fulfill_encode",
    "reject_decode",
    "reject_encode",
    "stream_encrypt_encode",
    "stream_decrypt_decode",
}


def test_wire_benchmark_prints_json_report() -> None:
    args = ["--seconds", "0.05", "--repetitions", "1", "--no-js", "--json"]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report["operations"]) == OPERATIONS
    for row in report["operations"].values():
        assert row["ilpnet_ops_per_s"] > 0
        assert row["js_ops_per_s"] is None
        assert row["ratio"] is None
    assert report["js_error"] == "skipped (--no-js)"
    assert set(report["targets"]) == {"prepare_decode", "prepare_encode"}
    assert len(report["method"]["packets"]["prepare"]["destination"]) == 33
