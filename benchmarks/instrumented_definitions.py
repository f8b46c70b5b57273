"""The code location `make bench` serves to the Dagster daemon: ours, with the benchmark's timers installed in
every process that loads it (the run workers above all)."""

from benchmarks import instrument

instrument.install(dagster=True)

from octograph_pipeline.definitions import defs  # noqa: E402

__all__ = ["defs"]
