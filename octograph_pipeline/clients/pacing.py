"""One pace for every process of this machine that calls Octopus: at most `per_second` requests in all, whichever
run, backfill or household they serve, and when Octopus answers 429 every one of them waits out its `Retry-After`,
not only the request that got it. The shared state is a small file holding the instant the next request may
start, read and written under an exclusive `flock`, so runs in separate processes share it without a server."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from requests.adapters import HTTPAdapter


class SharedPace:
    """Spaces requests `1 / per_second` apart across processes (0: no cap, but 429 pauses are still shared)."""

    def __init__(
        self,
        path: str | os.PathLike,
        per_second: float,
        *,
        clock: Callable[[], float] = time.time,  # wall clock: the file is read by other processes
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.path = Path(path)
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._clock, self._sleep = clock, sleep

    @contextlib.contextmanager
    def _next_start(self) -> Iterator[list[float]]:
        """The shared instant the next request may start, as a one-item list to change, under the lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as file:
            fcntl.flock(file, fcntl.LOCK_EX)  # released when the file closes
            file.seek(0)
            text = file.read().decode("ascii", "replace").strip()
            try:
                shared = [float(text or 0)]
            except ValueError:  # a torn or foreign file: start afresh
                shared = [0.0]
            before = shared[0]
            yield shared
            if shared[0] != before:
                file.seek(0)
                file.truncate()
                file.write(repr(shared[0]).encode("ascii"))
                file.flush()

    def wait_turn(self) -> float:
        """Waits until this process may send its next request; returns how long it waited."""
        with self._next_start() as shared:
            now = self._clock()
            start = max(now, shared[0])
            shared[0] = start + self.interval
        if start > now:
            self._sleep(start - now)
        return max(0.0, start - now)

    def pause_all(self, seconds: float) -> None:
        """No request from any process before `seconds` from now (Octopus said 429, Retry-After: seconds)."""
        with self._next_start() as shared:
            shared[0] = max(shared[0], self._clock() + seconds)


class PacedAdapter(HTTPAdapter):
    """requests' adapter that waits for its turn before each first attempt (retries wait in `OctopusRetry`)."""

    def __init__(self, pace: SharedPace | None, **kwargs):
        self.pace = pace
        super().__init__(**kwargs)

    def send(self, request, *args, **kwargs):
        if self.pace is not None:
            self.pace.wait_turn()
        return super().send(request, *args, **kwargs)
