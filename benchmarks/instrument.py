"""Where a run's time goes, measured from inside the process that spends it.

`install()` wraps the few places where time leaves our hands or is ours: the Octopus client's HTTP calls,
InfluxDB's HTTP calls, the asset bodies (each step of the user's compute generator) and the IO manager.
Totals accumulate per process and are written as JSON to `$OCTOGRAPH_BENCH_TIMINGS/<pid>.json` after every
step and at exit, so run workers launched by the Dagster daemon report too. Benchmark-only: nothing in the
package imports this.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import time
from collections import Counter
from pathlib import Path

TIMINGS_DIR_ENV = "OCTOGRAPH_BENCH_TIMINGS"
STARTED = time.perf_counter()
TOTALS: Counter[str] = Counter()
# Categories are exclusive: while the Octopus client waits inside an asset body, the body's clock is paused.
_stack: list[list] = []  # [category, resumed at]


def _enter(category: str) -> None:
    now = time.perf_counter()
    if _stack:
        TOTALS[_stack[-1][0]] += now - _stack[-1][1]
    _stack.append([category, now])


def _leave() -> None:
    now = time.perf_counter()
    category, since = _stack.pop()
    TOTALS[category] += now - since
    if _stack:
        _stack[-1][1] = now


def timed(category: str, function):
    """`function`, adding its wall time (less that of other timed calls inside it) to TOTALS[category]."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        _enter(category)
        try:
            return function(*args, **kwargs)
        finally:
            _leave()

    return wrapper


def timed_iterator(category: str, iterator):
    """Times each step of an iterator: the user's code between two yields, not what the consumer does."""
    iterator = iter(iterator)
    while True:
        _enter(category)
        try:
            item = next(iterator)
        except StopIteration:
            return
        finally:
            _leave()
        yield item


def dump() -> None:
    directory = os.environ.get(TIMINGS_DIR_ENV)
    if directory:
        totals = {**TOTALS, "process_seconds": time.perf_counter() - STARTED}
        Path(directory, f"{os.getpid()}.json").write_text(json.dumps(totals))


def install(dagster: bool) -> None:
    """Wraps the Octopus and InfluxDB transports and, with `dagster`, the asset bodies and the IO manager."""
    from octograph_pipeline.clients import influx as store
    from octograph_pipeline.clients.kraken import KrakenClient
    from octograph_pipeline.clients.octopus import OctopusClient

    if getattr(OctopusClient._get_json, "__wrapped__", None):
        return
    # Waiting on Octopus: its REST API and Kraken's GraphQL (the token exchange, gas units, dispatches).
    OctopusClient._get_json = timed("octopus", OctopusClient._get_json)
    KrakenClient._post = timed("octopus", KrakenClient._post)
    for cls in (store.InfluxStore, store.InfluxV1Store, store.InfluxV2Store):
        for name in ("query", "_write_batch", "delete"):
            if name in vars(cls):
                setattr(cls, name, timed("influx", vars(cls)[name]))
    if dagster:
        import dagster._core.execution.plan.execute_step as execute_step

        from octograph_pipeline.orchestration.io_manager import InfluxIOManager

        compute = execute_step.execute_core_compute

        def timed_compute(*args, **kwargs):
            yield from timed_iterator("compute", compute(*args, **kwargs))
            dump()

        execute_step.execute_core_compute = timed_compute
        InfluxIOManager.handle_output = timed("compute", InfluxIOManager.handle_output)
        InfluxIOManager.load_input = timed("compute", InfluxIOManager.load_input)
    atexit.register(dump)


def imports_done() -> None:
    """Marks the end of start-up (interpreter and imports) for this process."""
    TOTALS["startup"] = time.perf_counter() - STARTED
