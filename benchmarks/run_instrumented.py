"""One measured process of the performance report, with the timers of `instrument` installed first:

python -m benchmarks.run_instrumented cli ARGS...               # the `octograph` command
python -m benchmarks.run_instrumented floor CONFIG FIRST LAST   # the direct floor, no Dagster
python -m benchmarks.run_instrumented schedule NAME CONFIG      # a schedule's run, as the daemon runs it
"""

import datetime as dt
import sys

from benchmarks import instrument


def schedule_run(name: str, config_file: str) -> int:
    """Evaluates a schedule at today's tick (Dagster's own test API) and executes its run on $DAGSTER_HOME."""
    import dagster as dg

    from octograph_pipeline.config import load_settings
    from octograph_pipeline.definitions import build_definitions

    defs = build_definitions(config_file)
    tz = load_settings(config_file).octopus.tz
    schedule = defs.get_schedule_def(name)
    hour, minute = {"daily_consumption": (9, 0), "agile_prices": (16, 30)}[name]
    tick = dt.datetime.now(tz).replace(hour=hour, minute=minute, second=0, microsecond=0)
    instance = dg.DagsterInstance.get()
    instrument.imports_done()
    request = schedule.evaluate_tick(dg.build_schedule_context(instance, scheduled_execution_time=tick))
    (run_request,) = request.run_requests
    job = defs.resolve_job_def(run_request.job_name or schedule.job_name)
    result = job.execute_in_process(
        instance=instance, partition_key=run_request.partition_key, tags=run_request.tags, raise_on_error=False
    )
    return 0 if result.success else 1


def main(argv: list[str]) -> int:
    mode, args = argv[0], argv[1:]
    instrument.install(dagster=mode != "floor")
    if mode == "floor":
        from benchmarks import floor

        instrument.imports_done()
        first, last = (dt.date.fromisoformat(day) for day in args[1:3])
        print(f"{floor.run(args[0], first, last)} points written")
        return 0
    if mode == "schedule":
        return schedule_run(*args)
    import dagster  # noqa: F401 - the CLI imports it after its argument checks; count it as start-up here

    from octograph_pipeline import cli, definitions  # noqa: F401

    instrument.imports_done()
    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
