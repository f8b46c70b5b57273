"""`make demo` and `make ui`: the real pipeline on a local InfluxDB 1.x and a simulated Octopus account.

    python -m octograph_pipeline.demo run   # materialise the last 7 days through Dagster, print a table
    python -m octograph_pipeline.demo ui    # the same stack in Dagster's UI and daemon (http://127.0.0.1:3000)

State lives under `.local/` (InfluxDB data, DAGSTER_HOME), so `make ui` shows what `make demo` materialised.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from .config import load_settings
from .influx.local import LocalInfluxd
from .influx.store import InfluxV1Store, quote_identifier, window_condition
from .jobs import run_days
from .pricing import local_days_window
from .simulator import OctopusSimulator, serve

REPO = Path(__file__).resolve().parent.parent
LOCAL = REPO / ".local"
INFLUX_PORT = 18086
SIMULATOR_PORT = 18080
DEMO_API_KEY = "sk_test_demo"  # the simulator's key: not a secret, but it still travels by env var
DEMO_KEY_ENV_VAR = "OCTOGRAPH_DEMO_API_KEY"  # not the real key's variable, which may hold a live key
DEMO_ACCOUNT = "A-DEMO0001"
DEMO_DATABASE = "octograph"
DEMO_DAYS = 7
TZ = ZoneInfo("Europe/London")


def demo_config(
    path: Path, influx_url: str, api_prefix: str, database: str = DEMO_DATABASE, start_date: dt.date | None = None
) -> Path:
    """A seed-format INI file for the local stack (InfluxDB 1.x, so api_version = 1)."""
    start_date = start_date or dt.date.today() - dt.timedelta(days=90)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"""# Written by `make demo` / `make ui`: the local InfluxDB 1.x and the Octopus simulator.
[influxdb]
api_version = 1
url = {influx_url}
bucket = {database}
additional_tags = location=Home
included_tags = account_number,meter_serial_number,electricity_mpan,gas_mprn

[octopus]
account_number = {DEMO_ACCOUNT}
api_prefix = {api_prefix}
api_key_env_var = {DEMO_KEY_ENV_VAR}
gas_meter_types = G4P0000000001=SMETS2

