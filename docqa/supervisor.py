"""Keep the app's processes running: restart a child that dies, with capped exponential backoff.

`make run` (docqa.runstack) starts web, worker and beat (and the emulator) under a `Supervisor`.
A child that exits while the stack is not stopping — a crash, an out-of-memory kill, a SIGKILL —
is started again after a pause that doubles with each crash in a row (`Backoff.initial` up to
`Backoff.cap`); a child that had run for `Backoff.stable_after` seconds counts as having
started well, so its next crash starts the count again. Only a child that keeps dying right
after starting (`Backoff.give_up_after` times in a row: a broken configuration, a port taken)
makes the supervisor give up, stop everything and report failure, saying so in its log.

The log names the child, its exit code or signal and the pause, never its command line or
environment (they may hold the provider key or database passwords).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Backoff:
    initial: float = 1.0  # seconds before the first restart
    cap: float = 30.0  # the longest pause between two restarts
    stable_after: float = 30.0  # a child that ran this long had started well
    give_up_after: int = 6  # crashes in a row, each soon after its start, before giving up

    def delay(self, crashes_in_a_row: int) -> float:
        return min(self.cap, self.initial * 2 ** max(crashes_in_a_row - 1, 0))


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    crashes_in_a_row: int = 0
    restart_at: float | None = None  # when a crashed child is due to start again
    restarts: int = 0


def describe_exit(returncode: int) -> str:
    """ "exited with code 3" / "was killed by SIGKILL": how the log says a child ended."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


class Supervisor:
    """Start, watch, restart and stop a set of child processes (each in its own process group,
    so a terminal's Ctrl-C reaches only the supervisor and it stops children in order)."""

    def __init__(
        self,
        children: Mapping[str, tuple[Sequence[str], Mapping[str, str]]],
        *,
        cwd: Path,
        backoff: Backoff | None = None,
        log: Callable[[str], None] | None = None,
        poll_seconds: float = 0.2,
    ) -> None:
        self.children = [Child(name, argv, env) for name, (argv, env) in children.items()]
        self.cwd = cwd
        self.backoff = backoff or Backoff()
        self.log = log or (lambda line: print(f"[supervisor] {line}", flush=True))
        self.poll_seconds = poll_seconds
        self.gave_up: str | None = None  # the child it gave up on

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)

    def run(self, stopping: Callable[[], bool]) -> int:
        """Watch the children until `stopping()` or giving up; then stop them all. Returns the
        exit code for the supervisor: 0 after a requested stop, 1 after giving up."""
        try:
            while not stopping() and self.gave_up is None:
                self.check()
                time.sleep(self.poll_seconds)
        finally:
            self.stop()
        return 1 if self.gave_up else 0

    def check(self) -> None:
        """One look at every child: note the ones that died, start the ones that are due."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._spawn(child)
                continue
            if child.proc is None or child.proc.poll() is None:
                continue
            self._crashed(child, now)
            if self.gave_up:
                return

    def _crashed(self, child: Child, now: float) -> None:
        assert child.proc is not None
        ran = now - child.started_at
        how = describe_exit(child.proc.returncode)
        _kill_group(child.proc)  # what it left behind (a prefork pool's children)
        child.crashes_in_a_row = (
            1 if ran >= self.backoff.stable_after else child.crashes_in_a_row + 1
        )
        if child.crashes_in_a_row >= self.backoff.give_up_after:
            self.gave_up = child.name
            self.log(
                f"{child.name} {how} after {ran:.1f} s; it died {child.crashes_in_a_row} times "
                f"in a row within {self.backoff.stable_after:.0f} s of starting, so it is not "
                "restarted again. Giving up: stopping everything (see its output above)."
            )
            return
        delay = self.backoff.delay(child.crashes_in_a_row)
        child.restart_at = now + delay
        self.log(
            f"{child.name} {how} after {ran:.1f} s; restarting it in {delay:g} s "
            f"(crash {child.crashes_in_a_row} in a row)."
        )

    def _spawn(self, child: Child) -> None:
        restarting = child.proc is not None
        child.proc = subprocess.Popen(
            list(child.argv), env=dict(child.env), cwd=self.cwd, start_new_session=True
        )
        child.started_at = time.monotonic()
        child.restart_at = None
        if restarting:
            child.restarts += 1
            self.log(f"{child.name} restarted (pid {child.proc.pid}, restart {child.restarts}).")
        else:
            self.log(f"{child.name} started (pid {child.proc.pid}).")

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM every running child's group, then SIGKILL what is left after `timeout`."""
        running = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
        for proc in running:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in running:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        for proc in running:
            _kill_group(proc)


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signum)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL whatever is still in a finished child's process group (it led the group, so
    the group id is its pid; the group ends with its last member)."""
    if proc.poll() is not None:
        _signal_group(proc, signal.SIGKILL)
