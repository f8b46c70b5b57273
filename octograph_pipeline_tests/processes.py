"""The processes the tests start, ended in every case, with everything they started.

Each process starts in a session (so a process group) of its own, with SIGINT as a terminal gives it: a pytest
run as a background job (`nohup`, `&` in a script) has SIGINT ignored, its children would inherit that, and
Dagster maps SIGTERM onto SIGINT's handler, so a Dagster process would then ignore SIGTERM too. On the way out,
whatever happened, the whole group gets the stop signals (SIGTERM unless told), each with time for every member
to exit, then SIGKILL; a member that survives even that fails the test. A group counts as gone when none of its
members is left but zombies (an orphan's zombie is for PID 1 to reap, which not every container's init does).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

GRACE_SECONDS = 20.0  # for the whole group to exit after a stop signal
KILL_WAIT_SECONDS = 10.0  # after SIGKILL
POLL_SECONDS = 0.05

# Sets SIGINT's disposition (argv[1]) and becomes the command (argv[2:]): an ignored signal stays ignored
# across exec and a default one stays default, and the pid stays the same.
_WITH_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.Handlers(int(sys.argv[1]))); "
    "os.execvp(sys.argv[2], sys.argv[2:])"
)


class ProcessesSurvived(AssertionError):
    """Processes of a test's group were still running after SIGKILL."""


def _stat_fields(pid: int | str) -> list[str] | None:
    """/proc/PID/stat after the command name (which may hold spaces and parentheses): state, ppid, pgrp, ..."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def group_members(pgid: int) -> list[int]:
    """The processes of process group `pgid` that are not zombies."""
    members = []
    for name in os.listdir("/proc"):
        fields = _stat_fields(name) if name.isdigit() else None
        if fields and int(fields[2]) == pgid and fields[0] not in "ZX":
            members.append(int(name))
    return members


def describe(pids: Sequence[int]) -> str:
    lines = []
    for pid in pids:
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            lines.append(f"{pid}: {command.strip()[:300]}")
    return "\n".join(lines)


def wait_until_gone(process: subprocess.Popen, timeout: float) -> list[int]:
    """Waits up to `timeout` s for every member of the process's group to exit (reaping the leader, our child);
    returns those left."""
    deadline = time.monotonic() + timeout
    while True:
        process.poll()
        left = group_members(process.pid)
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(POLL_SECONDS)


def stop_group(
    process: subprocess.Popen,
    signals: Sequence[signal.Signals] = (signal.SIGTERM,),
    grace: float = GRACE_SECONDS,
    kill_wait: float = KILL_WAIT_SECONDS,
) -> None:
    """Each of `signals` to the group of `process` (started with start_new_session=True), `grace` s for the whole
    group to exit after each, then SIGKILL. Raises ProcessesSurvived if any member is left even then."""
    for sig, timeout in [*((sig, grace) for sig in signals), (signal.SIGKILL, kill_wait)]:
        if not wait_until_gone(process, 0):
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        if not wait_until_gone(process, timeout):
            break
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=kill_wait)
    if left := group_members(process.pid):
        raise ProcessesSurvived(f"still running after SIGKILL to group {process.pid}:\n{describe(left)}")


def with_sigint(args: Sequence[str | os.PathLike], disposition: signal.Handlers) -> list[str]:
    """`args`, run with SIGINT set to `disposition` (SIG_DFL or SIG_IGN) whatever this process has."""
    return [sys.executable, "-c", _WITH_SIGINT, str(int(disposition)), *map(str, args)]


@contextlib.contextmanager
def started(
    args: Sequence[str | os.PathLike],
    *,
    sigint: signal.Handlers | None = signal.SIG_DFL,
    stop_signals: Sequence[signal.Signals] = (signal.SIGTERM,),
    grace: float = GRACE_SECONDS,
    **popen,
) -> Iterator[subprocess.Popen]:
    """`subprocess.Popen(args, **popen)` in a new session, with SIGINT set to `sigint` (None: inherited), and on
    the way out (however the block ends) `stop_group` with `stop_signals` and `grace`."""
    command = list(map(str, args)) if sigint is None else with_sigint(args, sigint)
    process = subprocess.Popen(command, start_new_session=True, **popen)
    try:
        yield process
    finally:
        stop_group(process, stop_signals, grace)


def _signal_set(pid: int, field: str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith(f"{field}:")), 16)


def ignores(pid: int, sig: signal.Signals) -> bool:
    """Whether process `pid` ignores `sig` (SigIgn in /proc/PID/status)."""
    return bool(_signal_set(pid, "SigIgn") >> (sig - 1) & 1)


def running(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie."""
    return (fields := _stat_fields(pid)) is not None and fields[0] not in "ZX"


class Lines:
    """A text pipe read line by line in a thread, so that a test can wait for a line with a deadline."""

    def __init__(self, pipe):
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe) -> None:
        with pipe:
            for line in pipe:
                with self._changed:
                    self.lines.append(line)
                    self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, wanted: str | Callable[[str], bool], timeout: float = 60, what: str = "") -> str:
        """The first line holding `wanted` (or for which it is true); AssertionError if none came in time."""
        match = wanted if callable(wanted) else lambda line: wanted in line
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                if found := next((line for line in self.lines if match(line)), None):
                    return found
                if not self._thread.is_alive() or time.monotonic() >= deadline:
                    raise AssertionError(
                        f"no line {what or repr(wanted)} in {timeout} s; got:\n{''.join(self.lines)[-3000:]}"
                    )
                self._changed.wait(min(1.0, max(0.0, deadline - time.monotonic())))

    def text(self, timeout: float = 30) -> str:
        """Everything, once the pipe is closed (the process and whatever inherited the pipe have exited)."""
        self._thread.join(timeout)
        return "".join(self.lines)