[pipeline]
start_date = {start_date.isoformat()}
"""
    )
    return path


@contextmanager
def local_stack(
    local: Path = LOCAL, influx_port: int = INFLUX_PORT, simulator_port: int = SIMULATOR_PORT
) -> Iterator[Path]:
    """Starts InfluxDB and the simulator, yields the demo config path, and stops what it started afterwards."""
    influxd = LocalInfluxd(local / "influxdb", influx_port)
    already_running = influxd.running()
    influxd.start()
    today = dt.datetime.now(TZ).date()
    # The household switched to Agile three days ago, so the demo week shows a tariff change.
    simulator = OctopusSimulator(
        seed=1,
        account_number=DEMO_ACCOUNT,
        api_key=DEMO_API_KEY,
        start_date=today - dt.timedelta(days=120),
        agile_from=today - dt.timedelta(days=3),
    )
    os.environ[DEMO_KEY_ENV_VAR] = DEMO_API_KEY
    dagster_home = local / "dagster_home"
    prepare_dagster_home(dagster_home)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    try:
        with serve(simulator, port=simulator_port) as api_prefix:
            config = demo_config(local / "demo" / "octograph.ini", influxd.url, api_prefix)
            os.environ["OCTOGRAPH_CONFIG"] = str(config)
            InfluxV1Store(influxd.url, DEMO_DATABASE).create_database()
            yield config
    finally:
        if not already_running:
            influxd.stop()


def prepare_dagster_home(home: Path) -> None:
    """DAGSTER_HOME with the repo's dagster.yaml, and the UI's first-visit pop-up already dismissed."""
    (home / ".nux").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    (home / ".nux" / "nux.yaml").write_text("seen: 1\n")


def run(days: int = DEMO_DAYS, **stack) -> int:
    """Materialises the last `days` complete days in one Dagster run and prints what InfluxDB now holds."""
    import dagster as dg

    from .definitions import build_definitions

    with local_stack(**stack) as config:
        last = dt.datetime.now(TZ).date() - dt.timedelta(days=1)
        first = last - dt.timedelta(days=days - 1)
        defs = build_definitions(config)
        print(f"Materialising {first} .. {last} (one run per job) into DAGSTER_HOME={os.environ['DAGSTER_HOME']}")
        result = run_days(
            defs,
            first,
            last,
            instance=dg.DagsterInstance.get(),
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
            raise_on_error=False,
        )
        if not result.success:
            print("The run failed; see the Dagster UI (make ui) for the failed step.", file=sys.stderr)
            return 1
        print(summary_table(config, first, last))
    return 0


def summary_table(config: Path, first: dt.date, last: dt.date) -> str:
    """Per measurement and local day: points, kWh and cost (inc VAT), read back from InfluxDB."""
    settings = load_settings(config)
    store = InfluxV1Store(settings.influxdb.url, settings.influxdb.bucket)
    start, end = local_days_window(first, last, TZ)
    # measurement -> (points counted on, kWh, cost column heading's expression)
    queries = {
        "meter_consumption": ("count(usage_kwh)", "sum(usage_kwh)", None),
        "electricity_consumption": (
            "count(usage_kwh)",
            "sum(usage_kwh)",
            "sum(total_cost_inc_vat_pence) / 100",
        ),
        "gas_consumption": ("count(usage_kwh)", "sum(usage_kwh)", "sum(total_cost_inc_vat_pence) / 100"),
        "electricity_pricing": ("count(unit_price_inc_vat_price)", None, None),
        "gas_pricing": ("count(unit_price_inc_vat_price)", None, None),
    }
    # Usage is net: export meters count negative in electricity_consumption.
    lines = [f"{'measurement':<24} {'day':<10} {'points':>6} {'kWh':>9} {'£ inc VAT':>9}"]
    for measurement, expressions in queries.items():
        select = ", ".join(e for e in expressions if e)
        series = store.query(
            f"SELECT {select} FROM {quote_identifier(measurement)} WHERE {window_condition(start, end, {})} "
            f"GROUP BY time(1d) fill(none) tz('{TZ.key}')"
        )
        for row in series[0]["values"] if series else []:
            day = dt.datetime.fromtimestamp(row[0], TZ).date()
            values = iter(row[1:])
            count = next(values)
            kwh = f"{next(values):.3f}" if expressions[1] else ""
            cost = f"{next(values):.2f}" if expressions[2] else ""
            lines.append(f"{measurement:<24} {day} {count:>6} {kwh:>9} {cost:>9}")
    store.close()
    return "\n".join(lines)


def ui() -> int:
    """Dagster's webserver and daemon on the demo stack until Ctrl-C; everything started here is stopped after."""
    with local_stack():
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "octograph_pipeline.daemon",
                "dev",
                "-w",
                str(REPO / "workspace.yaml"),
                "--host",
                "127.0.0.1",
                "-p",
                os.environ.get("DAGSTER_PORT", "3000"),
            ],
            cwd=os.environ["DAGSTER_HOME"],  # not REPO: its dagster.yaml there would draw a warning
            start_new_session=True,
        )
        signal.signal(signal.SIGTERM, lambda *_: os.killpg(process.pid, signal.SIGINT))
        try:
            return process.wait()
        except KeyboardInterrupt:
            os.killpg(process.pid, signal.SIGINT)
            return process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m octograph_pipeline.demo", description=__doc__)
    parser.add_argument("action", choices=("run", "ui"))
    parser.add_argument("--days", type=int, default=DEMO_DAYS, help="days to materialise (default %(default)s)")
    args = parser.parse_args(argv)
    return run(args.days) if args.action == "run" else ui()


if __name__ == "__main__":
    sys.exit(main())
