"""`benchmarks/connector.py` runs a connector process and prints its JSON report (a smoke
run with the memory store and without the JS reference; nothing is timed)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.spec_vectors import REPO_ROOT

SCRIPT = REPO_ROOT / "benchmarks" / "connector.py"


def test_connector_benchmark_prints_json_report() -> None:
    args = ["--seconds", "0.2", "--concurrency", "1,4", "--stores", "memory", "--no-js", "--json"]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    found = report["targets"]["ilpnet (memory)"]
    assert [p["concurrency"] for p in found["points"]] == [1, 4]
    for point in found["points"]:
        assert point["packets_per_s"] > 0
        assert point["rejects"] == 0
    assert found["half_peak"]["rejects"] == 0
    assert report["ratios"] == {"ilpnet (memory)": None}
    assert report["js_error"] == "skipped (--no-js)"
