"""Runs the parts of a network as child processes: start, wait healthy, restart on crash."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import aiohttp
import structlog

from ilpnet.clock import Clock

log = structlog.get_logger(__name__)


class PartState(StrEnum):
    STARTING = "starting"
    HEALTHY = "healthy"
    CRASHED = "crashed"
    STOPPED = "stopped"


@dataclass
class Part:
    """One supervised process: what to run and how to know it is healthy."""

    name: str
    kind: str
    argv: list[str]
    url: str
    health_url: str
    log_path: Path
    stage: int = 0  # parts of one stage start together, after every earlier stage is healthy
    ready_links: tuple[str, ...] = ()
    """Healthy only once /health reports these links connected (`{"links": {id: true}}`)."""
    state: PartState = PartState.STOPPED
    restarts: int = 0
    pid: int | None = None
    process: asyncio.subprocess.Process | None = field(default=None, repr=False)


Reporter = Callable[[Part, str], None]

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """In the child, before exec: get SIGTERM when `up` dies, even by SIGKILL (Linux), so
    no part outlives the supervisor."""
    if sys.platform != "linux":
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def arrange() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # it died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return arrange


class PartFailed(Exception):
    """A part that did not become healthy; the message says why and where its log is."""


class Supervisor:
    """Owns every part's process; `stop()` ends them all (SIGTERM, then SIGKILL)."""

    def __init__(
        self,
        parts: list[Part],
        clock: Clock,
        report: Reporter,
        *,
        start_timeout: float = 20.0,
        max_backoff: float = 10.0,
    ) -> None:
        self.parts = parts
        self.clock = clock
        self.report = report
        self.start_timeout = start_timeout
        self.max_backoff = max_backoff
        self._stopping = asyncio.Event()
        self._watchers: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    async def _spawn(self, part: Part) -> None:
        part.log_path.parent.mkdir(parents=True, exist_ok=True)
        with part.log_path.open("ab") as out:
            part.process = await asyncio.create_subprocess_exec(
                *part.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us only; we stop the parts in order
                preexec_fn=_die_with_parent(os.getpid()),
            )
        part.pid = part.process.pid
        part.state = PartState.STARTING

    async def _healthy(self, part: Part) -> bool:
        assert self._session is not None
        try:
            async with self._session.get(
                part.health_url, timeout=aiohttp.ClientTimeout(total=1)
            ) as resp:
                if resp.status != 200:
                    return False
                if not part.ready_links:
                    return True
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return False
        links = body.get("links") if isinstance(body, dict) else None
        return isinstance(links, dict) and all(links.get(a) is True for a in part.ready_links)

    async def _wait_healthy(self, part: Part) -> None:
        deadline = self.clock.monotonic() + self.start_timeout
        delay = 0.02
        while self.clock.monotonic() < deadline:
            proc = part.process
            if proc is not None and proc.returncode is not None:
                raise PartFailed(
                    f"{part.name} exited with status {proc.returncode} while starting; "
                    f"see {part.log_path}"
                )
            if await self._healthy(part):
                part.state = PartState.HEALTHY
                return
            await self.clock.sleep(delay)
            delay = min(delay * 2, 0.25)
        raise PartFailed(
            f"{part.name} did not answer {part.health_url} within "
            f"{self.start_timeout:.0f} s; see {part.log_path}"
        )

    async def start(self) -> None:
        """Start the parts stage by stage (each stage at once), then watch them."""
        self._session = aiohttp.ClientSession()
        for stage in sorted({p.stage for p in self.parts}):
            group = [p for p in self.parts if p.stage == stage]
            for part in group:
                await self._spawn(part)
            await asyncio.gather(*(self._wait_healthy(part) for part in group))
            for part in group:
                log.info("part.healthy", part=part.name, url=part.url)
        for part in self.parts:
            self._watchers.append(asyncio.create_task(self._watch(part)))

    async def _watch(self, part: Part) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            proc = part.process
            assert proc is not None
            code = await proc.wait()
            if self._stopping.is_set():
                return
            part.state = PartState.CRASHED
            part.restarts += 1
            self.report(part, f"exited with status {code}; restarting in {backoff:.1f} s")
            await self.clock.sleep(backoff)
            if self._stopping.is_set():
                return
            await self._spawn(part)
            try:
                await self._wait_healthy(part)
            except PartFailed as exc:
                self.report(part, str(exc))
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = 0.5
            self.report(part, "restarted and healthy")

    async def stop(self) -> None:
        """Stop everything cleanly: SIGTERM all, wait, SIGKILL whatever is left."""
        self._stopping.set()
        for task in self._watchers:
            task.cancel()
        for task in self._watchers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        procs = [p.process for p in self.parts if p.process and p.process.returncode is None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        for part in self.parts:
            part.state = PartState.STOPPED
        if self._session is not None:
            await self._session.close()
