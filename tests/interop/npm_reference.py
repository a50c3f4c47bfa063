"""Installs pinned JavaScript reference packages from npm into `.npm-reference/` once.

Tests that need the JavaScript stack call `require_npm_packages(...)`; it installs what is
missing (under a file lock, so parallel xdist workers do not collide) and skips the test
with a clear message when node/npm are missing or the install fails (e.g. offline).
Run it by hand too: `python -m tests.interop.npm_reference`.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PREFIX = ROOT / ".npm-reference"
JS_DIR = Path(__file__).resolve().parent / "js"

# The packages the BTP interop tests use, pinned.
BTP_PACKAGES = ("ilp-plugin-btp@1.5.0", "ilp-packet@3.1.3")

INSTALL_TIMEOUT_S = 300


def _installed_version(name: str) -> str | None:
    manifest = PREFIX / "node_modules" / name / "package.json"
    try:
        version = json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None
    return str(version)


def _missing(specs: tuple[str, ...]) -> list[str]:
    out = []
    for spec in specs:
        name, _, version = spec.rpartition("@")
        if _installed_version(name) != version:
            out.append(spec)
    return out


def install_npm_packages(specs: tuple[str, ...]) -> str | None:
    """Install `specs` into `.npm-reference/`; return None on success, else why not."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "node and npm are needed for the JavaScript interop tests (not on PATH)"
    PREFIX.mkdir(exist_ok=True)
    with (PREFIX / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = _missing(specs)
        if not missing:
            return None
        try:
            done = subprocess.run(
                [npm, "install", "--prefix", str(PREFIX), "--no-audit", "--no-fund", *missing],
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"npm install {' '.join(missing)} timed out after {INSTALL_TIMEOUT_S}s"
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return f"npm install {' '.join(missing)} failed (offline?): {' | '.join(tail)}"
        still = _missing(specs)
        if still:
            return f"npm install finished but {', '.join(still)} is not in {PREFIX}"
    return None


def require_npm_packages(specs: tuple[str, ...] = BTP_PACKAGES) -> Path:
    """Ensure `specs` are installed, or skip the calling test; returns the node_modules dir."""
    why_not = install_npm_packages(specs)
    if why_not is not None:
        pytest.skip(why_not)
    return PREFIX / "node_modules"


if __name__ == "__main__":
    problem = install_npm_packages(BTP_PACKAGES)
    print(problem or f"installed {', '.join(BTP_PACKAGES)} into {PREFIX}")
    sys.exit(1 if problem else 0)


NODE_WAIT_S = 60.0  # node start-up is slow on a loaded machine


@asynccontextmanager
async def node_script(
    node_modules: Path, script: Path, *args: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run `node script args…` with the installed packages on NODE_PATH; killed on exit."""
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(script),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NODE_PATH": str(node_modules)},
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def read_json_line(proc: asyncio.subprocess.Process, wait: float = NODE_WAIT_S) -> Any:
    """The next line the script prints, as JSON; its stderr if it exits instead."""
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), wait)
    if not line:
        assert proc.stderr is not None
        err = await proc.stderr.read()
        raise AssertionError(f"node exited early: {err.decode(errors='replace')[-2000:]}")
    return json.loads(line)
