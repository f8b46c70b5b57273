"""`python -m octograph_pipeline.simulator`: run the fake Octopus API for the demo or benchmarks."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import date

from octograph_pipeline.simulator.app import OctopusSimulator
from octograph_pipeline.simulator.server import serve

DEMO_API_KEY = "sk_test_demo"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="octopus-simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18080, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--account-number", default="A-DEMO0001")
    parser.add_argument("--api-key", default=None, help=f"accepted API key (default {DEMO_API_KEY})")
    parser.add_argument("--timezone", default="Europe/London")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every request")
    parser.add_argument("--error-rate", type=float, default=0.0, help="fraction of requests answered 500")
    parser.add_argument("--burst-429", type=int, default=0, help="throttle the first N requests")
    parser.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds for throttled requests")
    parser.add_argument("--start-date", type=date.fromisoformat, default=date(2024, 1, 1))
    parser.add_argument("--agile-from", type=date.fromisoformat, default=date(2025, 1, 1))
    return parser


def main(argv: list[str] | None = None) -> None:
    """Serve until Ctrl-C or SIGTERM."""
    args = _parser().parse_args(argv)
    sim = OctopusSimulator(
        seed=args.seed,
        account_number=args.account_number,
        api_key=args.api_key or DEMO_API_KEY,
        start_date=args.start_date,
        agile_from=args.agile_from,
        timezone=args.timezone,
        latency=args.latency_ms / 1000,
        error_rate=args.error_rate,
        burst_429=args.burst_429,
        retry_after=args.retry_after,
    )
    key_source = "--api-key" if args.api_key else "the built-in demo default"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # leave the `with` cleanly
    try:
        with serve(sim, args.host, args.port) as url:
            print(
                f"Octopus simulator on {url} (account {sim.household.account_number}, key from {key_source})",
                flush=True,
            )
            threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
