"""Octopus etiquette at scale: every process of a machine keeps one request rate together, and a 429 pauses them
all. Real processes and a real simulator; the timings asserted are lower bounds (a slow machine only spaces
requests further), never targets."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from octograph_pipeline.clients.octopus import OctopusClient, default_retry
from octograph_pipeline.clients.pacing import SharedPace
from octograph_pipeline.dev.simulator import serve

from .helpers import ACCOUNT, API_KEY, household_simulator

REQUESTS_EACH = """
import sys
from octograph_pipeline.clients.octopus import OctopusClient, default_retry
from octograph_pipeline.clients.pacing import SharedPace
api, key, account, pace_file, rate, count = sys.argv[1:]
pace = SharedPace(pace_file, float(rate))
with OctopusClient(api, key, retry=default_retry(pace=pace)) as client:
    for _ in range(int(count)):
        client.account(account)
"""


def test_the_spacing_arithmetic_without_a_clock(tmp_path):
    now, slept = [100.0], []
    pace = SharedPace(tmp_path / "pace", 4, clock=lambda: now[0], sleep=slept.append)
    assert [pace.wait_turn() for _ in range(3)] == [0.0, 0.25, 0.5]  # 4 a second: a quarter of a second apart
    pace.pause_all(10)  # a 429's Retry-After
    assert pace.wait_turn() == 10.0
    # Another process, uncapped, still waits for the pause and the capped one's turn.
    assert SharedPace(tmp_path / "pace", 0, clock=lambda: now[0], sleep=slept.append).wait_turn() == 10.25


def test_two_processes_keep_one_rate_between_them(tmp_path):
    """Two processes, 10 requests each, against a simulator that answers at once, at 20 requests a second in
    all: the 20 requests cannot take less than 19 intervals of 50 ms."""
    simulator = household_simulator()
    with serve(simulator) as api:
        began = time.monotonic()
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", REQUESTS_EACH, api, API_KEY, ACCOUNT, str(tmp_path / "pace"), "20", "10"]
            )
            for _ in range(2)
        ]
        assert [process.wait(timeout=120) for process in processes] == [0, 0]
        took = time.monotonic() - began
    assert simulator.request_counts["account"] == 20
    assert took >= 19 / 20


def test_a_429_pauses_the_other_clients_of_the_machine_too(tmp_path):
    """The first request is answered 429 with Retry-After: 3. Another client (its own pace instance and file
    descriptor, as another process has) asking meanwhile waits for the pause too, rather than hitting Octopus."""
    simulator = household_simulator()
    simulator.burst_429, simulator.retry_after = 1, 3

    def client() -> OctopusClient:
        return OctopusClient(api, API_KEY, retry=default_retry(pace=SharedPace(tmp_path / "pace", 0)))

    with serve(simulator) as api:
        first = threading.Thread(target=lambda: client().account(ACCOUNT))
        first.start()
        while simulator.request_counts["account"] < 1:
            time.sleep(0.01)
        time.sleep(0.2)  # the 429 has been answered and recorded
        began = time.monotonic()
        with client() as other:
            other.account(ACCOUNT)
        waited = time.monotonic() - began
        first.join(timeout=30)
    assert waited >= 2.0  # the pause's rest (3 s from the 429, less the 0.2 s above and some slack)
    assert simulator.request_counts["account"] == 3  # the 429, its retry, the other client's one request
