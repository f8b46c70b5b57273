"""`make demo` and `make ui`: the real pipeline on a local InfluxDB 1.x and a simulated Octopus account.

    python -m octograph_pipeline.dev.demo run   # materialise the last 7 days through Dagster, print a table
    python -m octograph_pipeline.dev.demo ui    # the same stack in Dagster's UI and daemon (http://127.0.0.1:3000)

State lives under `.local/` (InfluxDB data, DAGSTER_HOME), so `make ui` shows what `make demo` materialised.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from octograph_pipeline.clients.influx import InfluxV1Store, open_store
from octograph_pipeline.config import load_settings
from octograph_pipeline.core import days, schema
from octograph_pipeline.dev.influxd import LocalInfluxd
from octograph_pipeline.dev.simulator import OctopusSimulator, serve
from octograph_pipeline.orchestration.runs import run_days

REPO = Path(__file__).resolve().parents[2]
LOCAL = REPO / ".local"
INFLUX_PORT = 18086
SIMULATOR_PORT = 18080
DEMO_API_KEY = "sk_test_demo"  # the simulator's key: not a secret, but it still travels by env var
DEMO_KEY_ENV_VAR = "OCTOGRAPH_DEMO_API_KEY"  # not the real key's variable, which may hold a live key
DEMO_ACCOUNT = "A-DEMO0001"
DEMO_DATABASE = "octograph"
DEMO_DAYS = 7
TZ = ZoneInfo("Europe/London")


# What the demo household (flexible then Agile import, fixed export, flexible gas) is compared with.
COMPARISON = """products = AGILE-24-10-01, GO-VAR-22-10-14, SILVER-24-12-31
export_products = AGILE-OUTGOING-19-05-13
gas_products = SILVER-24-12-31"""


def demo_config(
    path: Path,
    influx_url: str,
    api_prefix: str,
    database: str = DEMO_DATABASE,
    start_date: dt.date | None = None,
    comparison: bool = True,
    gas_meter_types: bool = True,
    carbon: bool = True,
) -> Path:
    """A seed-format INI file for the local stack (InfluxDB 1.x, so api_version = 1), comparing tariffs unless
    `comparison` is False, and counting carbon (from the simulator's copy of that API) unless `carbon` is False;
    without `gas_meter_types`, the gas units come from Kraken, as by default."""
    start_date = start_date or days.today(TZ) - dt.timedelta(days=90)
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
{"gas_meter_types = G4P0000000001=SMETS2" if gas_meter_types else ""}

[pipeline]
start_date = {start_date.isoformat()}
# Short retries, so a failure rehearsed with the simulator's fault switch shows within seconds.
retries = 1
retry_delay_seconds = 5
api_retries = 2

[comparison]
{COMPARISON if comparison else ""}

[carbon]
enabled = {"true" if carbon else "false"}
api_prefix = {api_prefix.removesuffix("/v1")}/carbon
"""
    )
    return path


class StackBusy(RuntimeError):
    """Something else holds a port or the `.local` stack; the message says what to stop."""


def port_owner(port: int) -> str:
    """Who listens on `port` on this machine, as `ss` reports it (a name and pid), or 'another process'."""
    try:
        listing = subprocess.run(
            ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        listing = ""
    found = re.search(r'users:\(\("([^"]+)",pid=(\d+)', listing)
    return f"{found[1]} (pid {found[2]})" if found else "another process"


def require_free(port: int, what: str, variable: str) -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise StackBusy(
                f"port {port} ({what}) is in use by {port_owner(port)}: stop it, or set {variable} to a free port"
            )


@contextmanager
def claim(local: Path, command: str) -> Iterator[None]:
    """One `make demo`/`make ui` at a time on `.local` (they share its InfluxDB, simulator and config)."""
    lock = local / "stack.lock"
    if lock.exists():
        pid, _, other = lock.read_text().partition(" ")
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), 0)
            raise StackBusy(
                f"`{other}` (pid {pid}) is using the demo stack: stop it first (Ctrl-C in its terminal)"
            )
    local.mkdir(parents=True, exist_ok=True)
    lock.write_text(f"{os.getpid()} {command}")
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


@contextmanager
def local_stack(
    local: Path | None = None, influx_port: int | None = None, simulator_port: int | None = None
) -> Iterator[tuple[Path, str]]:
    """Starts InfluxDB and the simulator, yields the demo config path and the simulator's address, and stops
    what it started afterwards. Ports come from OCTOGRAPH_DEMO_INFLUX_PORT / OCTOGRAPH_DEMO_SIMULATOR_PORT."""
    local = local or LOCAL
    influx_port = influx_port or int(os.environ.get("OCTOGRAPH_DEMO_INFLUX_PORT", INFLUX_PORT))
    simulator_port = simulator_port or int(os.environ.get("OCTOGRAPH_DEMO_SIMULATOR_PORT", SIMULATOR_PORT))
    influxd = LocalInfluxd(local / "influxdb", influx_port)
    already_running = influxd.running()
    if not already_running:
        require_free(influx_port, "the demo's InfluxDB", "OCTOGRAPH_DEMO_INFLUX_PORT")
    require_free(simulator_port, "the simulated Octopus API", "OCTOGRAPH_DEMO_SIMULATOR_PORT")
    influxd.start()
    today = days.today(TZ)
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
            yield config, api_prefix
    finally:
        if not already_running:
            influxd.stop()


