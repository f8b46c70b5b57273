"""Dagster's daemon with the backfill daemon polling every few seconds, and `make ui`'s webserver + daemon.

    python -m octograph_pipeline.daemon run -w workspace.yaml           # as `dagster-daemon run`
    python -m octograph_pipeline.daemon dev -w workspace.yaml -p 3000   # webserver and daemon, as `dagster dev`

Both give a new, empty DAGSTER_HOME the project's dagster.yaml first (`dagster_home.prepare`), and turn on
Dagster's event batching (`dagster_home.batch_events`).

Dagster 1.13's backfill daemon sleeps a fixed 30 s between iterations (`DEFAULT_DAEMON_INTERVAL_SECONDS` in
`dagster._daemon.controller`, read at every loop; dagster.yaml has no setting for it). A backfill of our assets
takes three iterations (launch the prices run; launch the consumption run once prices are stored; mark
the backfill done), so a UI backfill of a few days waited 60-90 s for runs of a few seconds each. Polling
every few seconds costs one small query per tick. Nothing else reads that constant (it is also the asset
daemon's default interval, which we do not use).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

from octograph_pipeline.orchestration import compat, dagster_home

BACKFILL_INTERVAL_SECONDS = 3


def run_daemon(args: list[str]) -> None:
    """`dagster-daemon ARGS` with the shorter backfill interval."""
    compat.set_daemon_interval(BACKFILL_INTERVAL_SECONDS)
    compat.run_daemon_cli(args)


def dev(workspace: str, host: str, port: int) -> int:
    """The webserver and the daemon until either stops, Ctrl-C or SIGTERM; then both are stopped."""
    python = sys.executable
    services = [
        subprocess.Popen([python, "-m", "dagster_webserver", "-w", workspace, "-h", host, "-p", str(port)]),
        subprocess.Popen([python, "-m", "octograph_pipeline.daemon", "run", "-w", workspace]),
    ]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        while all(service.poll() is None for service in services):
            time.sleep(0.5)
        return next(service.returncode for service in services if service.poll() is not None)
    except KeyboardInterrupt:
        return 130
    finally:
        for service in services:
            if service.poll() is None:
                service.send_signal(signal.SIGINT)
        for service in services:
            try:
                service.wait(timeout=30)
            except subprocess.TimeoutExpired:
                service.kill()


def prepare_home() -> None:
    """Before Dagster reads it: a new, empty DAGSTER_HOME gets the project's dagster.yaml; events are batched."""
    home = dagster_home.checked_home()
    if home and (prepared := dagster_home.prepare(home)):
        print(f"octograph: {prepared}", file=sys.stderr, flush=True)
    dagster_home.batch_events()  # inherited by the webserver, the daemon and the runs they launch


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        prepare_home()
    except dagster_home.DagsterHomeError as exc:
        print(f"octograph: {exc}", file=sys.stderr)
        return 2
    if argv[:1] != ["dev"]:
        run_daemon(argv)
        return 0
    parser = argparse.ArgumentParser(prog="python -m octograph_pipeline.daemon dev")
    parser.add_argument("-w", "--workspace", required=True)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=3000)
    args = parser.parse_args(argv[1:])
    return dev(args.workspace, args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
