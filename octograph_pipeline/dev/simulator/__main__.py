"""`python -m octograph_pipeline.dev.simulator`: run the fake Octopus API for the demo or benchmarks."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import date

from octograph_pipeline.dev.simulator.app import OctopusSimulator
from octograph_pipeline.dev.simulator.household import (
    SCENARIOS,
    Household,
    all_scenarios,
    generated_households,
)
from octograph_pipeline.dev.simulator.server import serve

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
    parser.add_argument(
        "--scenarios",
        default=None,
        help=f"serve these households instead of the default one: 'all' or a comma list of {', '.join(SCENARIOS)}"
        " (then --account-number and --agile-from are ignored)",
    )
    parser.add_argument(
        "--households",
        type=int,
        default=None,
        metavar="N",
        help="serve N generated households (accounts A-GEN00001.., each with its own key "
        "sk_test_household_00001.., region and tariff: Agile, Economy 7, fixed, Intelligent in turn); the shared "
        "key works for all",
    )
    return parser


def scenario_households(spec: str, seed: int, timezone: str) -> list[Household]:
    """`all` or comma-separated SCENARIOS names, in the order given; ValueError for unknown names."""
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if names == ["all"]:
        return all_scenarios(seed, timezone)
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown or not names:
        raise ValueError(
            f"unknown scenario(s) {', '.join(unknown) or spec!r}; choose 'all' or from {', '.join(SCENARIOS)}"
        )
    return [SCENARIOS[name](seed=seed, timezone=timezone) for name in dict.fromkeys(names)]


def main(argv: list[str] | None = None) -> None:
    """Serve until Ctrl-C or SIGTERM."""
    parser = _parser()
    args = parser.parse_args(argv)
    households = None
    if args.households is not None and args.scenarios is not None:
        parser.error("--households and --scenarios: choose one")
    if args.households is not None:
        if not 1 <= args.households <= 10000:
            parser.error(f"--households {args.households}: choose 1 to 10000")
        households = generated_households(args.households, args.seed, args.timezone)
    if args.scenarios is not None:
        try:
            households = scenario_households(args.scenarios, args.seed, args.timezone)
        except ValueError as error:
            parser.error(str(error))
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
        households=households,
    )
    key_source = "--api-key" if args.api_key else "the built-in demo default"
    accounts = ", ".join(household.account_number for household in sim.households[:3])
    if len(sim.households) > 3:
        accounts += f" .. {sim.households[-1].account_number}: {len(sim.households)} households"
    own_keys = [household.api_key for household in sim.households if household.api_key]
    if own_keys:
        key_source += f", or each household's own: {own_keys[0]} .. {own_keys[-1]}"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # leave the `with` cleanly
    try:
        with serve(sim, args.host, args.port) as url:
            print(
                f"Octopus simulator on {url} (account {accounts}; key from {key_source})",
                flush=True,
            )
            threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