def prepare_dagster_home(home: Path) -> None:
    """DAGSTER_HOME with the repo's dagster.yaml, and the UI's first-visit pop-up already dismissed."""
    (home / ".nux").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    (home / ".nux" / "nux.yaml").write_text("seen: 1\n")


def run(day_count: int = DEMO_DAYS, **stack) -> int:
    """Materialises the last `day_count` complete days in one Dagster run and prints what InfluxDB now holds."""
    import dagster as dg

    from octograph_pipeline.definitions import build_definitions

    with claim(stack.get("local") or LOCAL, "make demo"), local_stack(**stack) as (config, _):
        last = days.today(TZ) - dt.timedelta(days=1)
        first = last - dt.timedelta(days=day_count - 1)
        defs = build_definitions(config)
        print(f"Materialising {first} .. {last} (one run per job) into DAGSTER_HOME={os.environ['DAGSTER_HOME']}")
        result = run_days(
            defs,
            first,
            last,
            instance=dg.DagsterInstance.get(),
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},  # warnings only
            raise_on_error=False,
        )
        if not result.success:
            print("The run failed; see the Dagster UI (make ui) for the failed step.", file=sys.stderr)
            return 1
        print(summary_table(config, first, last))
        print()
        print(comparison_table(config, first, last))
        print()
        print(emissions_table(config, first, last))
    return 0


# What the demo's table shows per measurement: the field its points are counted on, whether it holds energy
# (kWh of import, export and gas, apart) and whether it holds costs (pence, shown as £ inc VAT).
USAGE, COST, UNIT_PRICE = schema.USAGE_KWH, schema.TOTAL_COST["inc"], schema.UNIT_PRICE["inc"]
SUMMARY = {
    schema.METER_CONSUMPTION: (USAGE, True, False),
    schema.ELECTRICITY_CONSUMPTION: (USAGE, True, True),
    schema.GAS_CONSUMPTION: (USAGE, True, True),
    schema.ELECTRICITY_PRICING: (UNIT_PRICE, False, False),
    schema.GAS_PRICING: (UNIT_PRICE, False, False),
}


def summary_table(config: Path, first: dt.date, last: dt.date) -> str:
    """Per measurement and local day: points, kWh of electricity import, export and gas apart, and the cost in £
    inc VAT (to 2 places; InfluxDB holds pence), read back from InfluxDB."""
    settings = load_settings(config)
    start, end = days.window(first, last, TZ)
    heading = ["points", "import kWh", "export kWh", "gas kWh", "£ inc VAT"]
    lines = [f"{'measurement':<24} {'day':<10} " + " ".join(f"{h:>10}" for h in heading)]
    with open_store(settings.influxdb) as store:
        for measurement, (counted, energy, cost) in SUMMARY.items():
            totals = store.daily_totals(measurement, counted, COST if cost else counted, start, end, TZ)
            totals = totals.set_index("day")
            kwh = store.daily_energy(measurement, start, end, TZ, {}) if energy else None
            for day, row in totals.iterrows():
                cells = [f"{int(row['points'])}"]
                cells += [f"{kwh.at[day, kind]:.3f}" if kwh is not None else "" for kind in schema.ENERGY]
                cells.append(f"{row['total'] / 100:.2f}" if cost else "")  # pence -> £
                lines.append(f"{measurement.name:<24} {day} " + " ".join(f"{c:>10}" for c in cells))
    return "\n".join(lines)


def meter_label(fuel: str, meter_point: str, exported: str) -> str:
    """How the demo's tables name a meter point: its fuel, or `export`, and its MPAN/MPRN (`exported` is the tag
    as stored, "true" or "false")."""
    return f"{'export' if exported == 'true' else fuel} {meter_point}"


def comparison_table(config: Path, first: dt.date, last: dt.date) -> str:
    """What each meter point's half-hours cost on its actual tariffs and on each [comparison] product."""
    settings = load_settings(config)
    start, end = days.window(first, last, TZ)
    point = [schema.FUEL, schema.METER_POINT, schema.IS_EXPORT]
    total, saving = schema.TOTAL_COST["inc"], schema.SAVING["inc"]
    with open_store(settings.influxdb) as store:
        totals = store.totals(
            schema.TARIFF_COMPARISON, [total, saving], start, end, settings.influxdb.additional_tags,
            [*point, schema.PRODUCT_CODE],
        )  # fmt: skip
    lines = [
        f"What the same half-hours would have cost, {first} .. {last} (£ inc VAT; saving = actual - product):",
        f"{'meter point':<26} {'product':<26} {'£ total':>9} {'£ saving':>9}",
    ]
    totals["actual_first"] = totals[schema.PRODUCT_CODE] != schema.ACTUAL
    for row in totals.sort_values([*point, "actual_first", total]).itertuples(index=False):
        fuel, meter_point, exported, product = row[:4]
        meter = meter_label(fuel, meter_point, exported)
        saving_text = "" if product == schema.ACTUAL else f"{row[5] / 100:9.2f}"
        lines.append(f"{meter:<26} {product:<26} {row[4] / 100:9.2f} {saving_text:>9}")
    return "\n".join(lines)


def emissions_table(config: Path, first: dt.date, last: dt.date) -> str:
    """Each meter point's kWh, cost (£ inc VAT) and kg CO2 over the days: emitted by import and gas, avoided by
    export (negative, as its cost is)."""
    settings = load_settings(config)
    start, end = days.window(first, last, TZ)
    tags = settings.influxdb.additional_tags
    total = schema.TOTAL_COST["inc"]
    with open_store(settings.influxdb) as store:
        emitted = store.totals(
            schema.EMISSIONS, [schema.USAGE_KWH, schema.EMISSIONS_G], start, end, tags,
            [schema.FUEL, schema.METER_POINT, schema.IS_EXPORT],
        )  # fmt: skip
        # The seed's measurements name the meter point only in the included tag of its fuel (the demo's config
        # includes both).
        costs = {
            row[0]: row[1]
            for fuel, tag in schema.METER_POINT_TAGS.items()
            for row in store.totals(schema.CONSUMPTION_BY_FUEL[fuel], [total], start, end, tags, [tag]).itertuples(
                index=False
            )
        }
    lines = [
        f"Each meter point, {first} .. {last} (kg CO2: emitted by import and gas, avoided by export):",
        f"{'meter point':<26} {'kWh':>10} {'£ inc VAT':>10} {'kg CO2':>10}",
    ]
    for row in emitted.sort_values([schema.FUEL, schema.IS_EXPORT, schema.METER_POINT]).itertuples(index=False):
        fuel, meter_point, exported, kwh, grams = row
        meter = meter_label(fuel, meter_point, exported)
        cost = costs.get(meter_point)
        cost_text = "" if cost is None else f"{cost / 100:.2f}"
        lines.append(f"{meter:<26} {kwh:>10.3f} {cost_text:>10} {grams / 1000:>10.3f}")
    return "\n".join(lines)


def ui() -> int:
    """Dagster's webserver and daemon on the demo stack until Ctrl-C; everything started here is stopped after."""
    port = int(os.environ.get("DAGSTER_PORT", "3000"))
    with claim(LOCAL, "make ui"):
        require_free(port, "the Dagster UI", "DAGSTER_PORT")
        with local_stack() as (_, api_prefix):
            print(rehearsal_help(port, api_prefix.removesuffix("/v1")), flush=True)
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "octograph_pipeline.daemon",
                    "dev",
                    "-w",
                    str(REPO / "workspace.yaml"),
                ]
                + ["--host", "127.0.0.1", "-p", str(port)],
                cwd=os.environ["DAGSTER_HOME"],  # not REPO: its dagster.yaml there would draw a warning
                start_new_session=True,
            )
            signal.signal(signal.SIGTERM, lambda *_: os.killpg(process.pid, signal.SIGINT))
            try:
                return process.wait()
            except KeyboardInterrupt:
                os.killpg(process.pid, signal.SIGINT)
                return process.wait()


def rehearsal_help(port: int, simulator: str) -> str:
    day = (days.today(TZ) - dt.timedelta(days=2)).isoformat()
    return f"""Dagster UI: http://127.0.0.1:{port}   simulated Octopus API: {simulator}/v1
To rehearse a failed day, make the API fail for it, backfill, then lift the fault and re-execute:
  curl -X POST {simulator}/_simulator/faults -d '{{"fail_days": ["{day}"]}}'
  curl -X POST {simulator}/_simulator/faults -d '{{"fail_days": []}}'
Corrected readings (a re-run day changes), and a flaky API (a share of requests answer 500), and back:
  curl -X POST {simulator}/_simulator/faults -d '{{"reading_scale": 1.5}}'
  curl -X POST {simulator}/_simulator/faults -d '{{"error_rate": 0.2}}'
  curl -X POST {simulator}/_simulator/faults -d '{{"reading_scale": 1.0, "error_rate": 0.0}}'
A half-hour the Carbon Intensity API has no figure for (that day's emissions check fails), and back:
  curl -X POST {simulator}/_simulator/faults -d '{{"carbon_missing": ["{day}T12:00Z"]}}'
  curl -X POST {simulator}/_simulator/faults -d '{{"carbon_missing": []}}'
What is set now:
  curl {simulator}/_simulator/faults"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m octograph_pipeline.dev.demo", description=__doc__)
    parser.add_argument("action", choices=("run", "ui"))
    parser.add_argument("--days", type=int, default=DEMO_DAYS, help="days to materialise (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        return run(args.days) if args.action == "run" else ui()
    except StackBusy as exc:
        print(f"{parser.prog} {args.action}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
